// CacheInvalidator: drops the kernel's cached pages and attributes of a file whose data our
// page cache changed behind the kernel's back (the `revert` policy after a failed writeback).
// The kernel keeps in its own page cache the pages write() passed through it; without this,
// descriptions already open would keep reading data that errseqfs no longer holds.
//
// The invalidation (FUSE_NOTIFY_INVAL_INODE) locks the file's pages in the kernel, so it runs
// on its own thread: a writeback thread that recorded the error must not wait for a page that
// a write() holds while its request waits for that very writeback. An FSYNC handler waits
// (bounded) for the invalidations queued so far, so that whoever was told of the error reads
// the reverted data afterwards.
//
// Thread-safety: `mu_` guards the queue and the counters.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

struct fuse_session;

namespace errseq::fuse {

class CacheInvalidator {
 public:
  // `mountpoint` (absolute; mounted by `se` now) names the connection to abort through fusectl
  // if the thread cannot finish at shutdown. Its fusectl directory is opened here, while the
  // mount is surely ours: at shutdown the mount point may hold another file system, and a
  // connection number may have gone to another connection.
  CacheInvalidator(fuse_session* se, std::string mountpoint);
  ~CacheInvalidator();

  // Queues `ino` (a FUSE node id). Never blocks.
  void Queue(uint64_t ino);
  // Waits, at most `max`, until everything queued so far was handed to the kernel.
  void WaitDone(std::chrono::milliseconds max);
  // Call once the FUSE loop has ended, before the session is destroyed. If the thread is held
  // in the kernel by a request nobody will answer any more, aborts the connection to free it.
  void Stop();

 private:
  void Main();

  fuse_session* const se_;
  const std::string mountpoint_;
  int conn_dir_ = -1;  // /sys/fs/fuse/connections/N of this connection (O_PATH), or -1
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<uint64_t> queue_;  // GUARDED_BY(mu_)
  uint64_t queued_ = 0, done_ = 0;  // GUARDED_BY(mu_)
  bool stop_ = false, finished_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace errseq::fuse

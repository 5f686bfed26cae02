// ControlServer: the control socket of a mounted errseqfs. A unix socket (mode 0600) speaking
// JSON lines: one request object a line, one reply object a line, sent only when the command
// is done. Commands (field "cmd"):
//   fail {op: read|write|all, what: data|device, path, errno}   arm a fault (newest rule first)
//   heal                          remove every fault
//   load {text}                   replace the fault table atomically (the text format)
//   show                          the fault table and each rule's hits
//   stats                         writeback figures, errors recorded and reported
//   events {after, max, wait_ms}  ledger events after a sequence number
//   sync                          sync(2) on this file system
//   syncfs {path}                 syncfs through a fresh description of path
//   evict {path}                  drop path's in-core inode (pinned if it holds an unseen error)
//   crash                         lose everything not written back, then unmount
// Replies: {"ok": true, ...} or {"ok": false, "error": "message"}. A bad request gets an error
// reply; the server and the mount are unaffected.
// Thread-safety: one thread accepts, one thread serves each connection; `mu_` guards the rule
// list that `fail` and `heal` edit.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errseq/block/fault_injector.h"
#include "errseq/vfs/super_block.h"

namespace errseq::ctl {

class ControlServer {
 public:
  struct Hooks {
    std::function<void()> crash;  // lose unwritten data and end the mount
    // Whether syncfs on the mount reports super-block errors (errseqfs's syncfs mirror).
    std::function<bool()> syncfs_mirror;
    // Bytes of reads answered from ranges of the source's files (errseqfs's splice_reads).
    std::function<uint64_t()> spliced_read_bytes;
    // How FUSE requests arrive ("io_uring" or "/dev/fuse") and how many came over io_uring.
    std::function<std::string()> fuse_transport;
    std::function<uint64_t()> io_uring_requests;
  };

  ControlServer(vfs::SuperBlock& sb, std::shared_ptr<block::FaultInjector> faults,
                std::string mountpoint, Hooks hooks);
  ~ControlServer();

  // Binds `socket_path` (replacing a stale socket, refusing a live one) with mode 0600.
  Status Start(const std::string& socket_path);
  void Stop();

  // One request line in, one reply line out (also used by tests without a socket).
  std::string Handle(const std::string& line);

  // The default socket: $XDG_RUNTIME_DIR/errseqfs/<mountpoint-hash>.sock, else
  // /run/errseq/<hash>.sock.
  static std::string DefaultSocket(const std::string& mountpoint);

 private:
  void AcceptLoop();
  void Serve(int fd);
  std::string RelativePath(const std::string& path) const;

  vfs::SuperBlock& sb_;
  const std::shared_ptr<block::FaultInjector> faults_;
  const std::string mountpoint_;
  const Hooks hooks_;
  std::string socket_path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<block::FaultRule> rules_;  // GUARDED_BY(mu_)
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;  // GUARDED_BY(mu_); finished ones are joined at the next accept
};

}  // namespace errseq::ctl

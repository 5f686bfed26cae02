// SyncfsMirror: makes syncfs(2) on an errseqfs mount behave as SEMANTICS.md §3 says, although
// the kernel never forwards syncfs to an ordinary FUSE server (SEMANTICS.md §9).
//
// How: the server keeps one hidden file open through a private clone of the mount (so that
// `fusermount3 -u` is not refused with EBUSY), with its one page mapped MAP_SHARED and locked.
// To hand errors over, the mirror thread dirties the page and msyncs it; the WRITE fails with
// the errno of the super-block errors recorded since the last one (the latest errno wins, as
// errseq_set does). The kernel records that failure with its own mapping_set_error, which
// feeds the mount's super-block errseq: from then on the kernel's syncfs reports it once per
// open file description, exactly by the errseq rules.
// The page is dirty only while an error is handed over, and the file is opened without FLUSH
// (FOPEN_NOFLUSH). Otherwise a SIGKILLed server cannot die: while dying it writes back its
// shared mappings and flushes its open files before its /dev/fuse is released, and would wait
// for answers only it could give.
// So syncfs on the mount does not reach this server at all: it writes nothing back; it
// reports what was recorded before it (the kernel would not wait for a FUSE writeback in
// syncfs anyway: measured on 6.18, syncfs returned in 0.3 ms while a WRITE it caused took 2 s).
// Each recorded error is handed to the kernel once, so it is never reported twice. A FSYNC
// handler whose call recorded an error waits (bounded) until it is handed over, so a syncfs
// made after that fsync returned reports it.
// Profiles: errseq is exact. errseq-4.13 differs in one case, because the kernel samples
// f_sb_err the mainline way: a description opened after an unseen super-block error is told
// of it at syncfs. sticky: syncfs reports each error once per description (errseq rules), not
// at every call. legacy: nothing is handed over (syncfs before 4.13 reported no writeback
// error; the fs's own sync failure it did report cannot reach a syncfs that does not wait).
//
// The hidden file answers LOOKUP only for the mirror thread and is never listed by readdir.
// When the visible mount disappears (fusermount3 -u, umount -l), the thread notices through
// /proc/self/mountinfo and lets go of the file and the clone, and the FUSE session ends.
// Needs CAP_SYS_ADMIN (open_tree); without it the mirror stays off with a warning and syncfs
// on the mount reports nothing, as on any FUSE file system.
//
// Thread-safety: `mu_` guards the pending error and the thread's wake-up requests; the
// handlers' entry points may be called from any FUSE worker thread and never wait for the
// mirror thread (a handler waiting for it can deadlock against the kernel's locks).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "errseq/core/status.h"
#include "errseq/vfs/super_block.h"

namespace errseq::fuse {

class SyncfsMirror {
 public:
  // The hidden file's FUSE inode number: outside any host inode number we pass on (those are
  // below 2^63 on every Linux file system we serve).
  static constexpr uint64_t kIno = 0x7fff'ffff'ffff'fe5bULL;
  static constexpr size_t kSize = 4096;  // one page

  // `mountpoint` must be absolute (the server may chdir when it daemonizes).
  SyncfsMirror(vfs::SuperBlock& sb, std::string mountpoint);
  ~SyncfsMirror();

  // Starts the mirror thread. Its first steps are FUSE requests to this server, so the
  // session must be mounted; they are answered once the loop runs.
  void Start();
  // Lets go of the hidden file and joins the thread. Call after the FUSE loop has ended and
  // the session was destroyed (the connection is then aborted, so nothing can block).
  void Stop();

  // A super-block error was recorded (MountOptions::on_error). Never blocks.
  void Record(int err);

  // FUSE handler hooks.
  bool IsHidden(const char* name, pid_t requester) const;
  struct stat Attr() const;
  // A WRITE to the hidden file: returns 0, or the negative errno to fail it with. `*token`
  // goes to AfterWrite.
  int OnWrite(uint64_t* token);
  // After the WRITE was answered (the kernel has recorded its error by then): wakes waiters.
  void AfterWrite(uint64_t token);
  // Waits, at most `max`, until every error recorded so far is in the kernel's errseqs.
  // Returns at once when nothing is pending or the mirror is off.
  void WaitHandedOver(std::chrono::milliseconds max);

  // Whether the hidden file is open and mapped (for tests and `errseqctl show`).
  bool active() const { return active_.load(std::memory_order_acquire); }

 private:
  void Main();
  Status Open();
  void Close();
  void Wake();

  vfs::SuperBlock& sb_;
  const std::string mountpoint_;
  const std::string name_;
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> active_{false};
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // eventfd: wakes the thread (Record, Stop)
  int tree_fd_ = -1, file_fd_ = -1, mountinfo_fd_ = -1;  // owned by the thread
  void* map_ = nullptr;
  uint64_t mnt_id_ = 0;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable handed_cv_;  // handed_ grew, or the mirror stopped
  int pending_err_ = 0;     // GUARDED_BY(mu_): latest errno recorded and not yet handed over
  bool push_ = false;       // GUARDED_BY(mu_): the page must carry pending_err_
  uint64_t recorded_ = 0;   // GUARDED_BY(mu_): errors recorded
  uint64_t handed_ = 0;     // GUARDED_BY(mu_): errors recorded before the last answered WRITE
};

}  // namespace errseq::fuse

// SyncedWrites: which FSYNC requests only complete an O_SYNC / O_DSYNC write that the server
// has synced already. Why: with the kernel's writeback cache off, a write through a description
// that is not direct_io reaches the server as a WRITE carrying O_DSYNC (or O_SYNC), and the
// kernel then syncs it with an FSYNC that carries no range (generic_write_sync, fuse_fsync). A
// server that syncs at that FSYNC writes back the whole file, where Linux writes back the
// write's range: another description's dirty pages are written (and fail) too early. So the
// WRITE handler syncs the write's range itself and notes (handle, thread); the FSYNC that
// thread sends on that handle right after finds the note and has nothing left to do.
//
// A note never outlives what it stands for, because a stale one would make a real fsync skip
// its writeback and answer 0: it is taken by the first FSYNC of its thread on its handle, lasts
// at most `max_age`, goes with the handle's RELEASE, and is never taken for a file whose
// shared-mapping writeback the server failed (the kernel keeps that error in its own mapping
// and then fails the write's sync itself, without an FSYNC; a note would be left behind).
// Requests carry the calling thread's id, so two threads of one process never share a note.
//
// Thread-safety: every member may be called from any thread; `mu_` guards everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace errseq::fuse {

class SyncedWrites {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SyncedWrites(Clock::duration max_age = std::chrono::seconds(1)) : max_age_(max_age) {}

  // The WRITE of thread `tid` on handle `fh` (file `ino`) was written and its range synced.
  void Synced(uint64_t fh, uint32_t tid, uint64_t ino, Clock::time_point now = Clock::now());
  // Whether the FSYNC of thread `tid` on `fh` (file `ino`) completes such a write; the note is
  // taken either way.
  bool TakeFollowUp(uint64_t fh, uint32_t tid, uint64_t ino, Clock::time_point now = Clock::now());
  // The server failed a writeback WRITE of a shared mapping's page of `ino`: no note is taken
  // for that file from now on.
  void KernelHoldsError(uint64_t ino);
  // The handle was released: its notes go (its number may be given to the next open).
  void Forget(uint64_t fh);
  size_t size() const;

 private:
  const Clock::duration max_age_;
  mutable std::mutex mu_;
  std::map<std::pair<uint64_t, uint32_t>, Clock::time_point> notes_;  // GUARDED_BY(mu_)
  std::set<uint64_t> kernel_errors_;                                  // GUARDED_BY(mu_)
};

}  // namespace errseq::fuse

// SyncedWrites: the O_SYNC / O_DSYNC writes whose sync is still to come. Why: with the
// kernel's writeback cache off, a write through a description that is not direct_io reaches
// the server as one or more WRITEs carrying O_DSYNC (or O_SYNC), and the kernel then syncs it
// with an FSYNC that carries no range (generic_write_sync, fuse_fsync). A server that syncs
// the whole file at that FSYNC writes back other descriptions' dirty pages too early (and
// fails on them); one that syncs each WRITE stops a write at its first piece whose sync fails,
// where Linux has copied the whole write into the page cache first. So each WRITE notes its
// range under (handle, thread), and the FSYNC that thread sends on that handle right after
// syncs the noted range only: the write's range, as on Linux.
//
// A note must not outlive its write: a real fsync that took one would sync only that range
// and leave the rest of the file unwritten. So a note is taken by the first FSYNC of its
// thread on its handle, lasts at most `max_age`, goes with the handle's RELEASE, and is never
// taken for a file whose shared-mapping writeback the server failed (the kernel keeps that
// error in its own mapping and then fails the write's sync itself, without an FSYNC).
// Requests carry the calling thread's id, so two threads of one process never share a note.
//
// Thread-safety: every member may be called from any thread; `mu_` guards everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

namespace errseq::fuse {

class SyncedWrites {
 public:
  using Clock = std::chrono::steady_clock;
  // What the FSYNC after a write has to sync: bytes [start, end) and the write's flags.
  struct Range {
    uint64_t start = 0, end = 0;
    int sync_flags = 0;  // O_DSYNC, or O_SYNC
  };
  explicit SyncedWrites(Clock::duration max_age = std::chrono::seconds(1)) : max_age_(max_age) {}

  // A WRITE of thread `tid` on handle `fh` (file `ino`) wrote `len` bytes at `offset` with
  // `sync_flags`. The WRITEs of one write call (the kernel splits it) share a note.
  void Wrote(uint64_t fh, uint32_t tid, uint64_t ino, uint64_t offset, uint64_t len,
             int sync_flags, Clock::time_point now = Clock::now());
  // The range an FSYNC of thread `tid` on `fh` (file `ino`) has to sync when it completes such
  // a write; nullopt: it is an fsync of its own. The note is taken either way.
  std::optional<Range> TakeFollowUp(uint64_t fh, uint32_t tid, uint64_t ino,
                                    Clock::time_point now = Clock::now());
  // The server failed a writeback WRITE of a shared mapping's page of `ino`: no note is taken
  // for that file from now on.
  void KernelHoldsError(uint64_t ino);
  // The handle was released: its notes go (its number may be given to the next open).
  void Forget(uint64_t fh);
  size_t size() const;

 private:
  struct Note {
    Range range;
    Clock::time_point at;
  };
  const Clock::duration max_age_;
  mutable std::mutex mu_;
  std::map<std::pair<uint64_t, uint32_t>, Note> notes_;  // GUARDED_BY(mu_)
  std::set<uint64_t> kernel_errors_;                     // GUARDED_BY(mu_)
};

}  // namespace errseq::fuse

// SyncedWrites (see include/errseq/fuse/synced_writes.h).
#include "errseq/fuse/synced_writes.h"

#include <algorithm>
#include <cstdint>

namespace errseq::fuse {

void SyncedWrites::Wrote(uint64_t fh, uint32_t tid, uint64_t ino, uint64_t offset, uint64_t len,
                         int sync_flags, Clock::time_point now) {
  if (len == 0) return;
  std::lock_guard lock(mu_);
  if (kernel_errors_.count(ino)) return;
  // Notes whose FSYNC never came (the write's caller was killed) go once they are old.
  std::erase_if(notes_, [&](const auto& n) { return now - n.second.at > max_age_; });
  const uint64_t end = len > UINT64_MAX - offset ? UINT64_MAX : offset + len;
  auto [it, added] = notes_.try_emplace({fh, tid}, Note{{offset, end, sync_flags}, now});
  if (!added) {  // another piece of the same write
    Range& r = it->second.range;
    r.start = std::min(r.start, offset);
    r.end = std::max(r.end, end);
    r.sync_flags |= sync_flags;
    it->second.at = now;
  }
}

std::optional<SyncedWrites::Range> SyncedWrites::TakeFollowUp(uint64_t fh, uint32_t tid,
                                                              uint64_t ino, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = notes_.find({fh, tid});
  if (it == notes_.end()) return std::nullopt;
  const Note note = it->second;
  notes_.erase(it);
  if (now - note.at > max_age_ || kernel_errors_.count(ino)) return std::nullopt;
  return note.range;
}

void SyncedWrites::KernelHoldsError(uint64_t ino) {
  std::lock_guard lock(mu_);
  kernel_errors_.insert(ino);
}

void SyncedWrites::Forget(uint64_t fh) {
  std::lock_guard lock(mu_);
  std::erase_if(notes_, [&](const auto& n) { return n.first.first == fh; });
}

size_t SyncedWrites::size() const {
  std::lock_guard lock(mu_);
  return notes_.size();
}

}  // namespace errseq::fuse

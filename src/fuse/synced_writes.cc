// SyncedWrites (see include/errseq/fuse/synced_writes.h).
#include "errseq/fuse/synced_writes.h"

namespace errseq::fuse {

void SyncedWrites::Synced(uint64_t fh, uint32_t tid, uint64_t ino, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (kernel_errors_.count(ino)) return;
  notes_[{fh, tid}] = now;
  // Notes whose FSYNC never came (the write's caller was killed) go once they are old.
  std::erase_if(notes_, [&](const auto& n) { return now - n.second > max_age_; });
}

bool SyncedWrites::TakeFollowUp(uint64_t fh, uint32_t tid, uint64_t ino, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = notes_.find({fh, tid});
  if (it == notes_.end()) return false;
  const bool fresh = now - it->second <= max_age_;
  notes_.erase(it);
  return fresh && !kernel_errors_.count(ino);
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

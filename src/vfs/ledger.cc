// The event ledger (see include/errseq/vfs/ledger.h).
#include "errseq/vfs/ledger.h"

#include <fmt/format.h>

#include "errseq/core/errno_name.h"
#include "errseq/core/realtime.h"

namespace errseq::vfs {

void Ledger::Append(Event e) {
  const int64_t now = RealtimeNs();
  {
    std::lock_guard lock(mu_);
    e.seq = next_seq_++;
    e.time_ns = now;
    (e.kind == Event::Kind::kRecorded ? recorded_ : reported_)++;
    if (ring_.size() == capacity_) {
      ring_.pop_front();
      ++dropped_;
    }
    ring_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::vector<Event> Ledger::Since(uint64_t after, size_t max, std::chrono::milliseconds wait) const {
  std::unique_lock lock(mu_);
  if (wait.count() > 0) cv_.wait_for(lock, wait, [&] { return next_seq_ - 1 > after; });
  std::vector<Event> out;
  for (const Event& e : ring_) {
    if (e.seq > after && out.size() < max) out.push_back(e);
  }
  return out;
}

uint64_t Ledger::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}
uint64_t Ledger::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}
uint64_t Ledger::recorded() const {
  std::lock_guard lock(mu_);
  return recorded_;
}
uint64_t Ledger::reported() const {
  std::lock_guard lock(mu_);
  return reported_;
}

std::string FormatEvent(const Event& e) {
  if (e.kind == Event::Kind::kRecorded) {
    // No byte range: the store's sync of the file failed (at an fsync, or a background persist).
    const std::string where = e.length == 0 ? std::string("in a sync of its store")
                                            : fmt::format("bytes {}+{}", e.offset, e.length);
    return fmt::format("#{} recorded {} on inode {} ({}) {} -> {}", e.seq, ErrnoName(e.err),
                       e.ino, e.path, where, Errseq::Describe(e.value));
  }
  return fmt::format("#{} reported {} to file {} (pid {}) by {} on inode {} ({})", e.seq,
                     ErrnoName(e.err), e.file_id, e.pid, e.call, e.ino, e.path);
}

}  // namespace errseq::vfs

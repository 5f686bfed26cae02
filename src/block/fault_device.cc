// FaultDevice (see include/errseq/block/fault_device.h).
#include "errseq/block/fault_device.h"

namespace errseq::block {

FaultDevice::FaultDevice(std::shared_ptr<BlockDevice> inner, std::shared_ptr<FaultInjector> faults)
    : inner_(std::move(inner)), faults_(std::move(faults)) {}

Status FaultDevice::ReadV(uint64_t offset, std::span<const iovec> iov) {
  FaultOutcome f = faults_->Apply({IoOp::kRead, offset, TotalLength(iov), {}});
  if (f.kind == FaultOutcome::Kind::kFail) return Status::Error(f.err);
  return inner_->ReadV(offset, iov);
}

template <class Fn>
Status FaultDevice::Modify(IoOp op, uint64_t offset, uint64_t length, Fn&& change) {
  FaultOutcome f = faults_->Apply({op, offset, length, {}});
  if (f.kind == FaultOutcome::Kind::kFail) return Status::Error(f.err);
  if (f.kind == FaultOutcome::Kind::kDrop) return CheckRange(offset, length);
  if (!crash_mode_.load(std::memory_order_acquire)) return change();

  std::lock_guard lock(crash_mu_);
  JournalEntry e{offset, std::vector<std::byte>(length)};
  if (Status s = inner_->Read(offset, e.old_bytes); !s.ok()) return s;
  Status s = change();
  // Even a failed write may have changed some blocks: remember the old bytes either way.
  journal_.push_back(std::move(e));
  return s;
}

Status FaultDevice::WriteV(uint64_t offset, std::span<const iovec> iov) {
  return Modify(IoOp::kWrite, offset, TotalLength(iov),
                [&] { return inner_->WriteV(offset, iov); });
}

Status FaultDevice::Flush() {
  FaultOutcome f = faults_->Apply({IoOp::kFlush, 0, 0, {}});
  if (f.kind == FaultOutcome::Kind::kFail) return Status::Error(f.err);
  if (f.kind == FaultOutcome::Kind::kDrop) return Status::Ok();
  if (!crash_mode_.load(std::memory_order_acquire)) return inner_->Flush();
  size_t covered;
  {
    std::lock_guard lock(crash_mu_);
    covered = journal_.size();
  }
  Status s = inner_->Flush();
  if (s.ok()) {
    std::lock_guard lock(crash_mu_);
    journal_.erase(journal_.begin(),
                   journal_.begin() + static_cast<std::ptrdiff_t>(std::min(covered,
                                                                           journal_.size())));
  }
  return s;
}

Status FaultDevice::Discard(uint64_t offset, uint64_t length) {
  return Modify(IoOp::kDiscard, offset, length,
                [&] { return inner_->Discard(offset, length); });
}

void FaultDevice::SetCrashMode(bool on) {
  std::lock_guard lock(crash_mu_);
  crash_mode_.store(on, std::memory_order_release);
  if (!on) journal_.clear();
}

Status FaultDevice::PowerCut() {
  std::lock_guard lock(crash_mu_);
  Status first;
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
    Status s = inner_->Write(it->offset, it->old_bytes);
    if (!s.ok() && first.ok()) first = s;
  }
  journal_.clear();
  if (first.ok()) first = inner_->Flush();
  return first;
}

size_t FaultDevice::UnflushedWrites() const {
  std::lock_guard lock(crash_mu_);
  return journal_.size();
}

}  // namespace errseq::block

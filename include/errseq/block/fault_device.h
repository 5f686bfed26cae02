// FaultDevice: wraps any BlockDevice and applies a FaultInjector's table to every I/O
// (the dm-flakey / dm-dust / dm-log-writes idea, in-process). Failed I/O touches nothing below;
// a dropped write or flush answers OK and does nothing (a lying disk).
//
// Crash mode simulates a power cut: while it is on, every write that reaches the device is
// remembered with the bytes it overwrote; a successful flush makes all writes completed before
// it durable (forgets them); PowerCut() puts back the old bytes of every write not covered by a
// later successful flush, newest first. A dropped flush covers nothing.
//
// Thread-safety: the injector is thread-safe; `crash_mu_` guards the crash journal and is held
// across a journaled write so that the journal's order is the order the writes reached the
// device. With crash mode off, the data path takes no lock.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "errseq/block/block_device.h"
#include "errseq/block/fault_injector.h"

namespace errseq::block {

class FaultDevice final : public BlockDevice {
 public:
  explicit FaultDevice(std::shared_ptr<BlockDevice> inner,
                       std::shared_ptr<FaultInjector> faults = std::make_shared<FaultInjector>());

  Status ReadV(uint64_t offset, std::span<const iovec> iov) override;
  Status WriteV(uint64_t offset, std::span<const iovec> iov) override;
  Status Flush() override;
  Status Discard(uint64_t offset, uint64_t length) override;
  uint64_t Size() const override { return inner_->Size(); }
  uint32_t BlockSize() const override { return inner_->BlockSize(); }
  std::string Name() const override { return "faulty:" + inner_->Name(); }

  FaultInjector& faults() { return *faults_; }
  const std::shared_ptr<FaultInjector>& shared_faults() const { return faults_; }
  BlockDevice& inner() { return *inner_; }

  // Starts (or stops, discarding the journal) remembering unflushed writes.
  void SetCrashMode(bool on);
  bool crash_mode() const { return crash_mode_.load(std::memory_order_acquire); }
  // Loses every write not covered by a later successful flush. The device stays usable
  // (as after a reboot) and crash mode stays on.
  Status PowerCut();
  // Writes that a power cut would lose now.
  size_t UnflushedWrites() const;

 private:
  struct JournalEntry {
    uint64_t offset;
    std::vector<std::byte> old_bytes;
  };

  // A write or discard: apply the fault table, then run `change`, journaling the old bytes in
  // crash mode.
  template <class Fn>
  Status Modify(IoOp op, uint64_t offset, uint64_t length, Fn&& change);

  const std::shared_ptr<BlockDevice> inner_;
  const std::shared_ptr<FaultInjector> faults_;
  std::atomic<bool> crash_mode_{false};
  mutable std::mutex crash_mu_;
  std::vector<JournalEntry> journal_;  // GUARDED_BY(crash_mu_)
};

}  // namespace errseq::block

// MemoryDevice: a BlockDevice held in RAM, for tests and benchmarks that must not touch a disk.
// Starts zero-filled. Flush does nothing (and is counted). Guarded by one reader-writer lock:
// reads share it, writes and discards take it exclusively.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>

#include "errseq/block/block_device.h"

namespace errseq::block {

class MemoryDevice final : public BlockDevice {
 public:
  // REQUIRES: block_size is a power of two >= 512 and size a multiple of it.
  explicit MemoryDevice(uint64_t size, uint32_t block_size = 4096);

  Status ReadV(uint64_t offset, std::span<const iovec> iov) override;
  Status WriteV(uint64_t offset, std::span<const iovec> iov) override;
  Status Flush() override;
  Status Discard(uint64_t offset, uint64_t length) override;
  uint64_t Size() const override { return size_; }
  uint32_t BlockSize() const override { return block_size_; }
  std::string Name() const override;

  uint64_t FlushCount() const { return flushes_.load(std::memory_order_relaxed); }

 private:
  const uint64_t size_;
  const uint32_t block_size_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<std::byte[]> data_;  // contents GUARDED_BY(mu_)
  std::atomic<uint64_t> flushes_{0};
};

}  // namespace errseq::block

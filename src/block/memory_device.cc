// MemoryDevice (see include/errseq/block/memory_device.h).
#include "errseq/block/memory_device.h"

#include <cassert>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

namespace errseq::block {

MemoryDevice::MemoryDevice(uint64_t size, uint32_t block_size)
    : size_(size), block_size_(block_size), data_(new std::byte[size]()) {
  assert(block_size >= 512 && (block_size & (block_size - 1)) == 0 && size % block_size == 0);
}

Status MemoryDevice::ReadV(uint64_t offset, std::span<const iovec> iov) {
  if (Status s = CheckRange(offset, TotalLength(iov)); !s.ok()) return s;
  std::shared_lock lock(mu_);
  for (const iovec& v : iov) {
    std::memcpy(v.iov_base, data_.get() + offset, v.iov_len);
    offset += v.iov_len;
  }
  return Status::Ok();
}

Status MemoryDevice::WriteV(uint64_t offset, std::span<const iovec> iov) {
  if (Status s = CheckRange(offset, TotalLength(iov)); !s.ok()) return s;
  std::unique_lock lock(mu_);
  for (const iovec& v : iov) {
    std::memcpy(data_.get() + offset, v.iov_base, v.iov_len);
    offset += v.iov_len;
  }
  return Status::Ok();
}

Status MemoryDevice::Flush() {
  flushes_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status MemoryDevice::Discard(uint64_t offset, uint64_t length) {
  if (Status s = CheckRange(offset, length); !s.ok()) return s;
  std::unique_lock lock(mu_);
  std::memset(data_.get() + offset, 0, length);
  return Status::Ok();
}

std::string MemoryDevice::Name() const { return fmt::format("memory:{}KiB", size_ / 1024); }

}  // namespace errseq::block

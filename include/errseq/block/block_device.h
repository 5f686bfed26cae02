// BlockDevice: the storage seam under the page cache (mirrors the kernel's block_device plus the
// bio submission path, reduced to synchronous calls).
//
// Contract for every implementation:
//  - Thread-safe: any number of threads may call any method at once. Concurrent writes to the
//    same bytes land in some order; nothing else is promised (as with a real disk).
//  - I/O is in whole blocks: offset and length must be multiples of BlockSize(), else -EINVAL.
//    I/O that reaches past Size() fails with -EIO (the kernel's "access beyond end of device").
//  - A transfer is all or nothing from the caller's view: OK means every byte was moved.
//  - Results are errno-style Status values; no exceptions.
// The vectored calls are the primitives; Read/Write are one-buffer conveniences over them.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "errseq/core/status.h"

namespace errseq::block {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual Status ReadV(uint64_t offset, std::span<const iovec> iov) = 0;
  virtual Status WriteV(uint64_t offset, std::span<const iovec> iov) = 0;
  // Make every completed write durable (a cache flush / FUA barrier).
  virtual Status Flush() = 0;
  // The device may forget these blocks; later reads return zeros or old data.
  virtual Status Discard(uint64_t offset, uint64_t length) = 0;
  // These blocks read as zeros afterwards (REQ_OP_WRITE_ZEROES: fallocate of a block device).
  // A write as far as faults go; this default writes zeros with WriteV, 1 MiB at a time.
  virtual Status WriteZeroes(uint64_t offset, uint64_t length);

  virtual uint64_t Size() const = 0;
  virtual uint32_t BlockSize() const = 0;
  // For messages: a path, or a description such as "memory:64MiB".
  virtual std::string Name() const = 0;

  Status Read(uint64_t offset, std::span<std::byte> buf) {
    iovec v{buf.data(), buf.size()};
    return ReadV(offset, {&v, 1});
  }
  Status Write(uint64_t offset, std::span<const std::byte> buf) {
    iovec v{const_cast<std::byte*>(buf.data()), buf.size()};
    return WriteV(offset, {&v, 1});
  }

 protected:
  // -EINVAL for misaligned offset/length, -EIO past the end; shared by every implementation.
  Status CheckRange(uint64_t offset, uint64_t length) const;
  static uint64_t TotalLength(std::span<const iovec> iov);
};

}  // namespace errseq::block

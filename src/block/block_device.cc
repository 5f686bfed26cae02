// Range checks shared by every BlockDevice implementation.
#include "errseq/block/block_device.h"

#include <algorithm>
#include <cerrno>
#include <vector>

namespace errseq::block {

uint64_t BlockDevice::TotalLength(std::span<const iovec> iov) {
  uint64_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

Status BlockDevice::CheckRange(uint64_t offset, uint64_t length) const {
  const uint64_t bs = BlockSize();
  if (offset % bs != 0 || length % bs != 0) return Status::Error(-EINVAL);
  if (offset > Size() || length > Size() - offset) return Status::Error(-EIO);
  return Status::Ok();
}

Status BlockDevice::WriteZeroes(uint64_t offset, uint64_t length) {
  if (Status s = CheckRange(offset, length); !s.ok()) return s;
  static const std::vector<char> zeros(64 << 10);  // read-only: shared by every caller
  while (length > 0) {
    const uint64_t chunk = std::min<uint64_t>(length, 1 << 20);
    std::vector<iovec> iov;
    for (uint64_t done = 0; done < chunk; done += zeros.size()) {
      iov.push_back({const_cast<char*>(zeros.data()),
                     static_cast<size_t>(std::min<uint64_t>(zeros.size(), chunk - done))});
    }
    if (Status s = WriteV(offset, iov); !s.ok()) return s;
    offset += chunk;
    length -= chunk;
  }
  return Status::Ok();
}

}  // namespace errseq::block

// Range checks shared by every BlockDevice implementation.
#include "errseq/block/block_device.h"

#include <cerrno>

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

}  // namespace errseq::block

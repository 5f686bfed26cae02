// FileDevice (see include/errseq/block/file_device.h). This file is where errno from the host
// becomes a Status for the block layer.
#include "errseq/block/file_device.h"

#include "errseq/block/posix_io.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace errseq::block {
namespace {

Status OpenError(int e, const std::string& path, const char* what) {
  return Status::FromErrno(e, fmt::format("cannot {} device '{}': {}", what, path, strerror(e)));
}

}  // namespace

Result<std::unique_ptr<FileDevice>> FileDevice::Open(const std::string& path, Options options) {
  const uint32_t bs = options.block_size;
  if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0) {
    return Status::Error(-EINVAL, fmt::format("block size {} is not a power of two in 512..65536",
                                              bs));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return OpenError(errno, path, "open");
  if (S_ISDIR(st.st_mode)) {
    return Status::Error(-EISDIR, fmt::format("cannot open device '{}': it is a directory "
                                              "(expected an image file or a block device)",
                                              path));
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Status::Error(-EINVAL, fmt::format("cannot open device '{}': not a regular file or "
                                              "a block device", path));
  }
  int fd = ::open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return OpenError(errno, path, "open");
  uint64_t size = 0;
  uint32_t block_size = bs;
  const bool is_bdev = S_ISBLK(st.st_mode);
  if (is_bdev) {
    int ssz = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0 || ::ioctl(fd, BLKSSZGET, &ssz) != 0) {
      int e = errno;
      ::close(fd);
      return OpenError(e, path, "query size of");
    }
    block_size = static_cast<uint32_t>(ssz);
  } else {
    size = static_cast<uint64_t>(st.st_size);
  }
  if (size == 0 || size % block_size != 0) {
    ::close(fd);
    return Status::Error(-EINVAL, fmt::format("device '{}' has size {} bytes, which is not a "
                                              "non-zero multiple of the block size {}",
                                              path, size, block_size));
  }
  return std::unique_ptr<FileDevice>(new FileDevice(path, fd, size, block_size, is_bdev,
                                                          options.read_only));
}

Result<std::unique_ptr<FileDevice>> FileDevice::Create(const std::string& path, uint64_t size,
                                                       Options options) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OpenError(errno, path, "create");
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    ::close(fd);
    return OpenError(e, path, "size");
  }
  ::close(fd);
  return Open(path, options);
}

FileDevice::~FileDevice() { ::close(fd_); }

Status FileDevice::ReadV(uint64_t offset, std::span<const iovec> iov) {
  if (Status s = CheckRange(offset, TotalLength(iov)); !s.ok()) return s;
  return PreadvAll(fd_, offset, iov, /*allow_eof=*/false).status();
}

Status FileDevice::WriteV(uint64_t offset, std::span<const iovec> iov) {
  if (read_only_) return Status::Error(-EROFS);
  if (Status s = CheckRange(offset, TotalLength(iov)); !s.ok()) return s;
  return PwritevAll(fd_, offset, iov);
}

Status FileDevice::Flush() {
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) return Status::Error(-errno);
  }
  return Status::Ok();
}

Status FileDevice::Discard(uint64_t offset, uint64_t length) {
  if (read_only_) return Status::Error(-EROFS);
  if (Status s = CheckRange(offset, length); !s.ok()) return s;
  if (length == 0) return Status::Ok();
  int rc;
  if (is_bdev_) {
    uint64_t range[2] = {offset, length};
    rc = ::ioctl(fd_, BLKDISCARD, &range);
  } else {
    rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(length));
  }
  return rc == 0 ? Status::Ok() : Status::Error(-errno);
}

}  // namespace errseq::block

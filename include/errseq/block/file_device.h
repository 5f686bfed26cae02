// FileDevice: a BlockDevice on an image file or a real block device, through pread/pwrite
// (preadv/pwritev) and fdatasync. The file descriptor is the only shared state and the kernel
// serialises access to it, so the class holds no lock.
//
// Opening checks what a user can get wrong and says so: a missing path, a directory, a file
// whose size is not a multiple of the block size, no permission, something that is neither a
// regular file nor a block device.
#pragma once

#include <memory>
#include <string>

#include "errseq/block/block_device.h"

namespace errseq::block {

class FileDevice final : public BlockDevice {
 public:
  struct Options {
    // For an image file; a real block device uses its own logical block size.
    uint32_t block_size = 4096;
    bool read_only = false;
  };

  static Result<std::unique_ptr<FileDevice>> Open(const std::string& path, Options options);
  static Result<std::unique_ptr<FileDevice>> Open(const std::string& path) {
    return Open(path, Options());
  }
  // Creates (or truncates) an image file of `size` bytes and opens it.
  static Result<std::unique_ptr<FileDevice>> Create(const std::string& path, uint64_t size,
                                                    Options options);
  ~FileDevice() override;

  Status ReadV(uint64_t offset, std::span<const iovec> iov) override;
  Status WriteV(uint64_t offset, std::span<const iovec> iov) override;
  Status Flush() override;
  Status Discard(uint64_t offset, uint64_t length) override;
  uint64_t Size() const override { return size_; }
  uint32_t BlockSize() const override { return block_size_; }
  std::string Name() const override { return path_; }
  bool IsBlockDevice() const { return is_bdev_; }

 private:
  FileDevice(std::string path, int fd, uint64_t size, uint32_t block_size, bool is_bdev,
             bool read_only)
      : path_(std::move(path)),
        fd_(fd),
        size_(size),
        block_size_(block_size),
        is_bdev_(is_bdev),
        read_only_(read_only) {}

  const std::string path_;
  const int fd_;
  const uint64_t size_;
  const uint32_t block_size_;
  const bool is_bdev_;
  const bool read_only_;
};

}  // namespace errseq::block

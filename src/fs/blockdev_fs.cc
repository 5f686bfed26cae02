// BlockdevFs (see include/errseq/fs/blockdev_fs.h).
#include "errseq/fs/blockdev_fs.h"

#include <unistd.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "errseq/fs/device_readahead.h"

namespace errseq::fs {
namespace {

class DeviceData final : public mm::AddressSpaceOps {
 public:
  explicit DeviceData(std::shared_ptr<block::BlockDevice> dev) : dev_(std::move(dev)) {}

  Status ReadPages(uint64_t first_index, std::span<const iovec> pages) override {
    return dev_->ReadV(first_index << mm::kPageShift, pages);
  }

  // Linux writes a block device's cached pages back through buffer heads, which keep only
  // that a write failed (mark_buffer_write_io_error): every failed writeback is EIO, whatever
  // the device said (checked on 6.18: a loop device whose file answered ENOSPC). Direct
  // writes (WriteDirect) keep the device's errno; a failed read is EIO for every store
  // (Mapping).
  Status WritePages(uint64_t first_index, std::span<const iovec> pages, uint64_t) override {
    Status s = dev_->WriteV(first_index << mm::kPageShift, pages);
    return s.ok() ? s : Status::Error(-EIO, s.message());
  }

  // The device file presents 512-byte logical sectors, as a disk with 512-byte sectors on
  // larger blocks does (512e) and as a loop device over this file sends its I/O: O_DIRECT
  // writes and fallocate's zeroing go in multiples of 512 bytes. With the image's 4 KiB
  // blocks as the only unit, ext4 on such a loop device failed its first journal write
  // (EINVAL) once O_DIRECT writes went to the device. A change to part of a device block
  // reads the block, changes it and writes it back, as such a disk does inside (so a failing
  // read of the block fails the write).
  uint32_t DirectAlignment() const override { return kSector; }
  uint32_t DeviceBlockSize() const override { return kSector; }
  Result<size_t> WriteDirect(uint64_t offset, std::span<const std::byte> data) override {
    if (Status s = Patch(offset, data.size(), data.data()); !s.ok()) return s;
    return data.size();
  }
  Status Sync(bool) override { return dev_->Flush(); }
  Result<uint64_t> BackingSize() override { return dev_->Size(); }

  // blkdev_fallocate's two zeroing modes (punch and zero-range) both write zeroes; the caller
  // has checked the mode, the range and its alignment (to 512 bytes).
  Status Fallocate(int /*mode*/, uint64_t offset, uint64_t len) override {
    const uint64_t bs = dev_->BlockSize();
    const uint64_t first = (offset + bs - 1) & ~(bs - 1), last = (offset + len) & ~(bs - 1);
    if (first >= last) return Patch(offset, len, nullptr);
    if (Status s = Patch(offset, first - offset, nullptr); !s.ok()) return s;
    if (Status s = dev_->WriteZeroes(first, last - first); !s.ok()) return s;
    return Patch(last, offset + len - last, nullptr);
  }

 private:
  static constexpr uint32_t kSector = 512;

  // Writes `len` bytes at `offset` (zeros when `src` is null): whole device blocks as they are,
  // a part of one by reading it, changing it and writing it back.
  Status Patch(uint64_t offset, uint64_t len, const std::byte* src) {
    if (len == 0) return Status::Ok();
    const uint64_t bs = dev_->BlockSize();
    const uint64_t start = offset & ~(bs - 1);
    const uint64_t end = (offset + len + bs - 1) & ~(bs - 1);
    if (src != nullptr && start == offset && end == offset + len) {
      const iovec v{const_cast<std::byte*>(src), static_cast<size_t>(len)};
      return dev_->WriteV(offset, {&v, 1});
    }
    std::vector<std::byte> blocks(end - start);
    const iovec v{blocks.data(), blocks.size()};
    if (start != offset || end != offset + len) {
      if (Status s = dev_->ReadV(start, {&v, 1}); !s.ok()) return s;
    }
    if (src != nullptr) {
      std::memcpy(blocks.data() + (offset - start), src, len);
    } else {
      std::memset(blocks.data() + (offset - start), 0, len);
    }
    return dev_->WriteV(start, {&v, 1});
  }

  const std::shared_ptr<block::BlockDevice> dev_;
};

}  // namespace

Result<std::unique_ptr<BlockdevFs>> BlockdevFs::Open(std::shared_ptr<block::BlockDevice> device,
                                                     std::string file_name,
                                                     size_t readahead_kb) {
  if (device->Size() == 0 || device->Size() % mm::kPageSize != 0 ||
      mm::kPageSize % device->BlockSize() != 0) {
    return Status::Error(-EINVAL, fmt::format("device '{}': size {} is not a non-zero multiple "
                                              "of 4096, or its block size {} does not divide 4096",
                                              device->Name(), device->Size(),
                                              device->BlockSize()));
  }
  if (file_name.empty() || file_name.find('/') != std::string::npos || file_name == "." ||
      file_name == "..") {
    return Status::Error(-EINVAL, fmt::format("bad device file name '{}'", file_name));
  }
  return std::unique_ptr<BlockdevFs>(
      new BlockdevFs(std::move(device), std::move(file_name), readahead_kb));
}

size_t BlockdevFs::ReadaheadKbOf(const std::string& source) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return kLoopReadaheadKb;
  return DeviceReadaheadKb(st.st_rdev, kLoopReadaheadKb);
}

vfs::NodeAttr BlockdevFs::RootAttr() const {
  vfs::NodeAttr a;
  a.ino = 1;
  a.mode = S_IFDIR | 0755;
  a.nlink = 2;
  a.uid = ::getuid();
  a.gid = ::getgid();
  return a;
}

vfs::NodeAttr BlockdevFs::FileAttr() const {
  vfs::NodeAttr a;
  a.ino = 2;
  a.mode = S_IFREG | 0644;  // shown as a regular file so that any program can open it
  a.size = dev_->Size();
  a.block_device = true;
  a.uid = ::getuid();
  a.gid = ::getgid();
  return a;
}

Status BlockdevFs::Symlink(const std::string&, const std::string&) {
  return Status::Error(-EPERM);  // the namespace is fixed: one file
}

Result<std::string> BlockdevFs::Readlink(const std::string& path) {
  if (path != name_ && !path.empty()) return Status::Error(-ENOENT);
  return Status::Error(-EINVAL);  // not a symlink
}

Status BlockdevFs::SetAttr(const std::string& path, const vfs::AttrChange& change) {
  if (path != name_ && !path.empty()) return Status::Error(-ENOENT);
  // The namespace is fixed and has no stored attributes: times are accepted (the in-core
  // inode keeps them while it lives), mode and owner are not.
  if (change.mode || change.uid || change.gid) return Status::Error(-EPERM);
  return Status::Ok();
}

Result<vfs::NodeAttr> BlockdevFs::GetAttr(const std::string& path) {
  if (path.empty()) return RootAttr();
  if (path == name_) return FileAttr();
  return Status::Error(-ENOENT);
}

Result<vfs::NodeAttr> BlockdevFs::Create(const std::string& path, mode_t, bool exclusive) {
  if (path == name_) return exclusive ? Result<vfs::NodeAttr>(Status::Error(-EEXIST)) : FileAttr();
  return Status::Error(-EROFS);  // the namespace is fixed: one file
}

Result<std::shared_ptr<mm::AddressSpaceOps>> BlockdevFs::OpenData(const std::string& path,
                                                                  const vfs::NodeAttr&) {
  if (path != name_) return Status::Error(-ENOENT);
  return std::shared_ptr<mm::AddressSpaceOps>(std::make_shared<DeviceData>(dev_));
}

Status BlockdevFs::Truncate(const std::string&, uint64_t) { return Status::Error(-EINVAL); }
Status BlockdevFs::Mkdir(const std::string&, mode_t) { return Status::Error(-EROFS); }
Status BlockdevFs::Rmdir(const std::string&) { return Status::Error(-EROFS); }
Status BlockdevFs::Unlink(const std::string&) { return Status::Error(-EROFS); }
Status BlockdevFs::Rename(const std::string&, const std::string&) {
  return Status::Error(-EROFS);
}
Status BlockdevFs::RenameFlags(const std::string&, const std::string&, unsigned) {
  return Status::Error(-EROFS);
}
Status BlockdevFs::Mknod(const std::string&, mode_t) { return Status::Error(-EROFS); }

// The device's size in 4 KiB blocks, none free: the one file fills it.
Result<struct statvfs> BlockdevFs::StatFs() {
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = mm::kPageSize;
  sv.f_blocks = dev_->Size() / mm::kPageSize;
  sv.f_files = 2;  // the root and the file
  sv.f_namemax = 255;
  return sv;
}

Status BlockdevFs::Link(const std::string&, const std::string&) {
  return Status::Error(-EPERM);  // the namespace is fixed: one file
}

Result<std::vector<vfs::DirEntry>> BlockdevFs::ReadDir(const std::string& path) {
  if (path == name_) return Status::Error(-ENOTDIR);
  if (!path.empty()) return Status::Error(-ENOENT);
  return std::vector<vfs::DirEntry>{{name_, 2, S_IFREG}};
}

Status BlockdevFs::SyncFs() { return dev_->Flush(); }

}  // namespace errseq::fs

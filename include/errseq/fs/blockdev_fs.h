// BlockdevFs: a block device as one file (the kernel's block device files, "bdev"). The root
// directory holds a single regular file, named at mount, whose data is the device; it goes
// through the page cache like any file, so the same errseq rules apply to it (xfstests
// generic/442). The file cannot be created, removed, renamed or resized; writes past the end of
// the device fail with ENOSPC, and O_TRUNC is ignored, as on Linux.
#pragma once

#include <memory>
#include <string>

#include "errseq/block/block_device.h"
#include "errseq/vfs/file_system.h"

namespace errseq::fs {

class BlockdevFs final : public vfs::FileSystem {
 public:
  // What a loop device reads ahead on Linux 6.18 (its read_ahead_kb; measured: loop devices
  // over regular files, and one not bound to any, all said 2560): the device an image file is
  // on Linux.
  static constexpr size_t kLoopReadaheadKb = 2560;

  // REQUIRES: device->Size() is a multiple of the page size (4 KiB) and the device's block
  // size divides it; else Open fails with a message. `readahead_kb`: the device's
  // read_ahead_kb, which bounds readahead of the device file (ReadaheadKbOf).
  static Result<std::unique_ptr<BlockdevFs>> Open(std::shared_ptr<block::BlockDevice> device,
                                                  std::string file_name,
                                                  size_t readahead_kb = kLoopReadaheadKb);
  // The read_ahead_kb Linux gives `source`: a block device's own (sysfs; its disk's for a
  // partition), a loop device's for an image file or where sysfs does not say.
  static size_t ReadaheadKbOf(const std::string& source);

  std::string TypeName() const override { return "blockdev"; }
  Result<vfs::NodeAttr> GetAttr(const std::string& path) override;
  Result<vfs::NodeAttr> Create(const std::string& path, mode_t mode, bool exclusive) override;
  Result<std::shared_ptr<mm::AddressSpaceOps>> OpenData(const std::string& path,
                                                        const vfs::NodeAttr& attr) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status SetAttr(const std::string& path, const vfs::AttrChange& change) override;
  Status Symlink(const std::string& target, const std::string& path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Mkdir(const std::string& path, mode_t mode) override;
  Status Rmdir(const std::string& path) override;
  Status Unlink(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameFlags(const std::string& from, const std::string& to, unsigned flags) override;
  Status Mknod(const std::string& path, mode_t mode) override;
  Result<struct statvfs> StatFs() override;
  Status Link(const std::string& from, const std::string& to) override;
  Result<std::vector<vfs::DirEntry>> ReadDir(const std::string& path) override;
  Status SyncFs() override;
  size_t ReadaheadKb() override { return readahead_kb_; }

  const std::string& file_name() const { return name_; }

 private:
  BlockdevFs(std::shared_ptr<block::BlockDevice> dev, std::string name, size_t readahead_kb)
      : dev_(std::move(dev)), name_(std::move(name)), readahead_kb_(readahead_kb) {}
  vfs::NodeAttr RootAttr() const;
  vfs::NodeAttr FileAttr() const;

  const std::shared_ptr<block::BlockDevice> dev_;
  const std::string name_;
  const size_t readahead_kb_;
  const int64_t mounted_ns_ = 0;
};

}  // namespace errseq::fs

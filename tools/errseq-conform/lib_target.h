// LibTarget: runs scenarios in-process on the errseq library. A passthrough file system on a
// fresh temporary directory serves the paths; a blockdev file system on a 1 MiB MemoryDevice
// serves "@dev". One FaultInjector serves both (path rules for `fail ... data PATH`, path-less
// rules for `fail ... device`). Supports every profile and policy, evict and remount. Its
// inodes are evicted the errseq way (an unseen error pins the inode) unless it is made with
// EvictMode::kLinux, which loses the error as Linux does (for comparisons with the kernel).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "errseq/block/fault_injector.h"
#include "errseq/block/memory_device.h"
#include "errseq/vfs/vfs.h"
#include "target.h"

namespace errseq::conform {

class LibTarget final : public Target {
 public:
  explicit LibTarget(vfs::EvictMode evict = vfs::EvictMode::kPin);
  ~LibTarget() override;

  std::string Name() const override { return "lib"; }
  bool Has(const std::string&) const override { return true; }
  bool Supports(const Mode&, std::string*) const override { return true; }
  Status Start(const Mode& mode) override;
  Status Stop() override;

  int Open(const std::string& path, int flags) override;
  int Dup(int h) override;
  int Close(int h) override;
  int64_t Pwrite(int h, uint64_t off, const std::vector<uint8_t>& data) override;
  int64_t Append(int h, const std::vector<uint8_t>& data) override;
  int64_t Pread(int h, uint64_t off, std::vector<uint8_t>* data) override;
  int Fsync(int h) override;
  int Fdatasync(int h) override;
  int Syncfs(int h) override;
  int SyncFileRange(int h, uint64_t off, uint64_t len, unsigned flags) override;
  int Sync() override;
  int Unlink(const std::string& path) override;
  int Fail(const std::string& op, const std::string& path, int err) override;
  int Heal() override;
  int Evict(const std::string& path) override;
  int Remount() override;

  // The super block serving `path`, for tests that want to look inside.
  vfs::SuperBlock* sb(bool dev = false) { return dev ? dev_sb_.get() : sb_.get(); }

 private:
  struct Handle {
    bool dev;
    int fd;
  };
  Status Mount();
  void Unmount();
  vfs::Vfs& V(bool dev) { return dev ? *dev_vfs_ : *vfs_; }
  Handle* Find(int h);

  const vfs::EvictMode evict_;
  vfs::MountOptions options_;
  std::string dir_;
  std::shared_ptr<block::FaultInjector> faults_;
  std::shared_ptr<block::MemoryDevice> mem_;
  std::unique_ptr<vfs::SuperBlock> sb_, dev_sb_;
  std::unique_ptr<vfs::Vfs> vfs_, dev_vfs_;
  std::vector<block::FaultRule> rules_;
  std::map<int, Handle> handles_;
  int next_handle_ = 0;
};

}  // namespace errseq::conform

// Stack: a real errseq stack for tests: a passthrough file system on a fresh temp directory,
// mounted with the given options, a descriptor table over it, and the fault injector that
// serves it. Faults are armed with the same rules a user writes in a fault table.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "errseq/block/fault_table_text.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/vfs/vfs.h"
#include "temp_dir.h"

namespace errseq::testing {

class Stack {
 public:
  explicit Stack(vfs::MountOptions options = DefaultOptions()) : options_(options) { Mount(); }
  ~Stack() {
    v_.reset();
    if (sb_) sb_->Unmount().IgnoreError();
  }

  static vfs::MountOptions DefaultOptions() {
    vfs::MountOptions o;
    o.writeback.start_flusher = false;  // tests decide when writeback happens
    return o;
  }

  void Mount() {
    auto fs = fs::PassthroughFs::Open(dir_.path(), faults_);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    auto sb = vfs::SuperBlock::Mount(std::move(*fs), options_);
    ASSERT_TRUE(sb.ok()) << sb.status().ToString();
    sb_ = std::move(*sb);
    v_ = std::make_unique<vfs::Vfs>(*sb_);
  }
  Status Remount() {
    v_.reset();
    Status s = sb_->Unmount();
    sb_.reset();
    Mount();
    return s;
  }

  // Arms one fault-table line (e.g. "0 * write error EIO path=f").
  void Fail(const std::string& line) {
    auto r = block::ParseFaultTable(line);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    faults_->Load(std::move(*r));
  }
  void Heal() { faults_->Clear(); }

  int Open(const std::string& path, int flags) {
    auto fd = v_->Open(path, flags);
    EXPECT_TRUE(fd.ok()) << path << ": " << fd.status().ToString();
    return fd.ok() ? *fd : -1;
  }
  int Write(int fd, uint64_t off, size_t len, int byte) {
    std::vector<std::byte> b(len, std::byte(byte));
    auto n = v_->Pwrite(fd, b, off);
    return n.ok() ? (static_cast<size_t>(*n) == len ? 0 : -1) : n.err();
  }
  // The byte every position of [off, off+len) holds, or -1 if they differ, or the errno.
  int ReadByte(int fd, uint64_t off, size_t len) {
    std::vector<std::byte> b(len);
    auto n = v_->Pread(fd, b, off);
    if (!n.ok()) return n.err();
    if (*n != len) return -1000;
    for (auto x : b) {
      if (x != b[0]) return -1;
    }
    return static_cast<int>(b[0]);
  }
  int Fsync(int fd) { return v_->Fsync(fd).err(); }
  int Syncfs(int fd) { return v_->Syncfs(fd).err(); }

  vfs::Vfs& v() { return *v_; }
  const std::shared_ptr<block::FaultInjector>& faults() const { return faults_; }
  vfs::SuperBlock& sb() { return *sb_; }
  const std::string& dir() const { return dir_.path(); }
  std::string HostPath(const std::string& rel) const { return dir_ / rel; }

 private:
  vfs::MountOptions options_;
  TempDir dir_;
  std::shared_ptr<block::FaultInjector> faults_ = std::make_shared<block::FaultInjector>();
  std::unique_ptr<vfs::SuperBlock> sb_;
  std::unique_ptr<vfs::Vfs> v_;
};

inline vfs::MountOptions WithProfile(vfs::Profile p) {
  auto o = Stack::DefaultOptions();
  o.profile = p;
  return o;
}
inline vfs::MountOptions WithPolicy(mm::FailurePolicy p) {
  auto o = Stack::DefaultOptions();
  o.policy = p;
  return o;
}

}  // namespace errseq::testing

// LibTarget (see lib_target.h).
#include "lib_target.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "errseq/block/fault_device.h"
#include "errseq/fs/blockdev_fs.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/vfs/path.h"

namespace errseq::conform {
namespace {

constexpr const char* kDevName = "dev";
constexpr uint64_t kDevSize = 1 << 20;

std::span<const std::byte> Bytes(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

}  // namespace

LibTarget::LibTarget(vfs::EvictMode evict) : evict_(evict) {}
LibTarget::~LibTarget() { Stop().IgnoreError(); }

Status LibTarget::Start(const Mode& mode) {
  Stop().IgnoreError();
  auto profile = vfs::ParseProfile(mode.profile);
  auto policy = mm::ParsePolicy(mode.policy);
  if (!profile || !policy) return Status::Error(-EINVAL, "unknown mode " + mode.Name());
  options_ = vfs::MountOptions();
  options_.profile = *profile;
  options_.policy = *policy;
  options_.evict = evict_;
  std::string tmpl = (std::filesystem::temp_directory_path() / "errseq-conform-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return Status::FromErrno(errno, "mkdtemp failed");
  dir_ = tmpl;
  faults_ = std::make_shared<block::FaultInjector>();
  rules_.clear();
  mem_ = std::make_shared<block::MemoryDevice>(kDevSize);
  return Mount();
}

Status LibTarget::Mount() {
  auto pfs = fs::PassthroughFs::Open(dir_, faults_);
  if (!pfs.ok()) return pfs.status();
  auto sb = vfs::SuperBlock::Mount(std::move(*pfs), options_);
  if (!sb.ok()) return sb.status();
  sb_ = std::move(*sb);
  vfs_ = std::make_unique<vfs::Vfs>(*sb_);
  auto dev = std::make_shared<block::FaultDevice>(mem_, faults_);
  auto bfs = fs::BlockdevFs::Open(dev, kDevName);
  if (!bfs.ok()) return bfs.status();
  auto dsb = vfs::SuperBlock::Mount(std::move(*bfs), options_);
  if (!dsb.ok()) return dsb.status();
  dev_sb_ = std::move(*dsb);
  dev_vfs_ = std::make_unique<vfs::Vfs>(*dev_sb_);
  return Status::Ok();
}

void LibTarget::Unmount() {
  handles_.clear();
  vfs_.reset();
  dev_vfs_.reset();
  // An unmount error (data lost) is visible to scenarios through what they read afterwards.
  if (sb_) sb_->Unmount().IgnoreError();
  if (dev_sb_) dev_sb_->Unmount().IgnoreError();
  sb_.reset();
  dev_sb_.reset();
}

Status LibTarget::Stop() {
  Unmount();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
  return Status::Ok();
}

LibTarget::Handle* LibTarget::Find(int h) {
  auto it = handles_.find(h);
  return it == handles_.end() ? nullptr : &it->second;
}

int LibTarget::Open(const std::string& path, int flags) {
  const bool dev = path == "@dev";
  auto fd = V(dev).Open(dev ? kDevName : path, flags, 0644);
  if (!fd.ok()) return fd.err();
  handles_[next_handle_] = {dev, *fd};
  return next_handle_++;
}

int LibTarget::Dup(int h) {
  Handle* x = Find(h);
  if (!x) return -EBADF;
  auto fd = V(x->dev).Dup(x->fd);
  if (!fd.ok()) return fd.err();
  handles_[next_handle_] = {x->dev, *fd};
  return next_handle_++;
}

int LibTarget::Close(int h) {
  Handle* x = Find(h);
  if (!x) return -EBADF;
  int r = V(x->dev).Close(x->fd).err();
  handles_.erase(h);
  return r;
}

int64_t LibTarget::Pwrite(int h, uint64_t off, const std::vector<uint8_t>& data) {
  Handle* x = Find(h);
  if (!x) return -EBADF;
  auto n = V(x->dev).Pwrite(x->fd, Bytes(data), off);
  return n.ok() ? static_cast<int64_t>(*n) : n.err();
}

int64_t LibTarget::Append(int h, const std::vector<uint8_t>& data) {
  Handle* x = Find(h);
  if (!x) return -EBADF;
  auto n = V(x->dev).Write(x->fd, Bytes(data));
  return n.ok() ? static_cast<int64_t>(*n) : n.err();
}

int64_t LibTarget::Pread(int h, uint64_t off, std::vector<uint8_t>* data) {
  Handle* x = Find(h);
  if (!x) return -EBADF;
  auto n = V(x->dev).Pread(x->fd, {reinterpret_cast<std::byte*>(data->data()), data->size()}, off);
  return n.ok() ? static_cast<int64_t>(*n) : n.err();
}

#define ERRSEQ_HANDLE_CALL(h, call)        \
  Handle* x = Find(h);                     \
  if (!x) return -EBADF;                   \
  return V(x->dev).call.err()

int LibTarget::Fsync(int h) { ERRSEQ_HANDLE_CALL(h, Fsync(x->fd)); }
int LibTarget::Fdatasync(int h) { ERRSEQ_HANDLE_CALL(h, Fdatasync(x->fd)); }
int LibTarget::Syncfs(int h) { ERRSEQ_HANDLE_CALL(h, Syncfs(x->fd)); }
int LibTarget::SyncFileRange(int h, uint64_t off, uint64_t len, unsigned flags) {
  ERRSEQ_HANDLE_CALL(h, SyncFileRange(x->fd, off, len, flags));
}
#undef ERRSEQ_HANDLE_CALL

int LibTarget::Sync() {
  sb_->Sync();
  dev_sb_->Sync();
  return 0;
}

int LibTarget::Unlink(const std::string& path) { return sb_->Unlink(path).err(); }

int LibTarget::Fail(const std::string& op, const std::string& path, int err) {
  block::FaultRule r;
  auto ops = block::VerbOps(op);  // the scenario parser took only read, write and all
  if (!ops) return -EINVAL;
  r.ops = *ops;
  r.err = err;
  if (!path.empty() && path != "@dev") {
    auto norm = vfs::NormalizePath(path);  // the form the file system matches rules against
    if (!norm.ok()) return norm.err();
    r.path = *norm;
    r.file = sb_->FileIdentity(r.path);  // the file it names now, as the kernel's blocks
  }
  rules_.insert(rules_.begin(), r);  // the newest rule decides
  faults_->Load(rules_);
  return 0;
}

int LibTarget::Heal() {
  rules_.clear();
  faults_->Clear();
  return 0;
}

int LibTarget::Evict(const std::string& path) {
  const bool dev = path == "@dev";
  auto r = (dev ? dev_sb_ : sb_)->Evict(dev ? kDevName : path);
  // Like the kernel target's drop_caches, `evict` never fails: a name that no longer exists
  // (unlinked) has nothing in core to drop.
  return r.ok() || r.err() == -ENOENT ? 0 : r.err();
}

int LibTarget::Remount() {
  if (!handles_.empty()) return -EBUSY;
  Unmount();
  return Mount().err();
}

}  // namespace errseq::conform

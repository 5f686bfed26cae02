// The descriptor table (see include/errseq/vfs/vfs.h).
#include "errseq/vfs/vfs.h"

#include <cerrno>

namespace errseq::vfs {

Vfs::~Vfs() {
  std::map<int, std::shared_ptr<File>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(fds_);
  }
}

Result<int> Vfs::Open(std::string_view path, int flags, mode_t mode) {
  auto f = sb_.Open(path, flags, mode);
  if (!f.ok()) return f.status();
  std::lock_guard lock(mu_);
  int fd = 0;
  for (auto& [n, _] : fds_) {  // lowest free number, as open(2)
    if (n != fd) break;
    ++fd;
  }
  fds_.emplace(fd, std::move(*f));
  return fd;
}

Status Vfs::Close(int fd) {
  std::shared_ptr<File> f;
  {
    std::lock_guard lock(mu_);
    auto it = fds_.find(fd);
    if (it == fds_.end()) return Status::Error(-EBADF);
    f = std::move(it->second);
    fds_.erase(it);
  }
  return Status::Ok();  // the File is released here, outside the lock
}

Result<int> Vfs::Dup(int fd) {
  std::lock_guard lock(mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Status::Error(-EBADF);
  int n = 0;
  for (auto& [k, _] : fds_) {
    if (k != n) break;
    ++n;
  }
  fds_.emplace(n, it->second);
  return n;
}

Result<std::shared_ptr<File>> Vfs::Get(int fd) const {
  std::lock_guard lock(mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Status::Error(-EBADF);
  return it->second;
}

size_t Vfs::OpenFds() const {
  std::lock_guard lock(mu_);
  return fds_.size();
}

#define ERRSEQ_WITH_FILE(fd, f) \
  auto f##_r = Get(fd);         \
  if (!f##_r.ok()) return f##_r.status(); \
  File& f = **f##_r

Result<size_t> Vfs::Read(int fd, std::span<std::byte> buf) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Read(f, buf);
}
Result<size_t> Vfs::Write(int fd, std::span<const std::byte> buf) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Write(f, buf);
}
Result<size_t> Vfs::Pread(int fd, std::span<std::byte> buf, uint64_t offset) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Pread(f, buf, offset);
}
Result<size_t> Vfs::Pwrite(int fd, std::span<const std::byte> buf, uint64_t offset) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Pwrite(f, buf, offset);
}
Result<uint64_t> Vfs::Lseek(int fd, int64_t offset, int whence) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Lseek(f, offset, whence);
}
Status Vfs::Ftruncate(int fd, uint64_t size) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Ftruncate(f, size);
}
Status Vfs::Fallocate(int fd, int mode, uint64_t offset, uint64_t len) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Fallocate(f, mode, offset, len);
}
Status Vfs::Fsync(int fd) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Fsync(f);
}
Status Vfs::Fdatasync(int fd) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Fdatasync(f);
}
Status Vfs::SyncFileRange(int fd, uint64_t offset, uint64_t nbytes, unsigned flags) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.SyncFileRange(f, offset, nbytes, flags);
}
Status Vfs::Syncfs(int fd) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Syncfs(f);
}
Result<NodeAttr> Vfs::Fstat(int fd) {
  ERRSEQ_WITH_FILE(fd, f);
  return sb_.Fstat(f);
}

#undef ERRSEQ_WITH_FILE

}  // namespace errseq::vfs

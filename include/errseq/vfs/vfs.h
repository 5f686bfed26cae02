// Vfs: the descriptor-table front end of a SuperBlock, for C++ programs that want POSIX-shaped
// calls (int fds, dup). Each fd names a File (open file description); dup'd fds share one.
// The FUSE front end uses SuperBlock/File directly instead. Thread-safe: `mu_` guards the table;
// calls on a File run outside it.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "errseq/vfs/super_block.h"

namespace errseq::vfs {

class Vfs {
 public:
  explicit Vfs(SuperBlock& sb) : sb_(sb) {}
  ~Vfs();  // closes every fd

  SuperBlock& sb() { return sb_; }

  Result<int> Open(std::string_view path, int flags, mode_t mode = 0644);
  Status Close(int fd);  // 0 for any valid fd: close reports nothing, consumes nothing
  Result<int> Dup(int fd);
  Result<std::shared_ptr<File>> Get(int fd) const;

  Result<size_t> Read(int fd, std::span<std::byte> buf);
  Result<size_t> Write(int fd, std::span<const std::byte> buf);
  Result<size_t> Pread(int fd, std::span<std::byte> buf, uint64_t offset);
  Result<size_t> Pwrite(int fd, std::span<const std::byte> buf, uint64_t offset);
  Result<uint64_t> Lseek(int fd, int64_t offset, int whence);
  Status Ftruncate(int fd, uint64_t size);
  Status Fallocate(int fd, int mode, uint64_t offset, uint64_t len);
  Status Fsync(int fd);
  Status Fdatasync(int fd);
  Status SyncFileRange(int fd, uint64_t offset, uint64_t nbytes, unsigned flags);
  Status Syncfs(int fd);
  Result<NodeAttr> Fstat(int fd);
  void Sync() { sb_.Sync(); }
  size_t OpenFds() const;

 private:
  SuperBlock& sb_;
  mutable std::mutex mu_;
  std::map<int, std::shared_ptr<File>> fds_;  // GUARDED_BY(mu_)
};

}  // namespace errseq::vfs

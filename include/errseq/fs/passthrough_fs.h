// PassthroughFs: a host directory as the backing store. Names and metadata go to the host at
// once; each regular file's pages are written back with pwritev to the host file and fsync ends
// in the host's fdatasync/fsync. Every host path is resolved beneath the root directory
// (openat2 RESOLVE_BENEATH), so no path or symlink can reach outside it; a request about a name
// then works in its directory's descriptor (DirFdCache: kept for a second, dropped when the
// directory is renamed or removed through this file system).
//
// Faults: one FaultInjector serves this file system and any device under it. File I/O is
// presented to it with the file's current path relative to the root (a rule with `path=` matches
// it; a rule without one matches every file) and the byte range within the file. Its other
// names match too: hard links the VFS saw, and rule paths that resolve beneath the root to the
// same host file (a link made on the host directly; checked per table and once a second).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "errseq/block/fault_injector.h"
#include "errseq/fs/dir_fd_cache.h"
#include "errseq/vfs/file_system.h"

namespace errseq::fs {

class RuleResolver;  // passthrough_fs.cc: fault rule paths to host files

class PassthroughFs final : public vfs::FileSystem {
 public:
  // Fails with a clear message if `root` is missing, not a directory or not accessible.
  static Result<std::unique_ptr<PassthroughFs>> Open(
      const std::string& root, std::shared_ptr<block::FaultInjector> faults = nullptr);
  ~PassthroughFs() override;

  std::string TypeName() const override { return "passthrough"; }
  Result<vfs::NodeAttr> GetAttr(const std::string& path) override;
  Result<vfs::NodeAttr> GetAttrFollow(const std::string& path) override;
  Result<vfs::NodeAttr> Create(const std::string& path, mode_t mode, bool exclusive) override;
  Result<std::shared_ptr<mm::AddressSpaceOps>> OpenData(const std::string& path,
                                                        const vfs::NodeAttr& attr) override;
  Result<Created> CreateOpen(const std::string& path, mode_t mode, bool exclusive) override;
  Result<vfs::NodeAttr> GetAttrOf(mm::AddressSpaceOps& data) override;
  Status SetAttrOf(mm::AddressSpaceOps& data, const vfs::AttrChange& change) override;
  std::string FileIdentity(const std::string& path) override;
  // The source directory's device's read_ahead_kb (/sys/class/bdi/MAJ:MIN), as Linux's page
  // cache over that device reads ahead; the default where the device has no bdi entry.
  size_t ReadaheadKb() override;
  void Renamed(mm::AddressSpaceOps& data, const std::string& path,
               const std::vector<std::string>& other_names) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status SetAttr(const std::string& path, const vfs::AttrChange& change) override;
  Status Symlink(const std::string& target, const std::string& path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Mkdir(const std::string& path, mode_t mode) override;
  Status Rmdir(const std::string& path) override;
  Status Unlink(const std::string& path) override;
  Result<vfs::NodeAttr> UnlinkFile(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameFlags(const std::string& from, const std::string& to, unsigned flags) override;
  Status Mknod(const std::string& path, mode_t mode) override;
  Result<struct statvfs> StatFs() override;
  // user.*, trusted.* and security.* attributes of the host file; system.* (POSIX ACLs,
  // which the kernel's permission checks here would not see) is refused and not listed.
  Result<std::string> GetXattr(const vfs::XattrSubject& of, const std::string& name) override;
  Status SetXattr(const vfs::XattrSubject& of, const std::string& name, const std::string& value,
                  int flags) override;
  Result<std::string> ListXattr(const vfs::XattrSubject& of) override;
  Status RemoveXattr(const vfs::XattrSubject& of, const std::string& name) override;
  Status Link(const std::string& from, const std::string& to) override;
  Result<std::vector<vfs::DirEntry>> ReadDir(const std::string& path) override;
  // A descriptor of the host directory per open description: fsync reaches the host.
  Result<std::unique_ptr<vfs::Directory>> OpenDirectory(const std::string& path) override;
  Status SyncFs() override;

  const std::shared_ptr<block::FaultInjector>& faults() const { return faults_; }

 private:
  PassthroughFs(int root_fd, std::string root, std::shared_ptr<block::FaultInjector> faults);
  // openat2 beneath the root; "" is the root itself.
  Result<int> OpenBeneath(const std::string& path, int flags, mode_t mode = 0);
  // A directory to work in: the root, or an O_PATH descriptor held while this lives.
  struct Dir {
    std::shared_ptr<const DirFdCache::Fd> held;
    int fd = -1;
  };
  // The parent directory of `path` and the last component.
  Result<Dir> Parent(const std::string& path, std::string* name);
  // fstat of `path` opened O_PATH with `flags` added (O_NOFOLLOW: lstat).
  Result<vfs::NodeAttr> StatBeneath(const std::string& path, int flags);
  // open(O_CREAT|O_RDWR) of a regular file beneath the root, and its fstat in *st.
  Result<int> CreateFd(const std::string& path, mode_t mode, bool exclusive, struct stat* st);
  // Gives the entry `name` in `dirfd`, just made (open as `fd`, if not -1), to the thread's
  // Creator (creator.h) when this process is root and the creator is someone else; the group
  // stays the host's choice in a set-group-ID directory. On failure the entry is removed again
  // and the error returned.
  Status GiveToCreator(int dirfd, const std::string& name, bool is_dir, int fd = -1);
  // The subject as a path for the l*xattr calls: /proc/self/fd/DIR/NAME, DIR a descriptor of
  // its directory (kept open by `held`) beneath the root, NAME never followed; for the root,
  // or a file by its own descriptor, /proc/self/fd/FD (then `follow` is set: call the non-l
  // variants, which follow that link to the file).
  struct XattrTarget {
    std::shared_ptr<const DirFdCache::Fd> held;
    std::string proc_path;
    bool follow = false;
  };
  Result<XattrTarget> XattrTargetOf(const vfs::XattrSubject& of);
  // Opens the parents of `from` and `to` and runs op(from_dir, from_name, to_dir, to_name),
  // which returns 0 or -1 with errno (renameat, linkat).
  Status WithTwoParents(const std::string& from, const std::string& to,
                        const std::function<int(int, const char*, int, const char*)>& op);

  const int root_fd_;
  const std::string root_;
  const std::shared_ptr<block::FaultInjector> faults_;
  DirFdCache dirs_;  // directories beneath the root, by path
  // Resolves fault rule paths for the files' data paths (null if the root could not be dup'd:
  // rules then match the names errseq has seen only).
  std::shared_ptr<RuleResolver> resolver_;
};

}  // namespace errseq::fs

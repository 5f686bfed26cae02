// FileSystem: what a file system type (fs/) supplies to the VFS: names and attributes, and for
// each regular file the AddressSpaceOps that move its pages (mirrors inode_operations +
// super_operations, path-based). Paths given to it are already normalised by the VFS: relative
// to the root, "" for the root itself, no "." or ".." or empty components.
// Implementations must be thread-safe.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "errseq/core/status.h"
#include "errseq/mm/address_space_ops.h"
#include "errseq/mm/mapping.h"
#include "errseq/mm/readahead.h"

namespace errseq::vfs {

struct NodeAttr {
  uint64_t ino = 0;
  mode_t mode = 0;  // type and permission bits
  uint64_t size = 0;
  uint32_t nlink = 1;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t atime_ns = 0, mtime_ns = 0, ctime_ns = 0;
  // The data of a block device (a device file's, whose pages are the bdev mapping on Linux):
  // writes never extend it, truncate is refused, and the VFS treats it as Linux treats a
  // block device (SuperBlock: where its errors are recorded, its last close, syncfs).
  bool block_device = false;
  // st_blocks (512-byte units) as the store counts them; -1: unknown (reported from the size).
  int64_t blocks = -1;
};

// chmod, chown and utimensat in one request (what FUSE's SETATTR carries besides the size).
// Absent fields are left as they are. A time may be UTIME_NOW in tv_nsec.
struct AttrChange {
  std::optional<mode_t> mode;  // permission bits only
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<timespec> atime, mtime;
  bool empty() const { return !mode && !uid && !gid && !atime && !mtime; }
  // What `a` describes after the change, made at `now` (ns since the epoch: UTIME_NOW, and
  // the ctime every change sets).
  void ApplyTo(NodeAttr& a, int64_t now) const {
    auto ns = [now](const timespec& t) {
      return t.tv_nsec == UTIME_NOW ? now : int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
    };
    if (mode) a.mode = (a.mode & S_IFMT) | *mode;
    if (uid) a.uid = *uid;
    if (gid) a.gid = *gid;
    if (atime && atime->tv_nsec != UTIME_OMIT) a.atime_ns = ns(*atime);
    if (mtime && mtime->tv_nsec != UTIME_OMIT) a.mtime_ns = ns(*mtime);
    a.ctime_ns = now;
  }
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  mode_t type;  // S_IFREG, S_IFDIR, ...
};

// An open directory, as the file system holds it for one open file description (opendir(2)):
// what is done through the description reaches the directory itself, whatever its name is
// now (renamed, or removed while open).
class Directory {
 public:
  virtual ~Directory() = default;
  // Its entries now, without "." and "..".
  virtual Result<std::vector<DirEntry>> List() = 0;
  // fsync(2) (fdatasync with `datasync`) of the directory: the names made, renamed and
  // removed in it are durable when it returns OK.
  virtual Status Sync(bool datasync) = 0;
  // fstat(2) of the directory (a removed one: link count 0).
  virtual Result<NodeAttr> Stat() = 0;
  // fchmod(2), fchown(2), futimens(2) of the directory.
  virtual Status SetAttr(const AttrChange& change) = 0;
};

// Whose extended attributes a call is about: the file behind `data`, or the directory `dir`,
// where one is set (as fgetxattr(2) and the other f*xattr calls: whatever its names are now,
// none after an unlink or rmdir), else the file at `path` (normalized, beneath the root).
struct XattrSubject {
  std::string path;
  mm::AddressSpaceOps* data = nullptr;
  Directory* dir = nullptr;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual std::string TypeName() const = 0;

  // lstat: a symlink at the end of `path` is described, not followed.
  virtual Result<NodeAttr> GetAttr(const std::string& path) = 0;
  // stat: follows a symlink at the end (within the file system), as open(2) does.
  virtual Result<NodeAttr> GetAttrFollow(const std::string& path) { return GetAttr(path); }
  // Creates a regular file; with `exclusive`, -EEXIST if it exists, else opens it.
  virtual Result<NodeAttr> Create(const std::string& path, mode_t mode, bool exclusive) = 0;
  // The data path of one regular file, for the lifetime of its in-core inode.
  virtual Result<std::shared_ptr<mm::AddressSpaceOps>> OpenData(const std::string& path,
                                                                const NodeAttr& attr) = 0;
  // Create, then OpenData, in one step where the file system can do it cheaper (one host
  // open instead of two).
  struct Created {
    NodeAttr attr;
    std::shared_ptr<mm::AddressSpaceOps> data;
  };
  virtual Result<Created> CreateOpen(const std::string& path, mode_t mode, bool exclusive) {
    auto attr = Create(path, mode, exclusive);
    if (!attr.ok()) return attr.status();
    auto data = OpenData(path, *attr);
    if (!data.ok()) return data.status();
    return Created{*attr, std::move(*data)};
  }
  // fstat(2) of the file behind `data` (whatever its names are now); -EOPNOTSUPP where the
  // file system has no such handle (the caller asks by path instead).
  virtual Result<NodeAttr> GetAttrOf(mm::AddressSpaceOps& /*data*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  // chmod / chown / utimensat of the file behind `data` (fchmod, fchown, futimens: whatever its
  // names are now, none after an unlink); -EOPNOTSUPP where the file system has no such handle
  // (the caller asks by path instead).
  virtual Status SetAttrOf(mm::AddressSpaceOps& /*data*/, const AttrChange& /*change*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  // Who the regular file `path` is, for a fault rule armed on it now (block::FaultRule::file):
  // a string that no other file, and no later file given the name, has. Empty where the file
  // system cannot tell (its rules then match by name).
  virtual std::string FileIdentity(const std::string& /*path*/) { return {}; }
  // The largest readahead window of the device under the files, in KiB (its bdi's
  // read_ahead_kb, which bounds Linux's readahead over it); 0: read only the pages asked for.
  virtual size_t ReadaheadKb() { return mm::kDefaultReadaheadPages * 4; }
  // The file's names changed (rename, link, unlink of one of its links): fault rules match
  // `path` and any of `other_names`.
  virtual void Renamed(mm::AddressSpaceOps& /*data*/, const std::string& /*path*/,
                       const std::vector<std::string>& /*other_names*/) {}
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // chmod / chown / utimensat of `path`, never following a symlink at its end.
  virtual Status SetAttr(const std::string& path, const AttrChange& change) = 0;
  virtual Status Mkdir(const std::string& path, mode_t mode) = 0;
  virtual Status Rmdir(const std::string& path) = 0;
  virtual Status Unlink(const std::string& path) = 0;
  // unlink(2) of anything but a directory (-EISDIR), returning what the name described just
  // before (lstat): the VFS needs its inode number and link count.
  virtual Result<NodeAttr> UnlinkFile(const std::string& path) {
    auto attr = GetAttr(path);
    if (!attr.ok()) return attr.status();
    if (S_ISDIR(attr->mode)) return Status::Error(-21 /*EISDIR*/);
    if (Status s = Unlink(path); !s.ok()) return s;
    return attr;
  }
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // renameat2(2) with RENAME_NOREPLACE (-EEXIST if `to` exists) or RENAME_EXCHANGE (both
  // must exist; they swap names). -EINVAL where the file system cannot do it atomically.
  virtual Status RenameFlags(const std::string& /*from*/, const std::string& /*to*/,
                             unsigned /*flags*/) {
    return Status::Error(-22 /*EINVAL*/);
  }
  // mknod(2) of a FIFO or a unix socket (S_IFIFO / S_IFSOCK in `mode`). Device nodes and
  // anything else: -EPERM. -EPERM too where the namespace is fixed.
  virtual Status Mknod(const std::string& /*path*/, mode_t /*mode*/) {
    return Status::Error(-1 /*EPERM*/);
  }
  // statfs(2): block and inode counts of what holds the files.
  virtual Result<struct statvfs> StatFs() = 0;
  // Extended attributes of the subject (by path: the path itself, a symlink at its end not
  // followed), as lgetxattr(2), lsetxattr(2) (`flags` XATTR_CREATE / XATTR_REPLACE),
  // llistxattr(2) (the names, each ending in NUL) and lremovexattr(2), or their f*xattr forms.
  // -EOPNOTSUPP where there are none.
  virtual Result<std::string> GetXattr(const XattrSubject& /*of*/, const std::string& /*name*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  virtual Status SetXattr(const XattrSubject& /*of*/, const std::string& /*name*/,
                          const std::string& /*value*/, int /*flags*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  virtual Result<std::string> ListXattr(const XattrSubject& /*of*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  virtual Status RemoveXattr(const XattrSubject& /*of*/, const std::string& /*name*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
  // link(2): a new name `to` for the file at `from` (a symlink at the end of `from` is linked
  // itself, not followed). -EPERM where the namespace is fixed.
  virtual Status Link(const std::string& from, const std::string& to) = 0;
  // symlink(2) and readlink(2). The target is text: nothing here ever follows it.
  virtual Status Symlink(const std::string& target, const std::string& path) = 0;
  virtual Result<std::string> Readlink(const std::string& path) = 0;
  virtual Result<std::vector<DirEntry>> ReadDir(const std::string& path) = 0;
  // Opens the directory at `path`, following a symlink at its end as open(2) does (within the
  // file system). The default reaches it by its path at each call (ReadDir, GetAttrFollow)
  // and has nothing to sync: for file systems whose names are never written anywhere (a
  // device shown as one file).
  virtual Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& path);
  // Makes everything written durable (host syncfs, device flush).
  virtual Status SyncFs() = 0;
  // The mapping that holds this fs's metadata blocks, if it has one (ext2 images); the seed's
  // per-file metadata cursor samples and checks it (md_cursor=on).
  virtual mm::Mapping* MetadataMapping() { return nullptr; }
};

// The default Directory: by path, nothing to sync.
inline Result<std::unique_ptr<Directory>> FileSystem::OpenDirectory(const std::string& path) {
  class ByPath final : public Directory {
   public:
    ByPath(FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
    Result<std::vector<DirEntry>> List() override { return fs_->ReadDir(path_); }
    Status Sync(bool /*datasync*/) override { return Status::Ok(); }
    Result<NodeAttr> Stat() override { return fs_->GetAttrFollow(path_); }
    Status SetAttr(const AttrChange& change) override { return fs_->SetAttr(path_, change); }

   private:
    FileSystem* const fs_;
    const std::string path_;
  };
  auto attr = GetAttrFollow(path);
  if (!attr.ok()) return attr.status();
  if (!S_ISDIR(attr->mode)) return Status::Error(-20 /*ENOTDIR*/);
  return std::unique_ptr<Directory>(std::make_unique<ByPath>(this, path));
}

}  // namespace errseq::vfs

// Inode: one file in core (mirrors struct inode): its number, type, times and, for a regular
// file or a device, its Mapping, which holds i_size and the errseq `wb_err` (a directory has
// an errseq of its own, `dir_wb_err`). A recycled in-core slot never exists here: every Inode
// object is new, so its errseqs start at zero (§2).
// Thread-safety: the identity fields are const; mode, owner and times are atomics (chmod and
// chown change them); `path_`, `other_names_`, `open_count_`, `closing_` and `unlinked_` are
// guarded by the owning SuperBlock's `inodes_mu_`. `io_mu_` is the kernel's i_rwsem and
// invalidate_lock in one: reads and writes hold it shared, truncate, fallocate and O_DIRECT
// writes exclusive, so that a page read in from the store can never carry bytes from before a
// truncate or punch that was under way, nor a cached page hide what a direct write put in the
// store.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "errseq/core/errseq.h"
#include "errseq/mm/mapping.h"

namespace errseq::vfs {

class SuperBlock;

class Inode {
 public:
  Inode(uint64_t ino, mode_t mode, bool block_device, std::shared_ptr<mm::Mapping> mapping,
        std::string path)
      : ino_(ino), mode_(mode), block_device_(block_device), mapping_(std::move(mapping)),
        path_(std::move(path)) {}

  uint64_t ino() const { return ino_; }
  mode_t mode() const { return mode_.load(std::memory_order_relaxed); }
  bool is_dir() const { return S_ISDIR(mode()); }
  bool has_data() const { return mapping_ != nullptr; }
  bool block_device() const { return block_device_; }
  // REQUIRES: has_data()
  mm::Mapping& mapping() const { return *mapping_; }
  const std::shared_ptr<mm::Mapping>& mapping_ptr() const { return mapping_; }
  uint64_t size() const { return mapping_ ? mapping_->size() : 0; }

  // A directory's own errseq: a directory has no Mapping here, but a failed write of its
  // blocks is recorded for its inode as for a file's pages (SEMANTICS.md §2), so each
  // description's next fsync of the directory is told once. Unused for other files.
  Errseq& dir_wb_err() { return dir_wb_err_; }

  std::atomic<int64_t> atime_ns{0}, mtime_ns{0}, ctime_ns{0};
  std::atomic<uid_t> uid{0};
  std::atomic<gid_t> gid{0};

 private:
  friend class SuperBlock;
  const uint64_t ino_;
  std::atomic<mode_t> mode_;  // the type bits never change
  const bool block_device_;
  const std::shared_ptr<mm::Mapping> mapping_;
  Errseq dir_wb_err_;  // atomic (Errseq is thread-safe)
  // The name it was last opened by (fault rules and the ledger name files by it), and the
  // other names (hard links) it is known to have. When path_ is unlinked, one of those takes
  // its place.
  std::string path_;     // GUARDED_BY(SuperBlock::inodes_mu_)
  std::vector<std::string> other_names_;  // GUARDED_BY(SuperBlock::inodes_mu_)
  int open_count_ = 0;   // GUARDED_BY(SuperBlock::inodes_mu_)
  // A block device's last closes still writing it back and dropping its pages
  // (SuperBlock::LastDeviceClose): the device counts as open until they are done.
  int closing_ = 0;      // GUARDED_BY(SuperBlock::inodes_mu_)
  bool unlinked_ = false;  // GUARDED_BY(SuperBlock::inodes_mu_)
  // Lock order: before SuperBlock::inodes_mu_ and the Mapping's lock. Writeback never takes it.
  mutable std::shared_mutex io_mu_;
};

}  // namespace errseq::vfs

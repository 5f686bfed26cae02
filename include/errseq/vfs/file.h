// File: one open file description (mirrors struct file). Created by open, shared by every
// descriptor dup'd from it (one cursor for all of them). It carries the cursors the reporting
// rules advance: `f_wb_err` on the file's mapping and `f_sb_err` on the super block, both sampled
// at open, and the seed's optional metadata cursor `f_md_wb_err`. A directory's description
// also holds the file system's handle of the directory (fsync, fstat and xattrs go through it).
// Thread-safety: `pos_mu_` guards the position, `mu_` the cursors; the rest is const.
// REQUIRES: a File does not outlive the SuperBlock that opened it.
#pragma once

#include <fcntl.h>

#include <memory>
#include <mutex>

#include "errseq/core/errseq.h"
#include "errseq/mm/readahead.h"
#include "errseq/vfs/file_system.h"
#include "errseq/vfs/inode.h"

namespace errseq::vfs {

class File {
 public:
  File(SuperBlock* sb, std::shared_ptr<Inode> inode, int flags, uint64_t id, int pid,
       std::unique_ptr<Directory> dir = nullptr)
      : sb_(sb), inode_(std::move(inode)), dir_(std::move(dir)), flags_(flags), id_(id),
        pid_(pid) {}
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  uint64_t id() const { return id_; }
  int flags() const { return flags_; }
  int opener_pid() const { return pid_; }
  Inode& inode() const { return *inode_; }
  // The directory, for a directory's description; else nullptr.
  Directory* directory() const { return dir_.get(); }
  bool readable() const { return (flags_ & O_ACCMODE) != O_WRONLY; }
  bool writable() const { return (flags_ & O_ACCMODE) != O_RDONLY; }
  // The cursors, for tests and the ledger.
  errseq_t wb_cursor() const {
    std::lock_guard lock(mu_);
    return f_wb_err_;
  }
  errseq_t sb_cursor() const {
    std::lock_guard lock(mu_);
    return f_sb_err_;
  }

 private:
  friend class SuperBlock;
  SuperBlock* const sb_;
  const std::shared_ptr<Inode> inode_;
  const std::unique_ptr<Directory> dir_;
  const int flags_;
  const uint64_t id_;
  const int pid_;
  std::mutex pos_mu_;         // held across a read/write that uses the position (f_pos_lock)
  uint64_t pos_ = 0;          // GUARDED_BY(pos_mu_)
  mm::ReadaheadState ra_;     // GUARDED_BY(the inode's mapping's mu_): Mapping::Read uses it
  mutable std::mutex mu_;
  errseq_t f_wb_err_ = 0;     // GUARDED_BY(mu_)
  errseq_t f_sb_err_ = 0;     // GUARDED_BY(mu_)
  errseq_t f_md_wb_err_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace errseq::vfs

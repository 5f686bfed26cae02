// Target: what the scenario runner drives. A target is a place where file operations run and
// faults can be armed: the in-process library (LibTarget), and later a mounted errseqfs or the
// Linux kernel. Results are 0 / positive counts, or a negative errno, exactly as the syscalls
// would give them. Adding a target never touches the scenario code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "errseq/core/status.h"

namespace errseq::conform {

struct Mode {
  std::string profile;  // errseq, errseq-4.13, legacy, sticky
  std::string policy;   // clean, keep_dirty, revert, delayed
  std::string Name() const { return profile + "/" + policy; }
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string Name() const = 0;
  // "evict", "remount", "blockdev".
  virtual bool Has(const std::string& capability) const = 0;
  // Whether this target can run a mode at all (the kernel has only errseq/clean), and why not.
  virtual bool Supports(const Mode& mode, std::string* why) const = 0;

  // A fresh, empty file system in `mode`; Stop() tears it down.
  virtual Status Start(const Mode& mode) = 0;
  virtual Status Stop() = 0;

  // `path` is relative to the target's root; "@dev" is its block device file.
  virtual int Open(const std::string& path, int flags) = 0;  // a handle >= 0, or -errno
  virtual int Dup(int h) = 0;
  virtual int Close(int h) = 0;
  virtual int64_t Pwrite(int h, uint64_t off, const std::vector<uint8_t>& data) = 0;
  virtual int64_t Append(int h, const std::vector<uint8_t>& data) = 0;
  virtual int64_t Pread(int h, uint64_t off, std::vector<uint8_t>* data) = 0;  // data sized
  virtual int Fsync(int h) = 0;
  virtual int Fdatasync(int h) = 0;
  virtual int Syncfs(int h) = 0;
  virtual int SyncFileRange(int h, uint64_t off, uint64_t len, unsigned flags) = 0;
  virtual int Sync() = 0;
  virtual int Unlink(const std::string& path) = 0;
  // Arm a fault: op is read, write or all; `path` empty means the whole device.
  virtual int Fail(const std::string& op, const std::string& path, int err) = 0;
  virtual int Heal() = 0;
  virtual int Evict(const std::string& path) = 0;
  virtual int Remount() = 0;
};

}  // namespace errseq::conform

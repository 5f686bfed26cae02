// MountTarget: runs scenarios through a mounted errseqfs, with real syscalls from this process
// and the control socket as the fault driver (fail, heal, evict, sync).
//  - Managed (`errseqfs` binary given): for each mode it mounts a fresh errseqfs over a new
//    temporary directory with that profile and policy, and a second one in blockdev mode over
//    a 1 MiB image for "@dev"; remount restarts errseqfs on the same source.
//  - Existing (`--root DIR --ctl SOCKET`): drives a mount someone else made; only the mode the
//    mount runs is supported, and remount and @dev are not available.
// sync(2) through FUSE never reaches the server (the kernel's writeback cache is off), so `sync`
// is sync(2) plus a `sync` command on each control socket. syncfs is the real syscall, which
// needs the super-block error mirror (SEMANTICS.md §9); until that exists the target says it
// cannot syncfs and the runner skips scenarios that use it. sync_file_range with a wait flag
// never reaches a FUSE server at all (no FUSE request exists for it): skipped likewise.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "errseq/ctl/control_client.h"
#include "target.h"

namespace errseq::conform {

class MountTarget final : public Target {
 public:
  // Managed: launches `bin` per mode, with `options` (-o, comma-separated) added to its own.
  struct Errseqfs {
    std::string bin;
    std::string options;
  };
  explicit MountTarget(Errseqfs errseqfs);
  // Existing mount.
  MountTarget(std::string root, std::string ctl_socket);
  ~MountTarget() override;

  std::string Name() const override { return "mount"; }
  bool Has(const std::string& capability) const override;
  bool Supports(const Mode& mode, std::string* why) const override;
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

 private:
  struct Instance {
    std::string source, mountpoint, socket;
    pid_t pid = -1;
  };
  Status Launch(Instance& in, const std::string& extra_opts);
  int Shutdown(Instance& in);  // errseqfs's exit status
  // One control command; its answer in *reply when given.
  int CtlCall(const std::string& socket, const std::string& cmd, const std::string& path = "",
              const std::string& op = "", int err = 0, nlohmann::json* reply = nullptr);
  std::string Host(const std::string& path) const;

  const bool managed_;
  const std::string bin_;
  const std::string bin_options_;  // managed: more -o options for errseqfs
  std::string root_, ctl_;  // existing mount
  mutable bool syncfs_mirror_ = false;  // the existing mount's stats say its mirror is on
  // Existing mount: each run works in a fresh directory under the root ("NAME/"), so no file,
  // in-core inode or error of an earlier run is seen again. Empty for launched mounts.
  std::string scope_;
  int runs_ = 0;
  Mode mode_;
  std::string dir_;
  Instance main_, dev_;
  std::map<int, std::string> handles_;  // fd -> the scenario's path ("@dev": the device)
  // The faults armed since the last heal, oldest first ({op, path, errno}): a remount launches
  // new errseqfs processes, and they are armed again, as the kernel target's faults (in the
  // file below its loop device) outlive its remount.
  struct Armed {
    std::string op, path;
    int err;
  };
  std::vector<Armed> armed_;
};

}  // namespace errseq::conform

// Helpers for tests that mount errseqfs for real: start it in the foreground as a child
// process, wait until the mount is up, run errseqctl, unmount and collect the exit status.
// Tests that need root and /dev/fuse skip with the reason when those are missing.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <utility>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/temp_dir.h"

namespace errseq::testing {

inline std::string FuseSkipReason() {
  if (::geteuid() != 0) return "needs root to mount FUSE";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) return "no /dev/fuse on this machine";
  if (std::system("command -v fusermount3 >/dev/null 2>&1") != 0) return "fusermount3 missing";
  return "";
}

// Skips the running test, with the reason, where mounting FUSE is impossible.
#define SKIP_WITHOUT_FUSE()                                 \
  do {                                                      \
    std::string why = ::errseq::testing::FuseSkipReason();  \
    if (!why.empty()) GTEST_SKIP() << why;                  \
  } while (0)

inline bool IsMounted(const std::string& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + mnt + " ") != std::string::npos) return true;
  }
  return false;
}

// Aborts the FUSE connection of the mount at `mnt` through fusectl (a server that cannot
// finish dying is waiting for its own connection). The connection is named after the minor
// device number mountinfo shows for the mount. Returns whether one was aborted.
inline bool AbortFuseConnection(const std::string& mnt) {
  ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);  // may be mounted
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  bool aborted = false;
  while (std::getline(in, line)) {
    if (line.find(" " + mnt + " ") == std::string::npos) continue;
    // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ..."
    std::istringstream f(line);
    std::string id, parent, dev;
    f >> id >> parent >> dev;
    std::string minor = dev.substr(dev.find(':') + 1);
    std::ofstream abort("/sys/fs/fuse/connections/" + minor + "/abort");
    abort << "1" << std::endl;
    aborted = aborted || abort.good();
  }
  return aborted;
}

// Waits up to `timeout` for `pid` to end; its exit status (128+signal), or -1 if it did not.
// The fuse module's enable_uring parameter set to `value` until Restore() or the end of the
// scope, which put the old value back. ok() is false (and nothing changed) where it cannot be
// written (not root, a kernel without it).
class EnableUringParam {
 public:
  static constexpr const char* kPath = "/sys/module/fuse/parameters/enable_uring";
  explicit EnableUringParam(const char* value) {
    if (::access(kPath, W_OK) != 0) return;
    old_ = Value();
    std::ofstream(kPath) << value;
    ok_ = true;
  }
  ~EnableUringParam() { Restore(); }
  EnableUringParam(const EnableUringParam&) = delete;
  EnableUringParam& operator=(const EnableUringParam&) = delete;
  bool ok() const { return ok_; }
  const std::string& old() const { return old_; }
  void Restore() {
    if (ok_) std::ofstream(kPath) << old_;
    ok_ = false;
  }
  static std::string Value() {
    std::string v;
    std::ifstream(kPath) >> v;
    return v;
  }

 private:
  std::string old_;
  bool ok_ = false;
};

inline int WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  do {
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  } while (std::chrono::steady_clock::now() < end);
  return -1;
}

// Runs a program, returns its exit status (or 128+signal); stdout+stderr into *out.
inline int RunProgram(const std::vector<std::string>& argv, std::string* out = nullptr) {
  std::string cmd;
  for (const auto& a : argv) {  // single-quoted, with ' written as '\''
    cmd += "'";
    for (char c : a) cmd += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += "' ";
  }
  cmd += "2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int st = ::pclose(p);
  if (out) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#if defined(ERRSEQFS_BIN) && defined(ERRSEQCTL_BIN)  // tests that mount errseqfs itself
class Mount {
 public:
  explicit Mount(std::vector<std::string> opts = {}, bool blockdev_image = false)
      : opts_(std::move(opts)) {
    src_ = dir_ / "src";
    mnt_ = dir_ / "mnt";
    sock_ = dir_ / "ctl.sock";
    ::mkdir(mnt_.c_str(), 0755);
    if (blockdev_image) {
      std::ofstream(src_).close();
      ::truncate(src_.c_str(), 1 << 20);
    } else {
      ::mkdir(src_.c_str(), 0755);
    }
  }
  ~Mount() {
    if (pid_ > 0) Unmount();
  }

  // Starts errseqfs -f; true once the mount is up.
  // ERRSEQ_TEST_MOUNT_OPTIONS (ctest sets it) goes first: a test's own options override it.
  bool Start() {
    std::string o = "ctl=" + sock_;
    if (const char* extra = std::getenv("ERRSEQ_TEST_MOUNT_OPTIONS"); extra && *extra) {
      o += std::string(",") + extra;
    }
    for (const auto& x : opts_) o += "," + x;
    log_ = dir_ / "errseqfs.log";
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // If the test process dies without its destructors (a signal, ctest's timeout), errseqfs
      // gets SIGTERM, unmounts and writes back, instead of staying mounted.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close_range(3, ~0u, 0);  // nothing of the test's: its files, a mount's among them
      if (files_limit_) {
        const rlimit rl{files_limit_->first, files_limit_->second};
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(126);
      }
      ::execl(ERRSEQFS_BIN, "errseqfs", "-f", "-o", o.c_str(), src_.c_str(), mnt_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Up to 20 s: with a sanitizer build compiling beside it, 5 s were not always enough for
    // errseqfs to mount here (the differential test failed to start it twice, 2026-11-27).
    for (int i = 0; i < 800; ++i) {
      if (IsMounted(mnt_) && ::access(sock_.c_str(), F_OK) == 0) return true;
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // fusermount3 -u, then errseqfs's exit status.
  int Unmount() {
    if (pid_ <= 0) return -1;
    RunProgram({"fusermount3", "-u", mnt_});
    int st = 0;
    for (int i = 0; i < 400; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    Kill();
    return -2;  // hung
  }
  // SIGKILL; if it cannot finish dying within 10 s, aborts its FUSE connection (and says so
  // in the test output) so that the test run goes on. Returns whether it died by itself.
  bool Kill() {
    if (pid_ <= 0) return true;
    ::kill(pid_, SIGKILL);
    bool died = WaitPid(pid_, std::chrono::seconds(10)) >= 0;
    if (!died) {
      ADD_FAILURE() << "errseqfs did not die from SIGKILL within 10 s; aborting its connection";
      AbortFuseConnection(mnt_);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    pid_ = -1;
    RunProgram({"fusermount3", "-u", "-z", mnt_});
    return died;
  }
  // Waits for errseqfs to exit by itself (after errseqctl crash).
  int WaitExit() {
    int st = 0;
    for (int i = 0; i < 400 && pid_ > 0; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return -2;
  }

  int Ctl(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), {ERRSEQCTL_BIN, "-s", sock_});
    return RunProgram(args, out);
  }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // True once `errseqctl stats` says the syncfs mirror is on (it starts just after mounting).
  bool WaitSyncfsMirror() {
    for (int i = 0; i < 100; ++i) {
      std::string out;
      if (Ctl({"stats"}, &out) == 0 && out.find("syncfs_mirror: true") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  pid_t pid() const { return pid_; }
  // errseqfs starts with this RLIMIT_NOFILE (soft, hard) instead of the test's (before Start).
  void LimitFiles(rlim_t soft, rlim_t hard) { files_limit_ = {soft, hard}; }
  // Mount `dir` instead of the test's own source directory (before Start).
  void UseSource(std::string dir) { src_ = std::move(dir); }

  std::string Path(const std::string& rel) const { return mnt_ + "/" + rel; }
  const std::string& mnt() const { return mnt_; }
  const std::string& src() const { return src_; }
  const std::string& sock() const { return sock_; }
  // A path in the test's own temporary directory, outside the mount and its source.
  std::string Scratch(const std::string& name) const { return dir_ / name; }

 private:
  TempDir dir_;
  std::vector<std::string> opts_;
  std::string src_, mnt_, sock_, log_;
  std::optional<std::pair<rlim_t, rlim_t>> files_limit_;
  pid_t pid_ = -1;
};
#endif

}  // namespace errseq::testing

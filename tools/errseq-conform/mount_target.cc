// MountTarget (see mount_target.h).
#include "mount_target.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "errseq/core/errno_name.h"

namespace errseq::conform {
namespace {

bool IsMounted(const std::string& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + mnt + " ") != std::string::npos) return true;
  }
  return false;
}

int Errno(long rc) { return rc < 0 ? -errno : 0; }

// errseqfs starts its syncfs mirror just after mounting: syncfs reports nothing until then.
bool MirrorActive(const std::string& socket) {
  ctl::ControlClient c;
  if (!c.Connect(socket).ok()) return false;
  auto r = c.Call({{"cmd", "stats"}});
  return r.ok() && (*r).value("syncfs_mirror", false);
}

}  // namespace

MountTarget::MountTarget(Errseqfs errseqfs)
    : managed_(true), bin_(std::move(errseqfs.bin)), bin_options_(std::move(errseqfs.options)) {}

MountTarget::MountTarget(std::string root, std::string ctl_socket)
    : managed_(false), root_(std::move(root)), ctl_(std::move(ctl_socket)) {}

MountTarget::~MountTarget() { Stop().IgnoreError(); }

bool MountTarget::Has(const std::string& capability) const {
  if (capability == "syncfs") return managed_ || syncfs_mirror_;  // errseqfs's §9 mirror
  // The kernel never sends sync_file_range to a FUSE server (there is no FUSE request for it):
  // its wait flags check only the kernel's own inode, so no FUSE file system can report here.
  if (capability == "sync_file_range-wait") return false;
  if (capability == "evict") return true;
  return managed_;  // remount, blockdev
}

bool MountTarget::Supports(const Mode& mode, std::string* why) const {
  if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
    *why = "needs root and /dev/fuse to mount";
    return false;
  }
  if (managed_) return true;
  ctl::ControlClient c;
  if (!c.Connect(ctl_).ok()) {
    *why = "cannot reach " + ctl_;
    return false;
  }
  auto r = c.Call({{"cmd", "stats"}});
  if (!r.ok()) {
    *why = r.status().message();
    return false;
  }
  if ((*r).value("profile", "") != mode.profile || (*r).value("policy", "") != mode.policy) {
    *why = fmt::format("the mount runs {}/{}", (*r).value("profile", "?"), (*r).value("policy", "?"));
    return false;
  }
  syncfs_mirror_ = (*r).value("syncfs_mirror", false);
  return true;
}

Status MountTarget::Launch(Instance& in, const std::string& extra_opts) {
  std::string opts = fmt::format("ctl={},profile={},policy={}{}{}{}", in.socket, mode_.profile,
                                 mode_.policy, bin_options_.empty() ? "" : ",", bin_options_,
                                 extra_opts);
  const pid_t parent = ::getpid();
  in.pid = ::fork();
  if (in.pid == 0) {
    // If errseq-conform dies without unmounting (a signal), its errseqfs gets SIGTERM,
    // unmounts and writes back, instead of staying mounted.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    int fd = ::open((dir_ + "/errseqfs.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(bin_.c_str(), "errseqfs", "-f", "-o", opts.c_str(), in.source.c_str(),
            in.mountpoint.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 400; ++i) {
    if (IsMounted(in.mountpoint) && ::access(in.socket.c_str(), F_OK) == 0 &&
        MirrorActive(in.socket)) {
      return Status::Ok();
    }
    int st;
    if (::waitpid(in.pid, &st, WNOHANG) == in.pid) {
      in.pid = -1;
      return Status::Error(-EIO, "errseqfs exited at mount; see " + dir_ + "/errseqfs.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return Status::Error(-ETIMEDOUT, "errseqfs did not come up");
}

int MountTarget::Shutdown(Instance& in) {
  if (in.pid <= 0) return 0;
  std::string cmd = "fusermount3 -u '" + in.mountpoint + "' 2>/dev/null";
  (void)!std::system(cmd.c_str());
  int st = 0;
  for (int i = 0; i < 800; ++i) {
    if (::waitpid(in.pid, &st, WNOHANG) == in.pid) {
      in.pid = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(in.pid, SIGKILL);
  ::waitpid(in.pid, &st, 0);
  in.pid = -1;
  cmd = "fusermount3 -u -z '" + in.mountpoint + "' 2>/dev/null";
  (void)!std::system(cmd.c_str());
  return -1;
}

Status MountTarget::Start(const Mode& mode) {
  Stop().IgnoreError();
  mode_ = mode;
  handles_.clear();
  armed_.clear();
  if (!managed_) {
    main_ = {root_, root_, ctl_, -1};
    scope_ = fmt::format("errseq-conform-{}-{}", ::getpid(), ++runs_);
    if (::mkdir((root_ + "/" + scope_).c_str(), 0755) != 0) {
      return Status::FromErrno(errno, fmt::format("cannot create {}/{}", root_, scope_));
    }
    scope_ += "/";
    return Status::Ok();
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "errseq-mount-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return Status::FromErrno(errno, "mkdtemp");
  dir_ = tmpl;
  main_ = {dir_ + "/src", dir_ + "/mnt", dir_ + "/ctl.sock", -1};
  dev_ = {dir_ + "/dev.img", dir_ + "/devmnt", dir_ + "/dev.sock", -1};
  ::mkdir(main_.source.c_str(), 0755);
  ::mkdir(main_.mountpoint.c_str(), 0755);
  ::mkdir(dev_.mountpoint.c_str(), 0755);
  std::ofstream(dev_.source).close();
  if (::truncate(dev_.source.c_str(), 1 << 20) != 0) return Status::FromErrno(errno, "truncate");
  if (Status s = Launch(main_, ""); !s.ok()) return s;
  return Launch(dev_, ",fs=blockdev");
}

Status MountTarget::Stop() {
  for (auto& [fd, path] : handles_) ::close(fd);
  handles_.clear();
  if (!managed_) {
    if (!scope_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_ + "/" + scope_, ec);
      scope_.clear();
    }
    return Status::Ok();
  }
  Shutdown(main_);
  Shutdown(dev_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
  return Status::Ok();
}

std::string MountTarget::Host(const std::string& path) const {
  if (path == "@dev") return dev_.mountpoint + "/dev.img";
  return main_.mountpoint + "/" + scope_ + path;
}

int MountTarget::Open(const std::string& path, int flags) {
  int fd = ::open(Host(path).c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  handles_[fd] = path;
  return fd;
}

int MountTarget::Dup(int h) {
  int fd = ::fcntl(h, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return -errno;
  handles_[fd] = handles_[h];
  return fd;
}

int MountTarget::Close(int h) {
  auto it = handles_.find(h);
  const bool dev = it != handles_.end() && it->second == "@dev";
  handles_.erase(h);
  const int r = Errno(::close(h));
  const bool last = std::none_of(handles_.begin(), handles_.end(),
                                 [](const auto& x) { return x.second == "@dev"; });
  // The device's last close writes it back and drops its pages (Linux's blkdev_release, done
  // before close(2) returns); errseqfs does it at the RELEASE, which close(2) on a FUSE mount
  // does not wait for. So wait until errseqfs holds no description of the device (2 s at
  // most): its `evict` answers "open" until then, and drops nothing a last close left.
  if (dev && last && managed_) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    nlohmann::json reply;
    while (CtlCall(dev_.socket, "evict", "dev.img", "", 0, &reply) == 0 &&
           reply.value("why", "") == "open" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return r;
}

int64_t MountTarget::Pwrite(int h, uint64_t off, const std::vector<uint8_t>& data) {
  ssize_t n = ::pwrite(h, data.data(), data.size(), static_cast<off_t>(off));
  return n < 0 ? -errno : n;
}

int64_t MountTarget::Append(int h, const std::vector<uint8_t>& data) {
  ssize_t n = ::write(h, data.data(), data.size());
  return n < 0 ? -errno : n;
}

int64_t MountTarget::Pread(int h, uint64_t off, std::vector<uint8_t>* data) {
  ssize_t n = ::pread(h, data->data(), data->size(), static_cast<off_t>(off));
  return n < 0 ? -errno : n;
}

int MountTarget::Fsync(int h) { return Errno(::fsync(h)); }
int MountTarget::Fdatasync(int h) { return Errno(::fdatasync(h)); }
int MountTarget::Syncfs(int h) { return Errno(::syncfs(h)); }
int MountTarget::SyncFileRange(int h, uint64_t off, uint64_t len, unsigned flags) {
  return Errno(::sync_file_range(h, static_cast<off_t>(off), static_cast<off_t>(len), flags));
}

int MountTarget::CtlCall(const std::string& socket, const std::string& cmd,
                         const std::string& path, const std::string& op, int err,
                         nlohmann::json* reply) {
  ctl::ControlClient c;
  if (Status s = c.Connect(socket); !s.ok()) return s.err();
  nlohmann::json req = {{"cmd", cmd}};
  if (!path.empty()) req["path"] = path;
  if (cmd == "fail") {
    req["op"] = op;
    req["what"] = path.empty() ? "device" : "data";
    req["errno"] = ErrnoName(err);
  }
  auto r = c.Call(req);
  if (!r.ok()) return r.err();
  if (reply) *reply = *r;
  return (*r).value("ok", false) ? 0 : -EINVAL;
}

int MountTarget::Sync() {
  ::sync();
  int r = CtlCall(main_.socket, "sync");
  if (managed_ && r == 0) r = CtlCall(dev_.socket, "sync");
  return r;
}

int MountTarget::Unlink(const std::string& path) { return Errno(::unlink(Host(path).c_str())); }

int MountTarget::Fail(const std::string& op, const std::string& path, int err) {
  int r;
  if (path == "@dev") {
    r = CtlCall(dev_.socket, "fail", "", op, err);
  } else if (path.empty()) {  // the whole device: every mount this target runs
    r = CtlCall(main_.socket, "fail", "", op, err);
    if (managed_ && r == 0) r = CtlCall(dev_.socket, "fail", "", op, err);
  } else {
    r = CtlCall(main_.socket, "fail", scope_ + path, op, err);
  }
  if (r == 0) armed_.push_back({op, path, err});
  return r;
}

int MountTarget::Heal() {
  armed_.clear();
  int r = CtlCall(main_.socket, "heal");
  if (managed_ && r == 0) r = CtlCall(dev_.socket, "heal");
  return r;
}

int MountTarget::Evict(const std::string& path) {
  // The kernel may still hold the FUSE inode; drop its caches first, then ours.
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
  const bool dev = path == "@dev";
  const bool held = std::any_of(handles_.begin(), handles_.end(),
                                [&](const auto& h) { return h.second == path; });
  // close(2) of a file on a FUSE mount returns before errseqfs has the RELEASE: it may still
  // count a description the scenario closed. While the scenario holds none on `path`, ask again
  // while errseqfs answers "open" (2 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    nlohmann::json reply;
    int r = dev ? CtlCall(dev_.socket, "evict", "dev.img", "", 0, &reply)
                : CtlCall(main_.socket, "evict", scope_ + path, "", 0, &reply);
    if (r == -EINVAL) return 0;  // like drop_caches: a name that is gone has nothing to drop
    if (r != 0 || held || reply.value("why", "") != "open" ||
        std::chrono::steady_clock::now() > deadline) {
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int MountTarget::Remount() {
  if (!managed_) return -EOPNOTSUPP;
  if (!handles_.empty()) return -EBUSY;
  if (Shutdown(main_) < 0 || Shutdown(dev_) < 0) return -EIO;
  // An unmount that reports lost data still remounts: the scenario reads what is on disk.
  if (!Launch(main_, "").ok()) return -EIO;
  if (!Launch(dev_, ",fs=blockdev").ok()) return -EIO;
  std::vector<Armed> again = std::move(armed_);
  armed_.clear();
  for (const Armed& a : again) {
    if (int r = Fail(a.op, a.path, a.err); r != 0) return r;
  }
  return 0;
}

}  // namespace errseq::conform

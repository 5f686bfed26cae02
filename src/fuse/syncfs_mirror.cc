// SyncfsMirror: the kernel-side half of syncfs on an errseqfs mount (see
// include/errseq/fuse/syncfs_mirror.h and docs/errseqfs.md, "syncfs").
#include "errseq/fuse/syncfs_mirror.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>

#include <fmt/format.h>

#include "errseq/fuse/mount_info.h"

namespace errseq::fuse {
namespace {

std::string HiddenName() {
  std::random_device rd;
  return fmt::format(".errseqfs-syncfs-{}-{:08x}", ::getpid(), rd());
}

Status Errno(std::string_view what) {
  int e = errno;
  return Status::Error(-e, fmt::format("{}: {}", what, std::strerror(e)));
}

}  // namespace

SyncfsMirror::SyncfsMirror(vfs::SuperBlock& sb, std::string mountpoint)
    : sb_(sb), mountpoint_(std::move(mountpoint)), name_(HiddenName()) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

SyncfsMirror::~SyncfsMirror() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void SyncfsMirror::Start() {
  if (thread_.joinable() || wake_fd_ < 0) return;
  thread_ = std::thread([this] { Main(); });
}

void SyncfsMirror::Stop() {
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
}

void SyncfsMirror::Wake() {
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
}

void SyncfsMirror::Record(int err) {
  if (err == 0 || sb_.options().profile == vfs::Profile::kLegacy) return;
  {
    std::lock_guard lock(mu_);
    pending_err_ = err;
    push_ = true;
    ++recorded_;
  }
  Wake();
}

bool SyncfsMirror::IsHidden(const char* name, pid_t requester) const {
  return requester != 0 && requester == tid_.load() && name_ == name;
}

struct stat SyncfsMirror::Attr() const {
  struct stat st {};
  st.st_ino = kIno;
  st.st_mode = S_IFREG | 0600;
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(kSize);
  st.st_blksize = kSize;
  st.st_blocks = static_cast<blkcnt_t>(kSize / 512);
  st.st_uid = ::getuid();
  st.st_gid = ::getgid();
  return st;
}

int SyncfsMirror::OnWrite(uint64_t* token) {
  std::lock_guard lock(mu_);
  *token = recorded_;
  push_ = false;
  return std::exchange(pending_err_, 0);
}

void SyncfsMirror::AfterWrite(uint64_t token) {
  {
    std::lock_guard lock(mu_);
    if (token > handed_) handed_ = token;
  }
  handed_cv_.notify_all();
}

void SyncfsMirror::WaitHandedOver(std::chrono::milliseconds max) {
  if (!active()) return;
  std::unique_lock lock(mu_);
  const uint64_t target = recorded_;
  handed_cv_.wait_for(lock, max, [&] { return handed_ >= target || !active(); });
}

Status SyncfsMirror::Open() {
  mountinfo_fd_ = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (mountinfo_fd_ < 0) return Errno("/proc/self/mountinfo");
  struct statx stx {};
  if (::statx(AT_FDCWD, mountpoint_.c_str(), 0, STATX_MNT_ID, &stx) != 0) {
    return Errno(fmt::format("statx '{}'", mountpoint_));
  }
  if (!(stx.stx_mask & STATX_MNT_ID)) return Status::Error(-ENOSYS, "statx gives no mount id");
  mnt_id_ = stx.stx_mnt_id;
  // A private, detached clone of the mount: our open file pins it, not the visible mount, so
  // fusermount3 -u is not refused with EBUSY.
  tree_fd_ = ::open_tree(AT_FDCWD, mountpoint_.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree_fd_ < 0) return Errno("open_tree (needs CAP_SYS_ADMIN)");
  file_fd_ = ::openat(tree_fd_, name_.c_str(), O_RDWR | O_CLOEXEC);
  if (file_fd_ < 0) return Errno("opening the hidden file");
  // Into the kernel's page cache with read(2) first, where a READ the connection can no longer
  // carry is an error: mlock faulting it in then finds it there. Left to mlock, that READ
  // never ends once the connection is gone (mlock spun in the kernel after an abort: seen on
  // 6.18, errseqfs then never exited).
  {
    char page[kSize];
    const ssize_t n = ::pread(file_fd_, page, kSize, 0);
    if (n < 0) return Errno("reading the hidden file");
    if (n != static_cast<ssize_t>(kSize)) return Status::Error(-EIO, "the hidden file is short");
  }
  void* m = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, file_fd_, 0);
  if (m == MAP_FAILED) return Errno("mmap of the hidden file");
  map_ = m;
  // A resident page never needs a READ again: touching it after the connection is aborted
  // cannot raise SIGBUS.
  if (::mlock(map_, kSize) != 0) return Errno("mlock of the hidden file");
  return Status::Ok();
}

void SyncfsMirror::Close() {
  {
    std::lock_guard lock(mu_);
    active_.store(false, std::memory_order_release);
  }
  handed_cv_.notify_all();
  if (map_) ::munmap(map_, kSize);
  map_ = nullptr;
  for (int* fd : {&file_fd_, &tree_fd_, &mountinfo_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void SyncfsMirror::Main() {
  tid_.store(::gettid());
  Status st = Open();
  if (!st.ok()) {
    if (!stop_.load()) {
      std::fprintf(stderr,
                   "errseqfs: syncfs mirror off (%s): syncfs on the mount will report nothing; "
                   "`errseqctl syncfs PATH` still does\n",
                   st.message().c_str());
    }
    Close();
    return;
  }
  auto* page = static_cast<volatile unsigned char*>(map_);
  unsigned char stamp = 0;
  active_.store(true, std::memory_order_release);
  while (!stop_.load()) {
    bool push;
    {
      std::lock_guard lock(mu_);
      push = std::exchange(push_, false);
    }
    if (push) {
      page[0] = ++stamp;
      // Its WRITE fails on purpose, so msync reports an error here: expected.
      ::msync(map_, kSize, MS_SYNC);
      continue;  // more may have arrived meanwhile
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {mountinfo_fd_, POLLPRI, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &n, sizeof n);
    }
    if ((fds[1].revents & (POLLPRI | POLLERR)) && !MountPresent(mnt_id_, mountinfo_fd_)) {
      break;  // unmounted
    }
  }
  Close();
}

}  // namespace errseq::fuse

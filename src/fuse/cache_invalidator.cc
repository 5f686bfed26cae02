// CacheInvalidator (see include/errseq/fuse/cache_invalidator.h).
#define FUSE_USE_VERSION 312
#include "errseq/fuse/cache_invalidator.h"

#include <fuse3/fuse_lowlevel.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "errseq/fuse/mount_info.h"

namespace errseq::fuse {

CacheInvalidator::CacheInvalidator(fuse_session* se, std::string mountpoint)
    : se_(se), mountpoint_(std::move(mountpoint)) {
  ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);  // may be mounted
  const std::string dev = MountDevice(mountpoint_);
  if (!dev.empty()) {
    const std::string dir = "/sys/fs/fuse/connections/" + dev.substr(dev.find(':') + 1);
    conn_dir_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  thread_ = std::thread([this] { Main(); });
}

CacheInvalidator::~CacheInvalidator() {
  Stop();
  if (conn_dir_ >= 0) ::close(conn_dir_);
}

void CacheInvalidator::Queue(uint64_t ino) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back(ino);
    ++queued_;
  }
  cv_.notify_all();
}

void CacheInvalidator::WaitDone(std::chrono::milliseconds max) {
  std::unique_lock lock(mu_);
  const uint64_t target = queued_;
  cv_.wait_for(lock, max, [&] { return done_ >= target || finished_; });
}

void CacheInvalidator::Main() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    const uint64_t ino = queue_.front();
    queue_.pop_front();
    lock.unlock();
    // Attributes and every cached page; ENOENT (the kernel has forgotten the inode) is fine.
    fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
    lock.lock();
    ++done_;
    cv_.notify_all();
  }
  finished_ = true;
  cv_.notify_all();
}

void CacheInvalidator::Stop() {
  if (!thread_.joinable()) return;
  std::unique_lock lock(mu_);
  stop_ = true;
  cv_.notify_all();
  if (!cv_.wait_for(lock, std::chrono::seconds(2), [&] { return finished_; })) {
    // Held in the kernel by a page lock of a request that the ended loop will never answer:
    // abort the connection (as `echo 1 > .../abort` would), which ends every request. Through
    // the directory opened at the start: once this connection is gone, it has no "abort" any
    // more, even if its number now names another connection.
    const int abort = conn_dir_ < 0 ? -1 : ::openat(conn_dir_, "abort", O_WRONLY | O_CLOEXEC);
    if (abort >= 0) {
      [[maybe_unused]] ssize_t n = ::write(abort, "1\n", 2);
      ::close(abort);
    }
    cv_.wait(lock, [&] { return finished_; });
  }
  lock.unlock();
  thread_.join();
}

}  // namespace errseq::fuse

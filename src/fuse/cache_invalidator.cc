// CacheInvalidator (see include/errseq/fuse/cache_invalidator.h).
#define FUSE_USE_VERSION 312
#include "errseq/fuse/cache_invalidator.h"

#include <fuse3/fuse_lowlevel.h>
#include <sys/mount.h>

#include <fstream>

#include "errseq/fuse/mount_info.h"

namespace errseq::fuse {

CacheInvalidator::CacheInvalidator(fuse_session* se, std::string mountpoint)
    : se_(se), mountpoint_(std::move(mountpoint)) {
  thread_ = std::thread([this] { Main(); });
}

CacheInvalidator::~CacheInvalidator() { Stop(); }

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
    // abort the connection (as `echo 1 > .../abort` would), which ends every request.
    std::string dev = MountDevice(mountpoint_);
    ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);  // may be mounted
    if (!dev.empty()) {
      std::ofstream("/sys/fs/fuse/connections/" + dev.substr(dev.find(':') + 1) + "/abort") << "1\n";
    }
    cv_.wait(lock, [&] { return finished_; });
  }
  lock.unlock();
  thread_.join();
}

}  // namespace errseq::fuse

// DirFdCache (see include/errseq/fs/dir_fd_cache.h).
#include "errseq/fs/dir_fd_cache.h"

#include <unistd.h>

#include <algorithm>

namespace errseq::fs {

DirFdCache::Fd::~Fd() { ::close(fd_); }

DirFdCache::DirFdCache(Opener open, Options options)
    : open_(std::move(open)), options_([&] {
        options.capacity = std::max<size_t>(options.capacity, 1);
        return options;
      }()) {}

Result<std::shared_ptr<const DirFdCache::Fd>> DirFdCache::Get(const std::string& dir) {
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(dir);
    if (it != entries_.end()) {
      if (now - it->second.made < options_.ttl) return it->second.fd;
      entries_.erase(it);
    }
  }
  // Opened without the lock: a slow open does not hold up the others. Two threads may open
  // the same directory at once; the second entry replaces the first, both fds stay valid.
  auto fd = open_(dir);
  if (!fd.ok()) return fd.status();
  auto held = std::make_shared<const Fd>(*fd);
  std::lock_guard lock(mu_);
  if (entries_.size() >= options_.capacity && !entries_.contains(dir)) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const auto& a, const auto& b) {
                                     return a.second.made < b.second.made;
                                   });
    entries_.erase(oldest);
  }
  entries_[dir] = Entry{held, now};
  return held;
}

void DirFdCache::Forget(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (dir.empty()) return entries_.clear();
  std::erase_if(entries_, [&](const auto& e) {
    const std::string& p = e.first;
    return p == dir || (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 &&
                        p[dir.size()] == '/');
  });
}

size_t DirFdCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace errseq::fs

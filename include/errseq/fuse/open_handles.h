// OpenHandles: every file handle (fuse_file_info::fh) the server has given the kernel and the
// kernel has not released yet. Why: a connection can end without a RELEASE for each open (an
// abort under the mount, /sys/fs/fuse/connections/N/abort); the server then releases what is
// left itself, before it unmounts its super block, so those files are closed as at any other
// end and nothing they hold stays allocated.
//
// Thread-safety: every member may be called from any thread; `mu_` guards the set. Get() takes
// no lock: a handle is only used by requests between its open and its release.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace errseq::fuse {

class OpenHandles {
 public:
  OpenHandles() = default;
  OpenHandles(const OpenHandles&) = delete;
  OpenHandles& operator=(const OpenHandles&) = delete;
  ~OpenHandles() { ReleaseAll(); }

  // Takes `handle` over; returns the fh to give the kernel.
  template <class T>
  uint64_t Add(std::unique_ptr<T> handle) {
    T* p = handle.release();
    std::lock_guard lock(mu_);
    live_.emplace(p, [](void* v) { delete static_cast<T*>(v); });
    return reinterpret_cast<uint64_t>(p);
  }
  // The handle behind `fh`. REQUIRES: fh came from Add<T> and was not released.
  template <class T>
  static T* Get(uint64_t fh) {
    return reinterpret_cast<T*>(fh);
  }
  // Deletes the handle behind `fh` (the kernel's RELEASE, or an open whose reply failed);
  // an fh this set does not hold is ignored.
  void Release(uint64_t fh) {
    void (*del)(void*) = nullptr;
    void* p = reinterpret_cast<void*>(fh);
    {
      std::lock_guard lock(mu_);
      auto it = live_.find(p);
      if (it == live_.end()) return;
      del = it->second;
      live_.erase(it);
    }
    del(p);  // outside the lock: closing a file may take a while
  }
  // Deletes every handle still held; returns how many there were.
  size_t ReleaseAll() {
    std::unordered_map<void*, void (*)(void*)> left;
    {
      std::lock_guard lock(mu_);
      left.swap(live_);
    }
    for (auto& [p, del] : left) del(p);
    return left.size();
  }

 private:
  std::mutex mu_;
  std::unordered_map<void*, void (*)(void*)> live_;  // GUARDED_BY(mu_): handle -> its deleter
};

}  // namespace errseq::fuse

// Writeback: dirty-page accounting and the flusher thread for one super block (mirrors the
// kernel's bdi_writeback). The flusher wakes every `wakeup_ms` and writes back
//  - every mapping once dirty memory is above `dirty_background_bytes` (background), pass
//    after pass, until it is below a quarter of that (so that a steady writer keeps the disk
//    busy instead of waiting for the threshold to be crossed again), and
//  - every mapping that went dirty more than `dirty_expire_ms` ago (periodic).
// Writers call BalanceDirty() after dirtying pages: while dirty pages and pages under writeback
// together are above `dirty_limit_bytes` they wait for the flusher to make a pass, so memory
// stays bounded. Pages under writeback count, as in Linux's balance_dirty_pages (NR_FILE_DIRTY +
// NR_WRITEBACK): a page stops being dirty when its writeback starts, and a disk slower than
// the writer must still hold the writer back. The background threshold counts dirty pages only
// (writing back pages already on their way does not help). When the cache holds more than
// `cache_limit_bytes`, clean pages are dropped from mappings in turn.
// Write-behind (`persist_after_bytes`, off by default): each time that much more of a file has
// been written back, a second thread has its store make it durable (AddressSpaceOps::Persist),
// so the disk works while more data arrives instead of all at the next fsync.
//
// Locking: `mu_` guards the dirty list, the mapping registry, the pass counter and the stop
// flag. It is never held while calling into a Mapping. Counters are atomics.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "errseq/mm/mapping.h"

namespace errseq::mm {

// Memory-based defaults follow Linux (vm.dirty_background_ratio=10, vm.dirty_ratio=20) over the
// machine's RAM; the cache may use half of it.
uint64_t PercentOfRam(unsigned percent);

struct WritebackOptions {
  uint32_t dirty_expire_ms = 30'000;  // vm.dirty_expire_centisecs
  uint32_t wakeup_ms = 500;           // vm.dirty_writeback_centisecs
  uint64_t dirty_background_bytes = PercentOfRam(10);
  uint64_t dirty_limit_bytes = PercentOfRam(20);
  uint64_t cache_limit_bytes = PercentOfRam(50);
  size_t max_write_pages = 256;  // 1 MiB per WritePages call
  bool start_flusher = true;     // false: only explicit writeback (some tests)
  // Write-behind: a background AddressSpaceOps::Persist of a file every time this many more
  // bytes of it were written back. 0: never (the store is made durable only by syncs).
  uint64_t persist_after_bytes = 0;
};

class Writeback {
 public:
  struct Stats {
    uint64_t dirty_bytes;
    uint64_t writeback_bytes;  // pages whose writeback has started and not ended
    uint64_t cached_bytes;
    uint64_t written_bytes;
    uint64_t failed_writes;
    uint64_t flusher_passes;
    uint64_t throttled;
    uint64_t evicted_pages;
    uint64_t persists;         // write-behind: background store syncs done
  };

  explicit Writeback(WritebackOptions options);
  ~Writeback();  // stops the flusher; does not write anything back
  Writeback(const Writeback&) = delete;
  Writeback& operator=(const Writeback&) = delete;

  const WritebackOptions& options() const { return options_; }

  // A mapping went from clean to dirty: put it on the dirty list.
  void MarkDirty(std::shared_ptr<Mapping> mapping);
  // Every mapping registers so that cache eviction can reach it.
  void Register(const std::shared_ptr<Mapping>& mapping);
  // Write-behind: have the persist thread call mapping->PersistInBackground() (once, however
  // often it is asked before that). Nothing happens without a persist thread.
  void QueuePersist(std::shared_ptr<Mapping> mapping);

  // Writes back every mapping and waits for all writeback in flight, the flusher's included
  // (sync(2), syncfs, unmount).
  void SyncAll();
  // Writer throttling: waits for a flusher pass while dirty and under-writeback memory is
  // over the limit.
  void BalanceDirty();
  // Whether dirtying `bytes` more now could make the writer wait in BalanceDirty (two atomic
  // loads: a front end asks before each request it would otherwise serve where waiting holds
  // up others).
  bool MayThrottle(uint64_t bytes) const {
    return UnwrittenBytes() + bytes > options_.dirty_limit_bytes;
  }
  // Calls fn on every live mapping (outside every lock).
  void ForEachMapping(const std::function<void(Mapping&)>& fn);
  // Drops clean pages until the cache is under its limit.
  void ShrinkCache();
  // Lets go of the mappings on the dirty list that are clean now (an fsync wrote them; the
  // flusher would let go of them at its next pass): an evicted inode's mapping, and the host
  // descriptor behind it, is then freed at once instead of up to a flusher interval later.
  void ReleaseClean();
  // Takes one mapping off the dirty list (a file gone with its pages: SuperBlock::Discard),
  // without a pass over the others'.
  void Forget(Mapping& m);
  void Stop();

  // Accounting, called by Mapping.
  // Crossing the background threshold upwards wakes the flusher (a file that stays dirty never
  // goes through MarkDirty again). "Above" means what OverBackground() means, more than the
  // threshold: a kick at exactly the threshold woke a flusher that found nothing over it and
  // slept again, and no later page crossed anything, so dirty data piled up until its next
  // periodic wakeup (up to 89 MiB over an 8 MiB threshold in a W2 through errseqfs).
  void AccountDirty(int64_t pages) {
    int64_t now = dirty_pages_.fetch_add(pages, std::memory_order_relaxed) + pages;
    if (pages > 0 && now > background_pages_ && now - pages <= background_pages_) Kick();
  }
  void AccountWriteback(int64_t pages) {
    writeback_pages_.fetch_add(pages, std::memory_order_relaxed);
  }
  void AccountCached(int64_t pages);
  void AccountWritten(uint64_t bytes, bool failed);

  Stats GetStats() const;

 private:
  void FlusherLoop();
  void PersistLoop();
  void Kick();
  // Takes the dirty list; returns the mappings to write (all, or only expired ones).
  std::vector<std::shared_ptr<Mapping>> TakeDirty(bool all);
  std::vector<std::shared_ptr<Mapping>> Registered();  // every live mapping; takes mu_
  uint64_t DirtyBytes() const;
  uint64_t UnwrittenBytes() const;  // dirty + under writeback: what throttling counts
  bool OverBackground() const;
  bool OverBackgroundLow() const;  // above a quarter of the background threshold

  const WritebackOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;       // flusher: work to do or stop
  std::condition_variable pass_done_;  // throttled writers
  std::condition_variable persist_wake_;  // persist thread: a mapping queued, or stop
  std::deque<std::shared_ptr<Mapping>> dirty_list_;  // GUARDED_BY(mu_)
  std::deque<std::shared_ptr<Mapping>> persist_list_;  // GUARDED_BY(mu_)
  std::vector<std::weak_ptr<Mapping>> registry_;     // GUARDED_BY(mu_)
  size_t shrink_cursor_ = 0;                         // GUARDED_BY(mu_)
  uint64_t passes_ = 0;                              // GUARDED_BY(mu_)
  bool stop_ = false;                                // GUARDED_BY(mu_)
  bool kick_ = false;     // work is waiting (over background); GUARDED_BY(mu_)
  int throttled_now_ = 0;  // writers waiting in BalanceDirty; GUARDED_BY(mu_)
  const int64_t background_pages_;
  std::atomic<int64_t> dirty_pages_{0};
  std::atomic<int64_t> writeback_pages_{0};
  std::atomic<int64_t> cached_pages_{0};
  std::atomic<uint64_t> written_bytes_{0};
  std::atomic<uint64_t> failed_writes_{0};
  std::atomic<uint64_t> throttled_{0};
  std::atomic<uint64_t> evicted_pages_{0};
  std::atomic<uint64_t> persists_{0};
  std::atomic<bool> shrinking_{false};
  std::thread flusher_;
  std::thread persister_;
};

}  // namespace errseq::mm

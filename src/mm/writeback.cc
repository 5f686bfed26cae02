// Writeback: the flusher thread, dirty throttling and cache eviction (see writeback.h).
#include "errseq/mm/writeback.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace errseq::mm {

uint64_t PercentOfRam(unsigned percent) {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  uint64_t ram = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                                       : 4ull << 30;
  return ram / 100 * percent;
}

Writeback::Writeback(WritebackOptions options)
    : options_(options),
      background_pages_(static_cast<int64_t>(options.dirty_background_bytes / kPageSize)) {
  if (options_.start_flusher) flusher_ = std::thread([this] { FlusherLoop(); });
  if (options_.start_flusher && options_.persist_after_bytes != 0) {
    persister_ = std::thread([this] { PersistLoop(); });
  }
}

Writeback::~Writeback() { Stop(); }

void Writeback::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  pass_done_.notify_all();
  persist_wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  // A persist in flight finishes (and records its error) before this returns; queued ones are
  // dropped: whoever stops writeback syncs the store itself (unmount: SyncFs).
  if (persister_.joinable()) persister_.join();
  std::deque<std::shared_ptr<Mapping>> drop, drop_persist;
  {
    std::lock_guard lock(mu_);
    drop.swap(dirty_list_);
    for (auto& m : drop) m->on_dirty_list_ = false;
    drop_persist.swap(persist_list_);
    for (auto& m : drop_persist) m->on_persist_list_ = false;
  }
  // `drop` and `drop_persist` release their mappings here, outside mu_.
}

void Writeback::QueuePersist(std::shared_ptr<Mapping> mapping) {
  // (The options, not persister_: Stop may be joining that thread right now.)
  if (!options_.start_flusher || options_.persist_after_bytes == 0) return;
  {
    std::lock_guard lock(mu_);
    if (stop_ || mapping->on_persist_list_) return;
    mapping->on_persist_list_ = true;
    persist_list_.push_back(std::move(mapping));
  }
  persist_wake_.notify_one();
}

void Writeback::PersistLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    persist_wake_.wait(lock, [&] { return stop_ || !persist_list_.empty(); });
    if (stop_) break;
    std::shared_ptr<Mapping> m = std::move(persist_list_.front());
    persist_list_.pop_front();
    m->on_persist_list_ = false;  // written back further meanwhile: may be queued again
    lock.unlock();
    if (m->PersistInBackground()) persists_.fetch_add(1, std::memory_order_relaxed);
    m.reset();  // outside mu_: it may be the last reference
    lock.lock();
  }
}

void Writeback::MarkDirty(std::shared_ptr<Mapping> mapping) {
  bool kick;
  {
    std::lock_guard lock(mu_);
    if (!mapping->on_dirty_list_) {
      mapping->on_dirty_list_ = true;
      dirty_list_.push_back(std::move(mapping));
    }
    kick = OverBackground();
    if (kick) kick_ = true;
  }
  if (kick) wake_.notify_one();
}

void Writeback::Kick() {
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  wake_.notify_one();
}

void Writeback::Register(const std::shared_ptr<Mapping>& mapping) {
  std::lock_guard lock(mu_);
  registry_.push_back(mapping);
  if ((registry_.size() & 1023) == 0) {
    std::erase_if(registry_, [](const std::weak_ptr<Mapping>& w) { return w.expired(); });
  }
}

uint64_t Writeback::DirtyBytes() const {
  return static_cast<uint64_t>(std::max<int64_t>(0, dirty_pages_.load())) * kPageSize;
}

uint64_t Writeback::UnwrittenBytes() const {
  const int64_t pages = dirty_pages_.load() + writeback_pages_.load();
  return static_cast<uint64_t>(std::max<int64_t>(0, pages)) * kPageSize;
}

bool Writeback::OverBackgroundLow() const {
  return DirtyBytes() > options_.dirty_background_bytes / 4;
}

bool Writeback::OverBackground() const { return DirtyBytes() > options_.dirty_background_bytes; }

std::vector<std::shared_ptr<Mapping>> Writeback::TakeDirty(bool all) {
  // REQUIRES: mu_ held.
  std::vector<std::shared_ptr<Mapping>> out;
  const auto expired_before =
      std::chrono::steady_clock::now() - std::chrono::milliseconds(options_.dirty_expire_ms);
  for (auto it = dirty_list_.begin(); it != dirty_list_.end();) {
    Mapping& m = **it;
    if (!m.HasDirtyPages() || all || m.dirtied_when() <= expired_before) {
      m.on_dirty_list_ = false;
      out.push_back(std::move(*it));  // a clean one is released by the caller, outside mu_
      it = dirty_list_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void Writeback::Forget(Mapping& m) {
  std::shared_ptr<Mapping> held;  // released after mu_
  std::lock_guard lock(mu_);
  if (!m.on_dirty_list_) return;
  auto it = std::find_if(dirty_list_.begin(), dirty_list_.end(),
                         [&](const std::shared_ptr<Mapping>& p) { return p.get() == &m; });
  if (it == dirty_list_.end()) return;
  m.on_dirty_list_ = false;
  held = std::move(*it);
  dirty_list_.erase(it);
}

void Writeback::ReleaseClean() {
  std::vector<std::shared_ptr<Mapping>> clean;
  {
    std::lock_guard lock(mu_);
    for (auto it = dirty_list_.begin(); it != dirty_list_.end();) {
      if ((*it)->HasDirtyPages()) {
        ++it;
        continue;
      }
      (*it)->on_dirty_list_ = false;
      clean.push_back(std::move(*it));
      it = dirty_list_.erase(it);
    }
  }
  // `clean` releases its mappings here, outside mu_.
}

void Writeback::SyncAll() {
  // Every mapping, not just the dirty list: one the flusher is writing right now is off the
  // list, and a data-integrity sync must wait for that I/O (and its errors) too.
  {
    std::lock_guard lock(mu_);
    std::erase_if(registry_, [](const std::weak_ptr<Mapping>& w) { return w.expired(); });
  }
  // Oldest-dirtied first, as Linux's writeback takes a super block's inodes (by dirtied_when,
  // which an fsync on ext4 does not reset): when several files fail, the super block's errseq
  // keeps the errno of the one written last (docs/semantics.md, "Which file sync writes last").
  // The times are taken once: writers may dirty files while this sorts.
  std::vector<std::pair<int64_t, std::shared_ptr<Mapping>>> all;
  for (auto& m : Registered()) all.emplace_back(m->inode_dirtied_ns(), std::move(m));
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [when, m] : all) {
    m->WriteAll(SyncMode::kAll);
    m->WrittenBackByWriteback();
  }
}

std::vector<std::shared_ptr<Mapping>> Writeback::Registered() {
  std::vector<std::shared_ptr<Mapping>> all;
  std::lock_guard lock(mu_);
  for (auto& w : registry_) {
    if (auto m = w.lock()) all.push_back(std::move(m));
  }
  return all;
}

void Writeback::ForEachMapping(const std::function<void(Mapping&)>& fn) {
  for (auto& m : Registered()) fn(*m);
}

void Writeback::BalanceDirty() {
  if (UnwrittenBytes() <= options_.dirty_limit_bytes) return;
  throttled_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(mu_);
  if (stop_ || !flusher_.joinable()) {
    // No flusher: the writer cleans up after itself.
    auto work = TakeDirty(true);
    lock.unlock();
    for (auto& m : work) {
      if (!m) continue;
      m->WriteAll(SyncMode::kNone);
      m->WrittenBackByWriteback();
    }
    return;
  }
  // Wait for one whole flusher pass (it writes everything while over the background limit).
  // One pass, not "until under the limit": under keep_dirty with a failing disk the dirty
  // memory cannot go down, and writers must not hang forever.
  const uint64_t target = passes_ + 2;  // +2: the pass in progress may predate our pages
  ++throttled_now_;
  wake_.notify_one();
  pass_done_.wait(lock, [&] { return passes_ >= target || stop_; });
  --throttled_now_;
}

void Writeback::AccountCached(int64_t pages) {
  cached_pages_.fetch_add(pages, std::memory_order_relaxed);
}

void Writeback::AccountWritten(uint64_t bytes, bool failed) {
  written_bytes_.fetch_add(failed ? 0 : bytes, std::memory_order_relaxed);
  if (failed) failed_writes_.fetch_add(1, std::memory_order_relaxed);
}

void Writeback::ShrinkCache() {
  const uint64_t limit_pages = options_.cache_limit_bytes / kPageSize;
  if (static_cast<uint64_t>(std::max<int64_t>(0, cached_pages_.load())) <= limit_pages) return;
  if (shrinking_.exchange(true)) return;  // one shrinker at a time
  std::vector<std::shared_ptr<Mapping>> all;
  size_t start;
  {
    std::lock_guard lock(mu_);
    for (auto& w : registry_) {
      if (auto m = w.lock()) all.push_back(std::move(m));
    }
    start = all.empty() ? 0 : shrink_cursor_++ % all.size();
  }
  const uint64_t target = limit_pages - limit_pages / 10;
  for (size_t k = 0; k < all.size(); ++k) {
    int64_t cached = cached_pages_.load();
    if (cached <= static_cast<int64_t>(target)) break;
    size_t n = all[(start + k) % all.size()]->DropCleanPages(
        static_cast<size_t>(cached - static_cast<int64_t>(target)));
    evicted_pages_.fetch_add(n, std::memory_order_relaxed);
  }
  shrinking_.store(false);
}

void Writeback::FlusherLoop() {
  std::unique_lock lock(mu_);
  bool background = false;  // a background run: pass after pass until below the low mark
  while (!stop_) {
    if (!background) {
      wake_.wait_for(lock, std::chrono::milliseconds(options_.wakeup_ms),
                     [&] { return stop_ || kick_ || throttled_now_ > 0; });
    }
    if (stop_) break;
    kick_ = false;
    background = OverBackground() || (background && OverBackgroundLow());
    auto work = TakeDirty(background);
    const uint64_t written_before = written_bytes_.load(std::memory_order_relaxed);
    lock.unlock();
    for (auto& m : work) {
      if (!m) continue;
      m->WriteAll(SyncMode::kNone);
      m->WrittenBackByWriteback();
    }
    work.clear();
    ShrinkCache();
    lock.lock();
    ++passes_;
    pass_done_.notify_all();
    // Nothing went out (pages held by someone else's writeback, or nothing dirty on the list):
    // wait for the next wakeup rather than spin.
    if (written_bytes_.load(std::memory_order_relaxed) == written_before) background = false;
  }
}

Writeback::Stats Writeback::GetStats() const {
  std::lock_guard lock(mu_);
  return {DirtyBytes(),
          static_cast<uint64_t>(std::max<int64_t>(0, writeback_pages_.load())) * kPageSize,
          static_cast<uint64_t>(std::max<int64_t>(0, cached_pages_.load())) * kPageSize,
          written_bytes_.load(),
          failed_writes_.load(),
          passes_,
          throttled_.load(),
          evicted_pages_.load(),
          persists_.load()};
}

}  // namespace errseq::mm

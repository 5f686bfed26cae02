// Mapping: a file's page cache (see include/errseq/mm/mapping.h for the locking rules).
#include "errseq/mm/mapping.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "errseq/mm/writeback.h"

namespace errseq::mm {
namespace {

constexpr uint64_t kPageMask = kPageSize - 1;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Mapping::Mapping(std::shared_ptr<AddressSpaceOps> ops, Writeback* wb, Options options)
    : ops_(std::move(ops)), wb_(wb), options_(options), size_(options.initial_size) {}

Mapping::~Mapping() {
  if (wb_) {
    wb_->AccountCached(-static_cast<int64_t>(pages_.size()));
    wb_->AccountDirty(-static_cast<int64_t>(dirty_.size()));
  }
}

void Mapping::ErasePage(std::map<uint64_t, Page>::iterator it) {
  if (it->second.dirty) {
    dirty_.erase(it->first);
    ndirty_.store(dirty_.size(), std::memory_order_release);
    if (wb_) wb_->AccountDirty(-1);
  }
  pages_.erase(it);
  if (wb_) wb_->AccountCached(-1);
}

Result<Mapping::Page*> Mapping::GetPage(Lock& lock, uint64_t index, bool for_write,
                                        size_t readahead) {
  for (;;) {
    auto it = pages_.find(index);
    if (it != pages_.end()) {
      Page& p = it->second;
      if (p.locked || (for_write && p.writeback)) {
        cv_.wait(lock);
        continue;
      }
      return &p;
    }
    const uint64_t sz = size_.load(std::memory_order_relaxed);
    if ((index << kPageShift) >= sz) {  // wholly past EOF: nothing on disk to read
      Page& p = pages_[index];
      std::memset(p.data.get(), 0, kPageSize);
      p.uptodate = true;
      if (wb_) wb_->AccountCached(1);
      return &p;
    }
    // Read in this page and up to `readahead` uncached pages after it, below EOF.
    std::vector<uint64_t> idx{index};
    for (size_t k = 1; k <= readahead; ++k) {
      uint64_t j = index + k;
      if ((j << kPageShift) >= sz || pages_.count(j)) break;
      idx.push_back(j);
    }
    std::vector<iovec> iov;
    iov.reserve(idx.size());
    for (uint64_t j : idx) {
      Page& p = pages_[j];
      p.locked = true;
      iov.push_back({p.data.get(), kPageSize});
    }
    lock.unlock();
    Status s = ops_->ReadPages(index, iov);
    lock.lock();
    for (uint64_t j : idx) {
      auto pit = pages_.find(j);
      pit->second.locked = false;
      if (s.ok()) {
        pit->second.uptodate = true;
      } else {
        pages_.erase(pit);
      }
    }
    if (s.ok() && wb_) wb_->AccountCached(static_cast<int64_t>(idx.size()));
    cv_.notify_all();
    if (!s.ok()) return s;
  }
}

Mapping::Page* Mapping::GetPageForOverwrite(Lock& lock, uint64_t index) {
  for (;;) {
    auto it = pages_.find(index);
    if (it == pages_.end()) {
      Page& p = pages_[index];
      p.uptodate = true;  // about to be overwritten whole
      if (wb_) wb_->AccountCached(1);
      return &p;
    }
    if (it->second.locked || it->second.writeback) {
      cv_.wait(lock);
      continue;
    }
    return &it->second;
  }
}

void Mapping::MarkDirty(Lock& /*lock*/, uint64_t index, Page& page) {
  if (page.dirty) return;
  page.dirty = true;
  dirty_.insert(index);
  ndirty_.store(dirty_.size(), std::memory_order_release);
  if (wb_) {
    wb_->AccountDirty(1);
    if (dirty_.size() == 1) {
      dirtied_when_ns_.store(NowNs(), std::memory_order_release);
      wb_->MarkDirty(shared_from_this());
    }
  }
}

Result<size_t> Mapping::Write(uint64_t offset, std::span<const std::byte> data, bool append,
                              uint64_t* landed) {
  size_t done = 0;
  {
    Lock lock(mu_);
    if (append) offset = size_.load(std::memory_order_relaxed);
    if (landed) *landed = offset;
    if (offset > (UINT64_MAX >> 1) || data.size() > (UINT64_MAX >> 1) - offset) {
      return Status::Error(-EFBIG);
    }
    uint64_t pos = offset;
    while (done < data.size()) {
      const uint64_t index = pos >> kPageShift;
      const size_t in = static_cast<size_t>(pos & kPageMask);
      const size_t n = std::min<size_t>(kPageSize - in, data.size() - done);
      Page* page;
      if (in == 0 && n == kPageSize) {
        page = GetPageForOverwrite(lock, index);
      } else {
        auto r = GetPage(lock, index, /*for_write=*/true, 0);
        if (!r.ok()) {
          if (done == 0) return r.status();
          break;  // a short write, as write(2) would give
        }
        page = *r;
      }
      std::memcpy(page->data.get() + in, data.data() + done, n);
      MarkDirty(lock, index, *page);
      pos += n;
      done += n;
      if (pos > size_.load(std::memory_order_relaxed)) size_.store(pos, std::memory_order_release);
    }
  }
  if (wb_) {
    wb_->BalanceDirty();
    wb_->ShrinkCache();
  }
  return done;
}

Result<size_t> Mapping::Read(uint64_t offset, std::span<std::byte> out) {
  size_t done = 0;
  {
    Lock lock(mu_);
    const uint64_t sz = size_.load(std::memory_order_relaxed);
    if (offset >= sz) return size_t{0};
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), sz - offset));
    uint64_t pos = offset;
    while (done < want) {
      const uint64_t index = pos >> kPageShift;
      const size_t in = static_cast<size_t>(pos & kPageMask);
      const size_t n = std::min<size_t>(kPageSize - in, want - done);
      size_t pages_left = (want - done + in + kPageSize - 1) / kPageSize;
      auto r = GetPage(lock, index, /*for_write=*/false, std::min<size_t>(pages_left + 31, 255));
      if (!r.ok()) {
        if (done == 0) return r.status();
        break;
      }
      std::memcpy(out.data() + done, (*r)->data.get() + in, n);
      pos += n;
      done += n;
    }
  }
  if (wb_) wb_->ShrinkCache();
  return done;
}

void Mapping::WriteRange(uint64_t first, uint64_t last, SyncMode mode) {
  struct Run {
    uint64_t first;
    std::vector<iovec> iov;
  };
  std::vector<Run> runs;
  uint64_t size_snapshot;
  {
    Lock lock(mu_);
    for (auto it = dirty_.lower_bound(first); it != dirty_.end() && *it <= last;) {
      const uint64_t index = *it;
      Page& p = pages_.at(index);
      if (runs.empty() || runs.back().first + runs.back().iov.size() != index ||
          runs.back().iov.size() >= options_.max_write_pages) {
        runs.push_back({index, {}});
      }
      p.dirty = false;
      p.writeback = true;
      writeback_.insert(index);
      runs.back().iov.push_back({p.data.get(), kPageSize});
      it = dirty_.erase(it);
    }
    ndirty_.store(dirty_.size(), std::memory_order_release);
    size_snapshot = size_.load(std::memory_order_relaxed);
  }
  for (Run& run : runs) {
    const uint64_t n = run.iov.size();
    if (wb_) wb_->AccountDirty(-static_cast<int64_t>(n));
    Status s = ops_->WritePages(run.first, run.iov, size_snapshot);
    const uint64_t off = run.first << kPageShift;
    const uint64_t len = n << kPageShift;
    if (wb_) wb_->AccountWritten(len, !s.ok());
    uint64_t backing = 0;
    if (!s.ok()) {
      if (options_.policy == FailurePolicy::kDelayed) {
        Lock lock(mu_);
        pending_err_ = s.err();
        pending_off_ = off;
        pending_len_ = len;
      } else {
        // Recorded before the pages leave writeback (SEMANTICS.md §1, memory order).
        SetError(s.err(), off, len);
      }
      if (options_.policy == FailurePolicy::kRevert) {
        auto b = ops_->BackingSize();
        backing = b.ok() ? *b : 0;
      }
    }
    Lock lock(mu_);
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t index = run.first + k;
      auto it = pages_.find(index);
      it->second.writeback = false;
      writeback_.erase(index);
      if (s.ok()) continue;
      if (options_.policy == FailurePolicy::kKeepDirty) {
        MarkDirty(lock, index, it->second);
      } else if (options_.policy == FailurePolicy::kRevert) {
        ErasePage(it);
      }
    }
    if (!s.ok() && options_.policy == FailurePolicy::kRevert) AfterRevert(lock, backing);
    cv_.notify_all();
  }
  if (mode == SyncMode::kAll) WaitRange(first, last);
}

void Mapping::AfterRevert(Lock& /*lock*/, uint64_t backing_size) {
  // Back to the on-disk size, except for data still waiting to be written.
  uint64_t live_end = 0;
  if (!dirty_.empty()) live_end = (*dirty_.rbegin() + 1) << kPageShift;
  if (!writeback_.empty()) live_end = std::max(live_end, (*writeback_.rbegin() + 1) << kPageShift);
  const uint64_t cur = size_.load(std::memory_order_relaxed);
  const uint64_t new_size = std::min(cur, std::max(backing_size, live_end));
  size_.store(new_size, std::memory_order_release);
  const uint64_t keep = (new_size + kPageMask) >> kPageShift;
  for (auto it = pages_.lower_bound(keep); it != pages_.end();) {
    Page& p = it->second;
    if (p.dirty || p.writeback || p.locked) {
      ++it;
    } else {
      auto next = std::next(it);
      ErasePage(it);
      it = next;
    }
  }
}

void Mapping::WaitRange(uint64_t first, uint64_t last) {
  Lock lock(mu_);
  cv_.wait(lock, [&] {
    auto it = writeback_.lower_bound(first);
    return it == writeback_.end() || *it > last;
  });
}

bool Mapping::AnyBusyFrom(uint64_t first_index) const {
  for (auto it = pages_.lower_bound(first_index); it != pages_.end(); ++it) {
    if (it->second.locked || it->second.writeback) return true;
  }
  return false;
}

void Mapping::Truncate(uint64_t new_size) {
  Lock lock(mu_);
  const uint64_t first_touched = new_size >> kPageShift;
  cv_.wait(lock, [&] { return !AnyBusyFrom(first_touched); });
  const uint64_t keep = (new_size + kPageMask) >> kPageShift;
  for (auto it = pages_.lower_bound(keep); it != pages_.end();) {
    auto next = std::next(it);
    ErasePage(it);
    it = next;
  }
  if (new_size & kPageMask) {
    auto it = pages_.find(first_touched);
    if (it != pages_.end()) {
      const size_t in = static_cast<size_t>(new_size & kPageMask);
      std::memset(it->second.data.get() + in, 0, kPageSize - in);
    }
  }
  size_.store(new_size, std::memory_order_release);
}

size_t Mapping::DropCleanPages(size_t max) {
  Lock lock(mu_);
  size_t dropped = 0;
  for (auto it = pages_.begin(); it != pages_.end() && dropped < max;) {
    const Page& p = it->second;
    if (p.dirty || p.writeback || p.locked) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    ErasePage(it);
    it = next;
    ++dropped;
  }
  return dropped;
}

void Mapping::DropAllPages() {
  Lock lock(mu_);
  cv_.wait(lock, [&] { return !AnyBusyFrom(0); });
  while (!pages_.empty()) ErasePage(pages_.begin());
}

void Mapping::SetError(int err, uint64_t offset, uint64_t length) {
  if (err >= 0) return;
  errseq_t v = wb_err_.Set(err);
  if (options_.sb_err) options_.sb_err->Set(err);
  legacy_.Set(err);
  if (options_.observer) {
    options_.observer->OnWritebackError({options_.owner, offset, length, err, v});
  }
}

void Mapping::FlushDelayedErrors() {
  int err;
  uint64_t off, len;
  {
    Lock lock(mu_);
    err = pending_err_;
    off = pending_off_;
    len = pending_len_;
    pending_err_ = 0;
  }
  if (err != 0) SetError(err, off, len);
}

size_t Mapping::CachedPages() const {
  Lock lock(mu_);
  return pages_.size();
}

}  // namespace errseq::mm

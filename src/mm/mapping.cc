// Mapping: a file's page cache (see include/errseq/mm/mapping.h for the locking rules).
#include "errseq/mm/mapping.h"

#include <algorithm>
#include <bit>
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

// What a failed read of pages into the cache tells the reader (and a write that needed the
// page): EIO, whatever the store said, as Linux's page cache does (a folio its read left not
// uptodate is -EIO in filemap_read_folio and in a write's read of the block; checked on 6.18:
// ext4 over a disk whose reads fail with ENOSPC, pread EIO).
Status ReadFailure(const Status& s) {
  return s.ok() ? s : Status::Error(-EIO, s.message());
}

}  // namespace

Mapping::Mapping(std::shared_ptr<AddressSpaceOps> ops, Writeback* wb, Options options)
    : ops_(std::move(ops)), wb_(wb), options_(options), size_(options.initial_size) {}

Mapping::~Mapping() {
  if (wb_) {
    wb_->AccountCached(-static_cast<int64_t>(npages_));
    wb_->AccountDirty(-static_cast<int64_t>(ndirty_.load()));
    wb_->AccountWriteback(-static_cast<int64_t>(nwriteback_));
  }
}

// ---- the page index ------------------------------------------------------------------------

Mapping::Chunk* Mapping::ChunkOf(uint64_t index) {
  const uint64_t key = index >> kChunkShift;
  if (hint_ && hint_key_ == key) return hint_;
  auto it = chunks_.find(key);
  if (it == chunks_.end()) return nullptr;
  hint_key_ = key;
  hint_ = it->second.get();
  return hint_;
}

Mapping::Page* Mapping::Find(uint64_t index) {
  Chunk* c = ChunkOf(index);
  if (!c) return nullptr;
  Page& p = c->pages[index & (kChunkPages - 1)];
  return p.data ? &p : nullptr;
}

Mapping::Page& Mapping::Insert(uint64_t index) {
  auto& chunk = chunks_[index >> kChunkShift];
  if (!chunk) chunk = std::make_unique<Chunk>();
  hint_key_ = index >> kChunkShift;
  hint_ = chunk.get();
  Page& p = chunk->pages[index & (kChunkPages - 1)];
  p.data = AllocPage();
  ++chunk->present;
  ++npages_;
  if (wb_) wb_->AccountCached(1);
  return p;
}

void Mapping::Erase(uint64_t index) {
  auto it = chunks_.find(index >> kChunkShift);
  Chunk& c = *it->second;
  const size_t slot = index & (kChunkPages - 1);
  Page& p = c.pages[slot];
  if (p.dirty) SetDirtyBit(index, p, false);
  if (p.writeback) SetWritebackBit(index, p, false);
  p = Page();
  --npages_;
  if (wb_) wb_->AccountCached(-1);
  if (--c.present == 0) {
    if (hint_ == &c) hint_ = nullptr;
    chunks_.erase(it);
  }
}

void Mapping::SetDirtyBit(uint64_t index, Page& p, bool on) {
  if (p.dirty == on) return;
  p.dirty = on;
  ChunkOf(index)->dirty.set(index & (kChunkPages - 1), on);
  ndirty_.store(ndirty_.load(std::memory_order_relaxed) + (on ? 1 : -1),
                std::memory_order_release);
  if (wb_) wb_->AccountDirty(on ? 1 : -1);
}

void Mapping::SetWritebackBit(uint64_t index, Page& p, bool on) {
  if (p.writeback == on) return;
  p.writeback = on;
  ChunkOf(index)->writeback.set(index & (kChunkPages - 1), on);
  nwriteback_ += on ? 1 : -1;
  if (wb_) wb_->AccountWriteback(on ? 1 : -1);
}

template <class Fn>
void Mapping::ForEachTagged(bool writeback, uint64_t first, uint64_t last, Fn&& fn) {
  if (writeback ? nwriteback_ == 0 : ndirty_.load(std::memory_order_relaxed) == 0) return;
  for (auto it = chunks_.lower_bound(first >> kChunkShift);
       it != chunks_.end() && (it->first << kChunkShift) <= last;) {
    auto next = std::next(it);
    const uint64_t base = it->first << kChunkShift;
    Chunk& c = *it->second;
    auto& bits = writeback ? c.writeback : c.dirty;
    size_t slot = first > base ? static_cast<size_t>(first - base) : 0;
    slot = slot == 0 ? bits._Find_first() : (bits.test(slot) ? slot : bits._Find_next(slot));
    while (slot < kChunkPages && base + slot <= last) {
      size_t following = bits._Find_next(slot);
      fn(base + slot, c.pages[slot]);
      slot = following;
    }
    it = next;
  }
}

bool Mapping::AnyWriteback(uint64_t first, uint64_t last) {
  bool any = false;
  ForEachTagged(true, first, last, [&](uint64_t, Page&) { any = true; });
  return any;
}

uint64_t Mapping::LastTagged() {
  for (auto it = chunks_.rbegin(); it != chunks_.rend(); ++it) {
    auto both = it->second->dirty | it->second->writeback;
    if (both.none()) continue;
    for (size_t slot = kChunkPages; slot-- > 0;) {
      if (both.test(slot)) return (it->first << kChunkShift) + slot + 1;
    }
  }
  return 0;
}

// ---- reading pages in ----------------------------------------------------------------------

// Linux's readahead (mm/readahead.c) decides which pages a read brings into the cache, and so
// which later reads reach the disk and its faults. SyncReadahead is page_cache_sync_ra: the
// initial window for a read at the start of the file, one longer than the window allows, or
// one that starts where the description's last read ended (its page or the next); else a
// window grown from the run of cached pages before `index` (doubled when that run reaches the
// start of the file) when the run is longer than the read; else only the pages asked for.
void Mapping::SyncReadahead(Lock& lock, ReadaheadState& ra, uint64_t index, size_t req) {
  const size_t max = options_.readahead_pages;
  if (max == 0) return ReadWindow(lock, index, req, UINT64_MAX);
  const uint64_t prev_index = ra.prev_pos >> kPageShift;
  if (index == 0 || req > max || index - prev_index <= 1) {
    ra.start = index;
    ra.size = InitialWindow(req, max);
    ra.async_size = ra.size > req ? ra.size - req : ra.size / 2;
  } else {
    size_t run = 0;
    while (run < max && run < index && Find(index - 1 - run)) ++run;
    if (run <= req) return ReadWindow(lock, index, req, UINT64_MAX);
    if (run == index) run *= 2;
    ra.start = index;
    ra.size = std::min(run + req, max);
    ra.async_size = 1;
  }
  ReadWindow(lock, ra.start, ra.size, ra.start + ra.size - ra.async_size);
}

// page_cache_async_ra: a read's batch of cached pages ends at `index`, which carries the mark.
// The description's window was the one that set it: the next window follows it, larger. Else
// (another description's mark) a window after the cached run from `index` on, grown from it.
void Mapping::AsyncReadahead(Lock& lock, ReadaheadState& ra, uint64_t index, size_t req) {
  const size_t max = options_.readahead_pages;
  Page* p = Find(index);
  if (max == 0 || p->writeback) return;
  p->ra_mark = false;
  if (index == ra.start + ra.size - ra.async_size) {
    ra.start += ra.size;
    ra.size = std::max(ra.size, NextWindow(ra.size, max));
  } else {
    size_t run = 1;
    while (run <= max && Find(index + run)) ++run;
    if (run > max) return;
    ra.start = index + run;
    ra.size = NextWindow(run + req, max);
  }
  ra.async_size = ra.size;
  ReadWindow(lock, ra.start, ra.size, ra.start);
}

void Mapping::ReadWindow(Lock& lock, uint64_t first, size_t count, uint64_t mark) {
  struct Run {
    uint64_t first;
    std::vector<iovec> iov;
  };
  std::vector<Run> runs;
  const uint64_t sz = size_.load(std::memory_order_relaxed);
  const uint64_t end_index = (sz + kPageSize - 1) >> kPageShift;
  const uint64_t last = std::min<uint64_t>(first + count, end_index);
  for (uint64_t j = first; j < last; ++j) {
    if (Find(j)) continue;
    if (runs.empty() || runs.back().first + runs.back().iov.size() != j ||
        runs.back().iov.size() >= 256) {
      runs.push_back({j, {}});
    }
    Page& p = Insert(j);
    p.locked = true;
    p.ra_mark = j == mark;
    ++nlocked_;
    runs.back().iov.push_back({p.data.get(), kPageSize});
  }
  if (runs.empty()) return;
  lock.unlock();
  std::vector<bool> ok;
  ok.reserve(runs.size());
  for (const Run& run : runs) ok.push_back(ops_->ReadPages(run.first, run.iov).ok());
  lock.lock();
  for (size_t r = 0; r < runs.size(); ++r) {
    for (size_t k = 0; k < runs[r].iov.size(); ++k) {
      const uint64_t j = runs[r].first + k;
      Page* p = Find(j);
      p->locked = false;
      --nlocked_;
      // A page whose read failed stays, not uptodate (and marked, if it was): readahead is no
      // error of its own; a read that needs the page reads it again alone (GetPage).
      p->uptodate = ok[r];
    }
  }
  cv_.notify_all();
}

Result<Mapping::Page*> Mapping::GetPage(Lock& lock, uint64_t index, bool for_write) {
  for (;;) {
    Page* p = Find(index);
    if (p && (p->locked || (for_write && p->writeback))) {
      cv_.wait(lock);
      continue;
    }
    if (p && p->uptodate) return p;
    const uint64_t sz = size_.load(std::memory_order_relaxed);
    if ((index << kPageShift) >= sz) {  // wholly past EOF: nothing on disk to read
      if (!p) p = &Insert(index);
      std::memset(p->data.get(), 0, kPageSize);
      p->uptodate = true;
      return p;
    }
    // Not cached, or left by a read that failed: read this page alone (read_folio). A page
    // that cannot be read stays, not uptodate, as Linux leaves its folio: readahead passes
    // over it and the next read that needs it reads it again.
    if (!p) p = &Insert(index);
    p->locked = true;
    ++nlocked_;
    iovec iov{p->data.get(), kPageSize};
    lock.unlock();
    Status s = ReadFailure(ops_->ReadPages(index, std::span<const iovec>(&iov, 1)));
    lock.lock();
    p = Find(index);
    p->locked = false;
    --nlocked_;
    p->uptodate = s.ok();
    cv_.notify_all();
    if (!s.ok()) return s;
  }
}

size_t Mapping::UncachedRun(uint64_t index, size_t max_pages) {
  size_t k = 0;
  while (k < max_pages && !Find(index + k)) ++k;
  return k;
}

Mapping::Page* Mapping::GetPageForOverwrite(Lock& lock, uint64_t index) {
  for (;;) {
    Page* p = Find(index);
    if (!p) p = &Insert(index);
    if (p->locked || p->writeback) {
      cv_.wait(lock);
      continue;
    }
    p->uptodate = true;  // about to be overwritten whole
    return p;
  }
}

void Mapping::MarkDirty(Lock& /*lock*/, uint64_t index, Page& page) {
  if (page.dirty) return;
  if (inode_dirtied_ns_.load(std::memory_order_relaxed) == 0) {
    inode_dirtied_ns_.store(NowNs(), std::memory_order_release);
  }
  const bool was_clean = ndirty_.load(std::memory_order_relaxed) == 0;
  SetDirtyBit(index, page, true);
  if (wb_ && was_clean) {
    dirtied_when_ns_.store(NowNs(), std::memory_order_release);
    wb_->MarkDirty(shared_from_this());
  }
}

// ---- read and write ------------------------------------------------------------------------

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
        auto r = GetPage(lock, index, /*for_write=*/true);
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

Result<size_t> Mapping::Read(uint64_t offset, std::span<std::byte> out, ReadaheadState* ra) {
  ReadaheadState fresh;
  if (!ra) ra = &fresh;
  size_t done = 0;
  {
    Lock lock(mu_);
    const uint64_t sz = size_.load(std::memory_order_relaxed);
    if (offset >= sz) return size_t{0};
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), sz - offset));
    const uint64_t end_index = (offset + want + kPageSize - 1) >> kPageShift;
    uint64_t pos = offset;
    uint64_t last_pos = ra->prev_pos;  // where the description's last read ended, so far
    uint64_t batch_last = 0;    // the cached pages being copied run to here (filemap_get_pages)
    bool in_batch = false;
    bool one_by_one = false;  // a run of uncached pages failed: read the rest page by page
    while (done < want) {
      const uint64_t index = pos >> kPageShift;
      const size_t in = static_cast<size_t>(pos & kPageMask);
      const size_t n = std::min<size_t>(kPageSize - in, want - done);
      if (!options_.cache_reads && in == 0) {
        // Whole pages nobody has cached: from the store straight into `out`. Absence is
        // checked under the lock, so a write that finished before this read is seen.
        const size_t run = one_by_one ? 1 : std::min<size_t>((want - done) / kPageSize, 256);
        if (size_t k = UncachedRun(index, run)) {
          std::vector<iovec> iov(k);
          for (size_t j = 0; j < k; ++j) iov[j] = {out.data() + done + j * kPageSize, kPageSize};
          lock.unlock();
          Status s = ReadFailure(ops_->ReadPages(index, iov));
          lock.lock();
          if (!s.ok() && k > 1) {
            // Page by page from here, as Linux reads the pages a failed readahead left: the
            // read returns what precedes the first page that fails, or fails if that is the
            // first.
            one_by_one = true;
            continue;
          }
          if (!s.ok()) {
            if (done == 0) return s;
            break;
          }
          pos += k * kPageSize;
          done += k * kPageSize;
          last_pos = pos;
          continue;
        }
      }
      if (!in_batch || index > batch_last) {
        // A new batch (filemap_get_pages): readahead first if this page is not cached; then
        // the cached pages from here on within the read, at most a folio batch (31), ending at
        // the first that is not uptodate. When the last carries the mark, the next window is
        // read ahead.
        const size_t req = static_cast<size_t>(end_index - index);
        if (!Find(index)) SyncReadahead(lock, *ra, index, req);
        batch_last = index;
        if (Page* p = Find(index)) {
          while (p->uptodate && batch_last + 1 < end_index && batch_last + 1 - index < 31 &&
                 (p = Find(batch_last + 1))) {
            ++batch_last;
          }
          if (Find(batch_last)->ra_mark) AsyncReadahead(lock, *ra, batch_last, req);
        }
        in_batch = true;
      }
      auto r = GetPage(lock, index, /*for_write=*/false);
      if (!r.ok()) {
        if (done == 0) return r.status();
        break;
      }
      std::memcpy(out.data() + done, (*r)->data.get() + in, n);
      pos += n;
      done += n;
      last_pos = pos;
    }
    ra->prev_pos = last_pos;
  }
  if (wb_) wb_->ShrinkCache();
  return done;
}

Result<std::optional<StoreRange>> Mapping::ReadFromStore(uint64_t offset, size_t size) {
  const std::optional<StoreRange> kNone;
  if (options_.cache_reads || (offset & kPageMask) != 0 || size == 0) return kNone;
  size_t want;
  {
    Lock lock(mu_);
    const uint64_t sz = size_.load(std::memory_order_relaxed);
    if (offset >= sz) return kNone;
    want = static_cast<size_t>(std::min<uint64_t>(size, sz - offset));
    const size_t pages = (want + kPageSize - 1) / kPageSize;
    if (UncachedRun(offset >> kPageShift, pages) != pages) return kNone;
  }
  auto r = ops_->ReadRange(offset, want);
  if (!r.ok()) {
    if (r.err() == -EOPNOTSUPP) return kNone;
    return ReadFailure(r.status());
  }
  return std::optional<StoreRange>(*r);
}

Result<size_t> Mapping::ReadDirect(uint64_t offset, std::span<std::byte> out) {
  uint64_t sz;
  {
    Lock lock(mu_);
    sz = size_.load(std::memory_order_relaxed);
  }
  if (offset >= sz || out.empty()) return size_t{0};
  const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), sz - offset));
  const size_t head = static_cast<size_t>(offset & kPageMask);
  // Whole pages the read covers go straight into `out` when it starts on a page; the rest
  // (a page the read starts or ends inside) through a page of its own.
  constexpr size_t kMaxRun = 256;
  std::vector<std::byte> bounce;
  size_t done = 0;
  uint64_t index = offset >> kPageShift;
  while (done < want) {
    const size_t skip = done == 0 ? head : 0;
    std::vector<iovec> iov;
    std::vector<size_t> bounced;  // which iovecs are bounce pages
    size_t covered = 0;           // bytes of `out` this run fills
    while (iov.size() < kMaxRun && done + covered < want) {
      const size_t in = iov.empty() ? skip : 0;
      const size_t n = std::min<size_t>(kPageSize - in, want - done - covered);
      if (in == 0 && n == kPageSize) {
        iov.push_back({out.data() + done + covered, kPageSize});
      } else {
        if (bounce.size() < 2 * kPageSize) bounce.resize(2 * kPageSize);
        iov.push_back({bounce.data() + (bounced.size() % 2) * kPageSize, kPageSize});
        bounced.push_back(iov.size() - 1);
      }
      covered += n;
    }
    if (Status s = ops_->ReadPages(index, iov); !s.ok()) return s;
    // Copy out of the bounce pages: at most the first and the last of the run.
    size_t pos = 0;
    for (size_t k = 0; k < iov.size(); ++k) {
      const size_t in = k == 0 ? skip : 0;
      const size_t n = std::min<size_t>(kPageSize - in, covered - pos);
      if (std::find(bounced.begin(), bounced.end(), k) != bounced.end()) {
        std::memcpy(out.data() + done + pos, static_cast<std::byte*>(iov[k].iov_base) + in, n);
      }
      pos += n;
    }
    index += iov.size();
    done += covered;
  }
  return done;
}

// ---- writeback -----------------------------------------------------------------------------

void Mapping::WriteRange(uint64_t first, uint64_t last, SyncMode mode) {
  struct Run {
    uint64_t first;
    std::vector<iovec> iov;
  };
  std::vector<Run> runs;
  uint64_t size_snapshot;
  {
    Lock lock(mu_);
    // A frozen range is being punched: an fsync waits for it, a background pass leaves it.
    if (mode == SyncMode::kAll) {
      cv_.wait(lock, [&] { return frozen_first_ > frozen_last_ || frozen_last_ < first ||
                                  frozen_first_ > last; });
    }
    ForEachTagged(false, first, last, [&](uint64_t index, Page& p) {
      if (Frozen(index)) return;
      if (runs.empty() || runs.back().first + runs.back().iov.size() != index ||
          runs.back().iov.size() >= options_.max_write_pages) {
        runs.push_back({index, {}});
      }
      SetDirtyBit(index, p, false);
      SetWritebackBit(index, p, true);
      runs.back().iov.push_back({p.data.get(), kPageSize});
    });
    size_snapshot = size_.load(std::memory_order_relaxed);
  }
  // A writeback that waits hands the store every run at once (it may write them in
  // parallel); a background one writes run after run, each finished before the next starts.
  std::vector<Status> results(runs.size());
  if (mode == SyncMode::kAll && !runs.empty()) {
    std::vector<AddressSpaceOps::PageRun> all;
    all.reserve(runs.size());
    for (const Run& run : runs) all.push_back({run.first, run.iov});
    ops_->WritePagesForSync(all, size_snapshot, results);
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    const uint64_t n = run.iov.size();
    if (mode != SyncMode::kAll) results[r] = ops_->WritePages(run.first, run.iov, size_snapshot);
    const Status& s = results[r];
    const uint64_t off = run.first << kPageShift;
    const uint64_t len = n << kPageShift;
    if (wb_) wb_->AccountWritten(len, !s.ok());
    uint64_t backing = 0;
    if (s.ok()) {
      NoteWritten(len);
    } else {
      // Recorded before the pages leave writeback (SEMANTICS.md §1, memory order).
      WritebackFailed(s.err(), off, len);
      if (options_.policy == FailurePolicy::kRevert) {
        auto b = ops_->BackingSize();
        backing = b.ok() ? *b : 0;
      }
    }
    Lock lock(mu_);
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t index = run.first + k;
      Page* p = Find(index);
      SetWritebackBit(index, *p, false);
      if (s.ok()) continue;
      if (options_.policy == FailurePolicy::kKeepDirty) {
        MarkDirty(lock, index, *p);
      } else if (options_.policy == FailurePolicy::kRevert) {
        Erase(index);
      }
    }
    if (!s.ok() && options_.policy == FailurePolicy::kRevert) AfterRevert(lock, backing);
    cv_.notify_all();
  }
  if (mode == SyncMode::kAll) WaitRange(first, last);
}

void Mapping::AfterRevert(Lock& /*lock*/, uint64_t backing_size) {
  // Back to the on-disk size, except for data still waiting to be written.
  const uint64_t live_end = LastTagged() << kPageShift;
  const uint64_t cur = size_.load(std::memory_order_relaxed);
  const uint64_t new_size = std::min(cur, std::max(backing_size, live_end));
  size_.store(new_size, std::memory_order_release);
  DropFrom((new_size + kPageMask) >> kPageShift, /*dirty_too=*/false, SIZE_MAX);
}

void Mapping::WaitRange(uint64_t first, uint64_t last) {
  Lock lock(mu_);
  cv_.wait(lock, [&] { return !AnyWriteback(first, last); });
}

bool Mapping::AnyBusyIn(uint64_t first, uint64_t last) {
  if (AnyWriteback(first, last)) return true;
  if (nlocked_ == 0) return false;
  for (auto it = chunks_.lower_bound(first >> kChunkShift); it != chunks_.end(); ++it) {
    const uint64_t base = it->first << kChunkShift;
    if (base > last) break;
    for (size_t slot = 0; slot < kChunkPages; ++slot) {
      const uint64_t index = base + slot;
      if (it->second->pages[slot].locked && index >= first && index <= last) return true;
    }
  }
  return false;
}

size_t Mapping::DropFrom(uint64_t first, bool dirty_too, size_t max, uint64_t end) {
  size_t dropped = 0;
  std::vector<uint64_t> victims;
  for (auto it = chunks_.lower_bound(first >> kChunkShift); it != chunks_.end(); ++it) {
    const uint64_t base = it->first << kChunkShift;
    if (base >= end) break;
    for (size_t slot = 0; slot < kChunkPages && victims.size() < max; ++slot) {
      const Page& p = it->second->pages[slot];
      if (!p.data || base + slot < first || base + slot >= end || p.writeback || p.locked) {
        continue;
      }
      if (p.dirty && !dirty_too) continue;
      victims.push_back(base + slot);
    }
    if (victims.size() >= max) break;
  }
  for (uint64_t i : victims) {
    Erase(i);
    ++dropped;
  }
  return dropped;
}

void Mapping::Truncate(uint64_t new_size) {
  Lock lock(mu_);
  const uint64_t first_touched = new_size >> kPageShift;
  cv_.wait(lock, [&] { return !AnyBusyFrom(first_touched); });
  DropFrom((new_size + kPageMask) >> kPageShift, /*dirty_too=*/true, SIZE_MAX);
  if (new_size & kPageMask) {
    if (Page* p = Find(first_touched)) {
      const size_t in = static_cast<size_t>(new_size & kPageMask);
      std::memset(p->data.get() + in, 0, kPageSize - in);
    }
  }
  size_.store(new_size, std::memory_order_release);
}

void Mapping::Freeze(uint64_t offset, uint64_t len) {
  const uint64_t first = offset >> kPageShift, last = (offset + len - 1) >> kPageShift;
  Lock lock(mu_);
  cv_.wait(lock, [&] { return frozen_first_ > frozen_last_; });  // one range at a time
  frozen_off_ = offset;
  frozen_len_ = len;
  frozen_first_ = first;
  frozen_last_ = last;
  cv_.wait(lock, [&] { return !AnyBusyIn(first, last); });
}

void Mapping::Thaw(bool zeroed) {
  Lock lock(mu_);
  if (zeroed) {
    const uint64_t offset = frozen_off_, end = frozen_off_ + frozen_len_;
    cv_.wait(lock, [&] { return !AnyBusyIn(frozen_first_, frozen_last_); });
    DropFrom((offset + kPageMask) >> kPageShift, /*dirty_too=*/true, SIZE_MAX,
             end >> kPageShift);
    for (uint64_t index : {frozen_first_, frozen_last_}) {  // partial pages at either end
      Page* p = Find(index);
      if (!p) continue;
      const uint64_t base = index << kPageShift;
      const uint64_t from = std::max(offset, base), to = std::min(end, base + kPageSize);
      std::memset(p->data.get() + (from - base), 0, static_cast<size_t>(to - from));
    }
  }
  frozen_first_ = 1;
  frozen_last_ = 0;
  // A background pass that found only frozen dirty pages took the mapping off the flusher's
  // list and left them: put it back, or they would wait for the next fsync.
  if (wb_ && ndirty_.load(std::memory_order_relaxed) != 0) wb_->MarkDirty(shared_from_this());
  cv_.notify_all();
}

uint64_t Mapping::NextUnwritten(uint64_t index) {
  Lock lock(mu_);
  for (auto it = chunks_.lower_bound(index >> kChunkShift); it != chunks_.end(); ++it) {
    const uint64_t base = it->first << kChunkShift;
    const auto both = it->second->dirty | it->second->writeback;
    for (size_t slot = index > base ? static_cast<size_t>(index - base) : 0; slot < kChunkPages;
         ++slot) {
      if (both.test(slot)) return base + slot;
    }
  }
  return UINT64_MAX;
}

uint64_t Mapping::NextWritten(uint64_t index) {
  Lock lock(mu_);
  for (uint64_t i = index;;) {
    auto it = chunks_.find(i >> kChunkShift);
    if (it == chunks_.end()) return i;
    const uint64_t base = it->first << kChunkShift;
    const auto idle = ~(it->second->dirty | it->second->writeback);
    const size_t slot = static_cast<size_t>(i - base);
    const size_t found = idle.test(slot) ? slot : idle._Find_next(slot);
    if (found < kChunkPages) return base + found;
    i = base + kChunkPages;  // the whole rest of the chunk is unwritten
  }
}

void Mapping::WrittenBackByWriteback() {
  Lock lock(mu_);
  if (ndirty_.load(std::memory_order_relaxed) == 0) {
    inode_dirtied_ns_.store(0, std::memory_order_release);
  }
}

void Mapping::GrowSize(uint64_t size) {
  Lock lock(mu_);
  if (size > size_.load(std::memory_order_relaxed)) size_.store(size, std::memory_order_release);
}

size_t Mapping::DropCleanPages(size_t max) {
  Lock lock(mu_);
  return DropFrom(0, /*dirty_too=*/false, max);
}

bool Mapping::InvalidateRange(uint64_t first, uint64_t last) {
  Lock lock(mu_);
  cv_.wait(lock, [&] { return !AnyBusyIn(first, last); });
  DropFrom(first, /*dirty_too=*/false, SIZE_MAX, last + 1);
  bool dirty_left = false;  // no page is busy now: what is left is dirty
  ForEachTagged(/*writeback=*/false, first, last, [&](uint64_t, Page&) { dirty_left = true; });
  return !dirty_left;
}

void Mapping::DropAllPages() {
  Lock lock(mu_);
  cv_.wait(lock, [&] { return !AnyBusyFrom(0); });
  DropFrom(0, /*dirty_too=*/true, SIZE_MAX);
}

void Mapping::NoteWritten(uint64_t len) {
  if (wb_ == nullptr) return;
  const uint64_t every = wb_->options().persist_after_bytes;
  const uint64_t now = unpersisted_.fetch_add(len, std::memory_order_relaxed) + len;
  if (every != 0 && now >= every && now - len < every && !no_persist_.load()) {
    wb_->QueuePersist(shared_from_this());
  }
}

Status Mapping::SyncStore(bool datasync, StoreSyncError who) {
  std::lock_guard lock(store_sync_mu_);
  // Everything written back before this point is covered by the sync below; what lands
  // meanwhile counts towards the next one.
  unpersisted_.store(0, std::memory_order_relaxed);
  Status s = ops_->Sync(datasync);
  if (!s.ok() && who == StoreSyncError::kRecord) SetError(s.err(), 0, 0);
  return s;
}

bool Mapping::PersistInBackground() {
  std::lock_guard lock(store_sync_mu_);
  if (unpersisted_.exchange(0, std::memory_order_relaxed) == 0) return false;  // an fsync did it
  Status s = ops_->Persist();
  if (s.err() == -EOPNOTSUPP) {
    no_persist_.store(true);
    return false;
  }
  if (!s.ok()) WritebackFailed(s.err(), 0, 0);
  return true;
}

// ---- errors --------------------------------------------------------------------------------

void Mapping::WritebackFailed(int err, uint64_t off, uint64_t len) {
  if (options_.policy == FailurePolicy::kDelayed) {
    Lock lock(mu_);
    pending_err_ = err;
    pending_off_ = off;
    pending_len_ = len;
  } else {
    SetError(err, off, len);
  }
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

bool Mapping::HasDelayedError() const {
  Lock lock(mu_);
  return pending_err_ != 0;
}

size_t Mapping::CachedPages() const {
  Lock lock(mu_);
  return npages_;
}

}  // namespace errseq::mm

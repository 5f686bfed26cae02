// Mapping: one file's page cache (mirrors the kernel's struct address_space). It holds the
// pages, which of them are dirty or under writeback, the file's in-memory size (i_size), and
// the two error trackers every file has: `wb_err` (an Errseq) and the legacy AS_EIO/AS_ENOSPC
// pair. SetError() is mapping_set_error(): every failed page write of this file goes through it.
//
// Locking: `mu_` guards the page index, every page's flags and contents, the dirty and
// writeback sets, `pending_err_` and `size_` updates. It is never held during I/O:
//  - read-in: a new page is inserted with `locked` set, the lock is dropped for the I/O, and
//    anyone else who needs the page waits on `cv_` until it is unlocked;
//  - writeback: pages are moved from dirty to writeback under the lock, the lock is dropped for
//    the I/O, and the pages' memory is read without it. That is safe because a writer waits
//    (on `cv_`) for a page's writeback to end before changing it (stable pages).
// Errors are recorded before a page's writeback state is released (SEMANTICS.md §1), so a
// waiter that sees writeback finished also sees the error.
// Lock order: Mapping::mu_ before Writeback::mu_ (MarkDirty is called with mu_ held); never the
// reverse, and never two Mapping locks at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <array>
#include <bitset>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <span>

#include "errseq/core/errseq.h"
#include "errseq/core/legacy_errors.h"
#include "errseq/mm/address_space_ops.h"
#include "errseq/mm/error_observer.h"
#include "errseq/mm/failure_policy.h"
#include "errseq/mm/page_pool.h"
#include "errseq/mm/readahead.h"

namespace errseq::mm {

class Writeback;

enum class SyncMode { kNone, kAll };  // WB_SYNC_NONE, WB_SYNC_ALL

class Mapping : public std::enable_shared_from_this<Mapping> {
 public:
  struct Options {
    uint64_t owner = 0;                 // the host inode's number, for error records
    FailurePolicy policy = FailurePolicy::kClean;
    Errseq* sb_err = nullptr;           // the super block's s_wb_err (may be null)
    ErrorObserver* observer = nullptr;  // may be null; must outlive the mapping
    uint64_t initial_size = 0;          // i_size when the inode is first read in
    size_t max_write_pages = 256;       // longest run of pages in one WritePages call
    // false: a read of whole pages that are not cached goes straight from the store into the
    // caller's buffer and is not kept (a front end whose store and kernel cache the data
    // already). Cached pages are always read from the cache, so a read shows exactly what
    // reading them in would have shown.
    bool cache_reads = true;
    // The largest readahead window in pages (the device's read_ahead_kb / 4: Linux's
    // bdi->ra_pages). 0: read only the pages asked for.
    size_t readahead_pages = kDefaultReadaheadPages;
  };

  Mapping(std::shared_ptr<AddressSpaceOps> ops, Writeback* wb, Options options);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Buffered write: copies `data` into the cache at `offset` (or at i_size when `append`) and
  // marks the pages dirty; extends i_size. Returns how many bytes were copied (short only if a
  // read-in failed part way) and stores where they landed in *landed. Waits for writeback of
  // the pages it changes. A page that is partly overwritten is read in first.
  Result<size_t> Write(uint64_t offset, std::span<const std::byte> data, bool append,
                       uint64_t* landed = nullptr);

  // Buffered read of up to out.size() bytes at `offset`, stopping at i_size. Whole uncached
  // pages skip the cache when Options::cache_reads is false. Pages that are not cached are read
  // in with Linux's readahead for the reading description `ra` (mm/readahead.c: an initial
  // window for a read at the start of the file or where the description's last read ended, a
  // window grown from the cached pages before a read that continues a run, only the pages
  // asked for otherwise, and the next window when a read reaches the marked page of the last);
  // null: a description that has not read before.
  Result<size_t> Read(uint64_t offset, std::span<std::byte> out, ReadaheadState* ra = nullptr);

  // What Read(offset, size bytes) would return, as a range of the store for the caller to move
  // itself (AddressSpaceOps::ReadRange), when Read would take every byte from the store:
  // cache_reads is false, `offset` is page-aligned, below i_size, and none of the pages is
  // cached (checked under the lock, so a write that finished before this call is seen).
  // nullopt: call Read instead.
  Result<std::optional<StoreRange>> ReadFromStore(uint64_t offset, size_t size);

  // An O_DIRECT read: up to out.size() bytes at `offset` straight from the store, stopping
  // at i_size. Cached pages are neither read nor changed, and the store's error is returned as
  // the store gave it (a direct read's own I/O error; a read into the cache makes every error
  // EIO). The caller writes the range back first.
  Result<size_t> ReadDirect(uint64_t offset, std::span<std::byte> out);

  // Writes back dirty pages with index in [first, last]. kAll also waits for writeback already
  // in flight in that range. Page I/O errors are recorded with SetError (per the policy), never
  // returned: the caller learns of them through its errseq cursor.
  void WriteRange(uint64_t first, uint64_t last, SyncMode mode);
  void WriteAll(SyncMode mode) { WriteRange(0, UINT64_MAX, mode); }
  // filemap_write_and_wait_range: WriteRange(first, last, kAll), then the legacy flags taken
  // (filemap_check_errors); returns the error they held (0: none).
  int WriteAndWaitRange(uint64_t first, uint64_t last) {
    WriteRange(first, last, SyncMode::kAll);
    return legacy_.TestAndClear();
  }
  // Waits until no page in [first, last] is under writeback.
  void WaitRange(uint64_t first, uint64_t last);

  // Who hears of a failed store sync: every description (kRecord), or only the caller
  // (kCallerOnly: a block device's cache flush, which blkdev_fsync returns and records nowhere).
  enum class StoreSyncError { kRecord, kCallerOnly };
  // The fs's durability step of an fsync (AddressSpaceOps::Sync). Its failure means written
  // data may be gone: with kRecord it is recorded with SetError, so every description learns
  // of it. One store sync at a time per mapping (store_sync_mu_): when a background persist and
  // an fsync meet, the store's error goes to whichever asks first, and it is recorded before
  // the other one returns, so an fsync never returns 0 once the store has lost this file's data.
  Status SyncStore(bool datasync, StoreSyncError who = StoreSyncError::kRecord);
  // Write-behind, on Writeback's persist thread: AddressSpaceOps::Persist when something was
  // written back since the store's last sync. A failure is recorded like a failed page write.
  // Returns whether the store was asked.
  bool PersistInBackground();

  // Sets i_size: drops cached pages wholly past it (dirty ones too) and zeroes the tail of a
  // partial last page. Waits for writeback of the pages it drops.
  void Truncate(uint64_t new_size);

  // A punch or zero-range of the store, in three steps. Freeze waits for writeback and read-in
  // of the pages [offset, offset + len) touches to end and keeps writeback off them (a
  // background pass skips them, an fsync's waits) while the caller changes the store. Thaw
  // then, if the store was changed (`zeroed`), makes the range read as zeros in the cache:
  // whole pages in it are dropped, dirty ones too (ext4 on Linux 6.x drops them), partial
  // pages at its ends are zeroed in place and keep their state. If the store refused, the
  // pages are left as they were: no dirty data is lost for a call that failed. i_size is
  // unchanged. One range at a time (the caller holds its inode's io lock exclusively).
  // REQUIRES: len > 0 and offset + len does not overflow.
  void Freeze(uint64_t offset, uint64_t len);
  void Thaw(bool zeroed);

  // The first page at or after `index` whose data the store does not have yet (dirty or under
  // writeback), or UINT64_MAX; and the first at or after `index` that is neither.
  uint64_t NextUnwritten(uint64_t index);
  uint64_t NextWritten(uint64_t index);

  // Sets i_size to `size` if that is larger (fallocate past the end).
  void GrowSize(uint64_t size);

  // The cache's side of an O_DIRECT write of pages [first, last]: waits for their read-in and
  // writeback to end, then drops those that are clean (after the caller wrote the range back,
  // all of them unless a failed write left one dirty: keep_dirty). Returns whether no page of
  // the range is left (invalidate_inode_pages2_range succeeded).
  bool InvalidateRange(uint64_t first, uint64_t last);

  // Drops up to `max` clean, idle pages; returns how many. For cache eviction.
  size_t DropCleanPages(size_t max);
  // Drops every page (dirty ones included); for eviction after a final writeback.
  void DropAllPages();

  // mapping_set_error: records `err` in wb_err, the super block's errseq and the legacy pair,
  // then tells the observer. REQUIRES: err < 0.
  void SetError(int err, uint64_t offset, uint64_t length);
  // delayed policy: records the errors held back since the last call.
  void FlushDelayedErrors();
  // delayed policy: whether an error is held back (not yet in wb_err).
  bool HasDelayedError() const;

  Errseq& wb_err() { return wb_err_; }
  LegacyErrors& legacy() { return legacy_; }
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  uint64_t owner() const { return options_.owner; }
  FailurePolicy policy() const { return options_.policy; }
  AddressSpaceOps& ops() { return *ops_; }

  bool HasDirtyPages() const { return ndirty_.load(std::memory_order_acquire) != 0; }
  size_t CachedPages() const;
  size_t DirtyPages() const { return ndirty_.load(std::memory_order_acquire); }
  // When the file went from clean to dirty as Linux's writeback sees it (inode->dirtied_when),
  // the order sync and syncfs write files back in (Writeback::SyncAll): an fsync leaves it
  // (ext4 keeps the inode dirty until the writeback machinery writes it); a writeback by sync,
  // syncfs or the flusher that leaves no page dirty resets it (WrittenBackByWriteback). 0: clean.
  int64_t inode_dirtied_ns() const { return inode_dirtied_ns_.load(std::memory_order_acquire); }
  void WrittenBackByWriteback();
  // When the mapping last went from clean to dirty (for dirty expiry).
  std::chrono::steady_clock::time_point dirtied_when() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(dirtied_when_ns_.load(std::memory_order_acquire)));
  }

 private:
  struct Page {
    PageMemory data;  // null: no page at this index
    bool uptodate = false;
    bool dirty = false;
    bool writeback = false;
    bool locked = false;
    bool ra_mark = false;  // PG_readahead: a read that reaches it reads the next window
  };
  // The page index: 512-page chunks (2 MiB of file) in an ordered map, with dirty and
  // writeback bitmaps so that range scans are bit operations (the kernel's xarray with tags).
  static constexpr unsigned kChunkShift = 9;
  static constexpr uint64_t kChunkPages = uint64_t{1} << kChunkShift;
  struct Chunk {
    std::array<Page, kChunkPages> pages;
    std::bitset<kChunkPages> dirty, writeback;
    uint32_t present = 0;
  };
  using Lock = std::unique_lock<std::mutex>;

  Chunk* ChunkOf(uint64_t index);  // nullptr if no page of its chunk is cached
  Page* Find(uint64_t index);
  Page& Insert(uint64_t index);  // REQUIRES: no page at index
  void Erase(uint64_t index);
  void SetDirtyBit(uint64_t index, Page& p, bool on);
  void SetWritebackBit(uint64_t index, Page& p, bool on);
  // Calls fn(index, page) for every dirty (or writeback) page in [first, last], in order. fn may
  // change the page's tags but must not erase pages.
  template <class Fn>
  void ForEachTagged(bool writeback, uint64_t first, uint64_t last, Fn&& fn);
  bool AnyWriteback(uint64_t first, uint64_t last);
  uint64_t LastTagged();  // highest dirty or writeback index + 1, or 0

  // Returns the page at `index`, uptodate and not locked, creating and reading it in as needed
  // (a page a failed read left not uptodate is read again; a page wholly at or past i_size is
  // zero-filled without I/O). With `for_write`, also waits
  // until it is not under writeback. May drop and retake `lock`.
  Result<Page*> GetPage(Lock& lock, uint64_t index, bool for_write);
  // Readahead (mu_ held; may drop and retake `lock`): a read of `req` pages from `index`
  // missed the cache (page_cache_sync_ra), or its batch of cached pages ends at `index`, which
  // carries the mark (page_cache_async_ra). They choose a window, update `ra` and read it in.
  void SyncReadahead(Lock& lock, ReadaheadState& ra, uint64_t index, size_t req);
  void AsyncReadahead(Lock& lock, ReadaheadState& ra, uint64_t index, size_t req);
  // Reads in the pages of [first, first + count) below i_size that are not cached, each run of
  // them (at most 256 pages) in one ReadPages call, and marks page `mark` if it is one of them.
  // A run that fails leaves its pages cached but not uptodate (no error: readahead only).
  void ReadWindow(Lock& lock, uint64_t first, size_t count, uint64_t mark);
  // Page for a write that covers it whole: no read-in needed.
  Page* GetPageForOverwrite(Lock& lock, uint64_t index);
  // cache_reads=false: how many whole pages from `index` (at most max_pages) are not cached.
  size_t UncachedRun(uint64_t index, size_t max_pages);
  void MarkDirty(Lock& lock, uint64_t index, Page& page);
  void AfterRevert(Lock& lock, uint64_t backing_size);
  // A page write (or a persist) of [off, off + len) failed: record it now, or hold it back for
  // the next sync call under the delayed policy.
  void WritebackFailed(int err, uint64_t off, uint64_t len);
  // `len` more bytes reached the store: ask for a background persist every
  // WritebackOptions::persist_after_bytes.
  void NoteWritten(uint64_t len);
  bool AnyBusyFrom(uint64_t first_index) { return AnyBusyIn(first_index, UINT64_MAX); }
  bool Frozen(uint64_t index) const { return index >= frozen_first_ && index <= frozen_last_; }
  bool AnyBusyIn(uint64_t first, uint64_t last);  // locked or writeback in [first, last]
  // Drops pages at index >= first (and < end) that are idle (and clean, unless `dirty_too`).
  size_t DropFrom(uint64_t first, bool dirty_too, size_t max, uint64_t end = UINT64_MAX);

  const std::shared_ptr<AddressSpaceOps> ops_;
  Writeback* const wb_;
  const Options options_;
  Errseq wb_err_;
  LegacyErrors legacy_;

  mutable std::mutex mu_;
  // Freeze/Thaw: the byte range being punched and its pages; none when first > last.
  uint64_t frozen_off_ = 0, frozen_len_ = 0;           // GUARDED_BY(mu_)
  uint64_t frozen_first_ = 1, frozen_last_ = 0;        // GUARDED_BY(mu_)
  std::condition_variable cv_;  // page unlocked, writeback ended
  std::map<uint64_t, std::unique_ptr<Chunk>> chunks_;  // by index >> kChunkShift
  // The chunk found last (sequential I/O finds the same one 512 times in a row); reset when
  // a chunk is erased. Both GUARDED_BY(mu_).
  uint64_t hint_key_ = 0;
  Chunk* hint_ = nullptr;
  size_t npages_ = 0, nwriteback_ = 0, nlocked_ = 0;
  std::atomic<uint64_t> size_;
  int pending_err_ = 0;  // delayed policy: error held back until the next sync call
  uint64_t pending_off_ = 0, pending_len_ = 0;
  std::atomic<int64_t> dirtied_when_ns_{0};  // steady_clock, written under mu_
  std::atomic<int64_t> inode_dirtied_ns_{0};  // steady_clock, written under mu_; 0: clean
  std::atomic<size_t> ndirty_{0};             // dirty pages; written under mu_, read anywhere
  std::mutex store_sync_mu_;                  // held across each Sync and Persist of the store
  std::atomic<uint64_t> unpersisted_{0};      // bytes written back since the store's last sync
  std::atomic<bool> no_persist_{false};       // the store answered Persist with EOPNOTSUPP
  friend class Writeback;
  bool on_dirty_list_ = false;    // GUARDED_BY(Writeback::mu_)
  bool on_persist_list_ = false;  // GUARDED_BY(Writeback::mu_)
};

}  // namespace errseq::mm

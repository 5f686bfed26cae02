// Mapping on its own (no super block, no flusher): the page cache of one file over an in-memory
// AddressSpaceOps that counts its calls and can be told to fail. Covers read-in, i_size, runs,
// truncate, eviction, mapping_set_error and the four failure policies page by page; and
// write-behind (background persists of the store) against fsync.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "errseq/mm/mapping.h"
#include "errseq/mm/writeback.h"

namespace errseq::mm {
namespace {

// A backing store in memory. `fail_writes` makes every WritePages fail with that errno.
class MemOps : public AddressSpaceOps {
 public:
  Status ReadPages(uint64_t first, std::span<const iovec> pages) override {
    std::lock_guard l(mu);
    ++reads;
    read_calls.push_back({first, pages.size()});
    for (size_t k = 0; k < pages.size(); ++k) {
      auto* dst = static_cast<std::byte*>(pages[k].iov_base);
      const uint64_t off = (first + k) * kPageSize;
      for (uint64_t b = 0; b < kPageSize; ++b) {
        dst[b] = off + b < data.size() ? data[off + b] : std::byte{0};
      }
    }
    return Status::Ok();
  }
  Status WritePages(uint64_t first, std::span<const iovec> pages, uint64_t file_size) override {
    std::lock_guard l(mu);
    write_calls.push_back({first, pages.size()});
    if (fail_writes) return Status::Error(fail_writes);
    for (size_t k = 0; k < pages.size(); ++k) {
      const uint64_t off = (first + k) * kPageSize;
      if (off >= file_size) break;
      const uint64_t n = std::min<uint64_t>(kPageSize, file_size - off);
      if (data.size() < off + n) data.resize(off + n);
      std::memcpy(data.data() + off, pages[k].iov_base, n);
    }
    return Status::Ok();
  }
  Status Sync(bool) override { return Status::Ok(); }
  // Write-behind: counts calls; `hold_persist` keeps a call waiting until it is cleared;
  // answers `persist_result` (0: success).
  Status Persist() override {
    std::unique_lock l(mu);
    ++persists;
    persist_cv.notify_all();
    persist_cv.wait(l, [&] { return !hold_persist; });
    return persist_result == 0 ? Status::Ok() : Status::Error(persist_result);
  }
  Result<uint64_t> BackingSize() override {
    std::lock_guard l(mu);
    return data.size();
  }
  int Persists() {
    std::lock_guard l(mu);
    return persists;
  }
  // Waits (up to 5 s) until Persist has been called `n` times.
  bool WaitPersists(int n) {
    std::unique_lock l(mu);
    return persist_cv.wait_for(l, std::chrono::seconds(5), [&] { return persists >= n; });
  }
  void SetHold(bool hold) {
    std::lock_guard l(mu);
    hold_persist = hold;
    persist_cv.notify_all();
  }

  std::mutex mu;
  std::vector<std::byte> data;
  int fail_writes = 0;
  int reads = 0;
  int persists = 0;
  int persist_result = 0;
  bool hold_persist = false;
  std::condition_variable persist_cv;
  std::vector<std::pair<uint64_t, size_t>> write_calls;  // (first page, pages)
  std::vector<std::pair<uint64_t, size_t>> read_calls;   // (first page, pages)
};

class Recorder final : public ErrorObserver {
 public:
  void OnWritebackError(const ErrorRecord& r) override { records.push_back(r); }
  std::vector<ErrorRecord> records;
};

std::vector<std::byte> Bytes(size_t n, int value) { return std::vector<std::byte>(n, std::byte(value)); }

struct Fixture {
  explicit Fixture(FailurePolicy policy = FailurePolicy::kClean, uint64_t initial_size = 0,
                   size_t max_write_pages = 256, bool cache_reads = true) {
    ops = std::make_shared<MemOps>();
    Mapping::Options o;
    o.owner = 7;
    o.policy = policy;
    o.sb_err = &sb_err;
    o.observer = &observer;
    o.initial_size = initial_size;
    o.max_write_pages = max_write_pages;
    o.cache_reads = cache_reads;
    m = std::make_shared<Mapping>(ops, nullptr, o);
  }
  size_t Write(uint64_t off, size_t len, int value) {
    auto b = Bytes(len, value);
    auto r = m->Write(off, b, false);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : 0;
  }
  std::vector<std::byte> Read(uint64_t off, size_t len) {
    std::vector<std::byte> out(len, std::byte{0xee});
    auto r = m->Read(off, out);
    EXPECT_TRUE(r.ok());
    out.resize(r.ok() ? *r : 0);
    return out;
  }
  Errseq sb_err;
  Recorder observer;
  std::shared_ptr<MemOps> ops;
  std::shared_ptr<Mapping> m;
};

TEST(Mapping, WriteThenReadComesFromTheCacheWithoutIo) {
  Fixture f;
  EXPECT_EQ(f.Write(0, 3 * kPageSize, 0x11), 3 * kPageSize);
  EXPECT_EQ(f.m->size(), 3 * kPageSize);
  EXPECT_EQ(f.m->DirtyPages(), 3u);
  EXPECT_EQ(f.Read(0, 3 * kPageSize), Bytes(3 * kPageSize, 0x11));
  EXPECT_EQ(f.ops->reads, 0) << "whole-page writes need no read-in and reads hit the cache";
  EXPECT_TRUE(f.ops->write_calls.empty()) << "buffered: nothing written back yet";
}

TEST(Mapping, PartialPageWriteReadsThePageInFirst) {
  Fixture f(FailurePolicy::kClean, /*initial_size=*/kPageSize);
  f.ops->data = Bytes(kPageSize, 0xaa);
  f.Write(100, 10, 0xbb);
  EXPECT_EQ(f.ops->reads, 1);
  auto page = f.Read(0, kPageSize);
  ASSERT_EQ(page.size(), kPageSize);
  EXPECT_EQ(page[99], std::byte{0xaa});
  EXPECT_EQ(page[100], std::byte{0xbb});
  EXPECT_EQ(page[109], std::byte{0xbb});
  EXPECT_EQ(page[110], std::byte{0xaa});
}

TEST(Mapping, ReadStopsAtSizeAndHolesReadAsZeros) {
  Fixture f;
  f.Write(2 * kPageSize + 5, 10, 0x22);  // a hole of two pages and a bit before it
  EXPECT_EQ(f.m->size(), 2 * kPageSize + 15);
  auto all = f.Read(0, 10 * kPageSize);
  ASSERT_EQ(all.size(), 2 * kPageSize + 15) << "short read at i_size";
  EXPECT_EQ(all[0], std::byte{0});
  EXPECT_EQ(all[2 * kPageSize + 4], std::byte{0});
  EXPECT_EQ(all[2 * kPageSize + 5], std::byte{0x22});
  EXPECT_TRUE(f.Read(2 * kPageSize + 15, 1).empty()) << "at i_size: end of file";
  EXPECT_TRUE(f.Read(100 * kPageSize, 1).empty()) << "past i_size: end of file";
}

TEST(Mapping, AppendLandsAtSize) {
  Fixture f;
  f.Write(0, 10, 1);
  auto b = Bytes(5, 2);
  uint64_t landed = 0;
  ASSERT_EQ(*f.m->Write(0, b, /*append=*/true, &landed), 5u);
  EXPECT_EQ(landed, 10u);
  EXPECT_EQ(f.m->size(), 15u);
}

TEST(Mapping, ContiguousDirtyPagesGoOutAsRunsCutAtTheMaximum) {
  Fixture f(FailurePolicy::kClean, 0, /*max_write_pages=*/4);
  f.Write(0, 6 * kPageSize, 1);               // pages 0..5: runs of 4 and 2
  f.Write(10 * kPageSize, kPageSize, 2);      // page 10: a run of its own
  f.m->WriteAll(SyncMode::kAll);
  std::vector<std::pair<uint64_t, size_t>> want = {{0, 4}, {4, 2}, {10, 1}};
  EXPECT_EQ(f.ops->write_calls, want);
  EXPECT_FALSE(f.m->HasDirtyPages());
  EXPECT_EQ(f.ops->data.size(), 11 * kPageSize);
  EXPECT_EQ(f.ops->data[10 * kPageSize], std::byte{2});
}

// A writeback that waits hands the store all its runs in one call (it may write them at once);
// each run's outcome is its own: under keep-dirty only the failed run stays dirty and its range
// alone is recorded. A background pass still writes run after run.
TEST(Mapping, AnFsyncHandsTheStoreEveryRunAtOnceAndKeepsEachOutcome) {
  struct BatchOps : MemOps {
    void WritePagesForSync(std::span<const PageRun> runs, uint64_t size,
                           std::span<Status> results) override {
      {
        std::lock_guard l(mu);
        batches.push_back(runs.size());
      }
      for (size_t k = 0; k < runs.size(); ++k) {
        results[k] = runs[k].first_index == 10
                         ? Status::Error(-ENOSPC)
                         : MemOps::WritePages(runs[k].first_index, runs[k].pages, size);
      }
    }
    std::vector<size_t> batches;
  };
  auto ops = std::make_shared<BatchOps>();
  Recorder observer;
  Mapping::Options o;
  o.policy = FailurePolicy::kKeepDirty;
  o.observer = &observer;
  Mapping m(ops, nullptr, o);
  for (uint64_t index : {0, 1, 10, 20}) {
    auto b = Bytes(kPageSize, static_cast<int>(index + 1));
    ASSERT_TRUE(m.Write(index * kPageSize, b, false).ok());
  }
  const errseq_t since = m.wb_err().Sample();
  m.WriteAll(SyncMode::kAll);
  EXPECT_EQ(ops->batches, std::vector<size_t>{3}) << "runs 0-1, 10 and 20 in one call";
  EXPECT_TRUE(ops->write_calls.size() == 2) << "the two runs that were written";
  EXPECT_EQ(m.wb_err().Check(since), -ENOSPC);
  ASSERT_EQ(observer.records.size(), 1u);
  EXPECT_EQ(observer.records[0].offset, 10 * kPageSize);
  EXPECT_EQ(observer.records[0].length, kPageSize);
  EXPECT_EQ(m.DirtyPages(), 1u) << "only the failed run is dirty again";
  EXPECT_EQ(ops->data[20 * kPageSize], std::byte{21});

  ops->write_calls.clear();
  auto b = Bytes(kPageSize, 0x30);
  ASSERT_TRUE(m.Write(30 * kPageSize, b, false).ok());
  m.WriteAll(SyncMode::kNone);
  EXPECT_EQ(ops->batches.size(), 1u) << "a background pass does not batch";
  std::vector<std::pair<uint64_t, size_t>> want = {{10, 1}, {30, 1}};
  EXPECT_EQ(ops->write_calls, want);
}

TEST(Mapping, WriteRangeTouchesOnlyItsPages) {
  Fixture f;
  f.Write(0, 4 * kPageSize, 1);
  f.m->WriteRange(1, 2, SyncMode::kAll);
  std::vector<std::pair<uint64_t, size_t>> want = {{1, 2}};
  EXPECT_EQ(f.ops->write_calls, want);
  EXPECT_EQ(f.m->DirtyPages(), 2u);
}

TEST(Mapping, WritebackDoesNotWriteBytesPastSize) {
  Fixture f;
  f.Write(0, 100, 3);
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_EQ(f.ops->data.size(), 100u);
}

TEST(Mapping, TruncateDropsPagesPastTheEndAndZeroesThePartialTail) {
  Fixture f;
  f.Write(0, 4 * kPageSize, 0x33);
  f.m->Truncate(kPageSize + 10);
  EXPECT_EQ(f.m->size(), kPageSize + 10);
  EXPECT_EQ(f.m->CachedPages(), 2u);
  EXPECT_EQ(f.m->DirtyPages(), 2u) << "dirty pages past the end are dropped too";
  f.m->Truncate(4 * kPageSize);  // extend again: the old bytes must not come back
  auto all = f.Read(0, 4 * kPageSize);
  ASSERT_EQ(all.size(), 4 * kPageSize);
  EXPECT_EQ(all[kPageSize + 9], std::byte{0x33});
  EXPECT_EQ(all[kPageSize + 10], std::byte{0});
  EXPECT_EQ(all[3 * kPageSize], std::byte{0});
}

TEST(Mapping, ThawAfterAPunchDropsWholePagesAndZeroesTheEndsKeepingTheirState) {
  Fixture f;
  f.Write(0, 5 * kPageSize, 0x44);
  f.m->WriteRange(0, 0, SyncMode::kAll);  // page 0 clean, 1-4 dirty
  // [100, 3 pages + 50): the end of page 0, pages 1 and 2 whole, the start of page 3.
  f.m->Freeze(100, 3 * kPageSize - 50);
  f.m->Thaw(/*zeroed=*/true);
  EXPECT_EQ(f.m->CachedPages(), 3u) << "pages 1 and 2 dropped, dirty or not";
  EXPECT_EQ(f.m->DirtyPages(), 2u) << "page 3 keeps its dirty state, page 4 is untouched";
  EXPECT_EQ(f.m->size(), 5 * kPageSize);
  auto all = f.Read(0, 5 * kPageSize);
  ASSERT_EQ(all.size(), 5 * kPageSize);
  EXPECT_EQ(all[99], std::byte{0x44});
  EXPECT_EQ(all[100], std::byte{0});
  EXPECT_EQ(all[3 * kPageSize + 49], std::byte{0});
  EXPECT_EQ(all[3 * kPageSize + 50], std::byte{0x44});
  // Pages 1 and 2 were never written back: the store has nothing for them (the caller punches
  // the store itself), so they read as the store's holes.
  EXPECT_EQ(all[kPageSize], std::byte{0});
  f.m->WriteAll(SyncMode::kAll);
  std::lock_guard l(f.ops->mu);
  for (const auto& [first, n] : f.ops->write_calls) {
    EXPECT_FALSE(first <= 2 && first + n > 1) << "a dropped page was written back";
  }
}

// A page under writeback carries the old bytes: Freeze waits for it to finish, so that the
// caller's punch of the store comes after that write, never before.
TEST(Mapping, FreezeWaitsForWritebackInFlight) {
  struct GatedOps : MemOps {
    Status WritePages(uint64_t first, std::span<const iovec> pages, uint64_t size) override {
      {
        std::unique_lock l(gate_mu);
        entered = true;
        gate_cv.notify_all();
        gate_cv.wait(l, [&] { return open; });
      }
      return MemOps::WritePages(first, pages, size);
    }
    std::mutex gate_mu;
    std::condition_variable gate_cv;
    bool open = false, entered = false;
  };
  auto ops = std::make_shared<GatedOps>();
  auto m = std::make_shared<Mapping>(ops, nullptr, Mapping::Options{});
  auto b = Bytes(2 * kPageSize, 0x55);
  ASSERT_TRUE(m->Write(0, b, false).ok());
  std::thread wb([&] { m->WriteRange(0, 1, SyncMode::kAll); });
  {
    std::unique_lock l(ops->gate_mu);
    ops->gate_cv.wait(l, [&] { return ops->entered; });
  }
  std::atomic<bool> zeroed{false};
  std::thread z([&] {
    m->Freeze(0, 2 * kPageSize);
    zeroed = true;
    m->Thaw(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(zeroed.load()) << "returned while the pages were still being written";
  {
    std::lock_guard l(ops->gate_mu);
    ops->open = true;
  }
  ops->gate_cv.notify_all();
  wb.join();
  z.join();
  EXPECT_EQ(m->CachedPages(), 0u);
}

// While a range is frozen a background pass leaves its dirty pages alone and an fsync's waits
// for the thaw; when the store refused the punch, nothing in the cache changed.
TEST(Mapping, FrozenPagesStayDirtyAndARefusedPunchLosesNothing) {
  Fixture f;
  f.Write(0, 4 * kPageSize, 0x66);
  f.m->Freeze(kPageSize, 2 * kPageSize);  // pages 1 and 2
  f.m->WriteRange(0, UINT64_MAX, SyncMode::kNone);
  EXPECT_EQ(f.m->DirtyPages(), 2u) << "pages 0 and 3 written, 1 and 2 left dirty";
  std::atomic<bool> synced{false};
  std::thread fsync([&] {
    f.m->WriteAll(SyncMode::kAll);
    synced = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(synced.load()) << "an fsync's writeback must wait for the thaw";
  f.m->Thaw(/*zeroed=*/false);  // the store said no
  fsync.join();
  EXPECT_EQ(f.m->DirtyPages(), 0u);
  EXPECT_EQ(f.Read(0, 4 * kPageSize), Bytes(4 * kPageSize, 0x66));
  std::lock_guard l(f.ops->mu);
  EXPECT_EQ(f.ops->data.size(), 4 * kPageSize);
  EXPECT_EQ(f.ops->data[2 * kPageSize], std::byte{0x66}) << "the data reached the store";
}

// Pages a background pass left alone because they were frozen are written back by a later
// pass once the range thaws (the pass had taken the mapping off the flusher's list).
TEST(Mapping, BackgroundWritebackComesBackForPagesLeftFrozen) {
  WritebackOptions wo;
  wo.dirty_expire_ms = 20;
  wo.wakeup_ms = 5;
  Writeback wb(wo);
  auto ops = std::make_shared<MemOps>();
  auto m = std::make_shared<Mapping>(ops, &wb, Mapping::Options{});
  auto b = Bytes(2 * kPageSize, 0x77);
  m->Freeze(0, 2 * kPageSize);
  ASSERT_TRUE(m->Write(0, b, false).ok());  // (a real caller's io lock keeps writers out)
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // expired, passed, skipped
  EXPECT_EQ(m->DirtyPages(), 2u);
  m->Thaw(/*zeroed=*/false);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (m->DirtyPages() != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(m->DirtyPages(), 0u) << "never written back after the thaw";
  wb.Stop();
}

// Write-behind with a threshold of 1 MiB; the flusher never wakes by itself.
WritebackOptions WriteBehind() {
  WritebackOptions wo;
  wo.persist_after_bytes = 1 << 20;
  wo.dirty_expire_ms = 3'600'000;
  wo.wakeup_ms = 3'600'000;
  wo.dirty_background_bytes = 1ull << 40;
  return wo;
}

TEST(Mapping, WriteBehindPersistsTheStoreEachTimeTheThresholdIsWrittenBack) {
  Writeback wb(WriteBehind());
  auto ops = std::make_shared<MemOps>();
  auto m = std::make_shared<Mapping>(ops, &wb, Mapping::Options{});
  auto mib = Bytes(1 << 20, 0x31);
  uint64_t end = 0;
  // Writes `len` bytes at the end of the file and writes them back; then gives the persist
  // thread time to act.
  auto write_back = [&](size_t len) {
    ASSERT_TRUE(m->Write(end, std::span(mib).first(len), false).ok());
    end += len;
    m->WriteAll(SyncMode::kNone);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  ASSERT_TRUE(m->Write(0, mib, false).ok());
  end = 1 << 20;
  EXPECT_EQ(ops->Persists(), 0) << "nothing written back yet";
  m->WriteAll(SyncMode::kNone);
  ASSERT_TRUE(ops->WaitPersists(1));
  write_back(512 << 10);
  EXPECT_EQ(ops->Persists(), 1) << "half the threshold since the last persist";
  write_back(512 << 10);
  EXPECT_EQ(ops->Persists(), 2) << "the threshold since the last persist";
  // An fsync's own store sync covers what was written back so far: the count starts again.
  write_back(768 << 10);
  EXPECT_TRUE(m->SyncStore(true).ok());
  write_back(768 << 10);
  EXPECT_EQ(ops->Persists(), 2) << "768 KiB since the fsync";
  write_back(256 << 10);
  EXPECT_EQ(ops->Persists(), 3) << "1 MiB since the fsync";
  EXPECT_EQ(wb.GetStats().persists, 3u);
  wb.Stop();
}

TEST(Mapping, AFailedPersistIsRecordedLikeAFailedPageWrite) {
  Writeback wb(WriteBehind());
  auto ops = std::make_shared<MemOps>();
  ops->persist_result = -EIO;
  Errseq sb_err;
  Mapping::Options o;
  o.sb_err = &sb_err;
  auto m = std::make_shared<Mapping>(ops, &wb, o);
  const errseq_t since = m->wb_err().Sample();
  const errseq_t sb_since = sb_err.Sample();
  ASSERT_TRUE(m->Write(0, Bytes(1 << 20, 0x32), false).ok());
  m->WriteAll(SyncMode::kNone);
  ASSERT_TRUE(ops->WaitPersists(1));
  wb.Stop();  // the persist in flight has finished and recorded its error
  EXPECT_EQ(m->wb_err().Check(since), -EIO);
  EXPECT_EQ(sb_err.Check(sb_since), -EIO);
  EXPECT_EQ(m->legacy().TestAndKeep(), -EIO);
}

// The store hands its error to whichever sync asks first. An fsync that meets a persist in
// flight must not return before the persist's error is recorded, or it would return 0 for
// data the store lost.
TEST(Mapping, AnFsyncMeetingAPersistInFlightReturnsOnlyOnceItsErrorIsRecorded) {
  Writeback wb(WriteBehind());
  auto ops = std::make_shared<MemOps>();
  ops->persist_result = -EIO;
  ops->hold_persist = true;
  auto m = std::make_shared<Mapping>(ops, &wb, Mapping::Options{});
  errseq_t cursor = m->wb_err().Sample();
  ASSERT_TRUE(m->Write(0, Bytes(1 << 20, 0x33), false).ok());
  m->WriteAll(SyncMode::kNone);
  ASSERT_TRUE(ops->WaitPersists(1));  // in flight, held
  std::atomic<bool> returned{false};
  std::thread fsync([&] {
    m->SyncStore(false).IgnoreError();  // the store itself answers 0 (its error went to the persist)
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(returned.load()) << "the fsync returned while the persist was in flight";
  ops->SetHold(false);
  fsync.join();
  EXPECT_EQ(m->wb_err().CheckAndAdvance(&cursor), -EIO);
  wb.Stop();
}

TEST(Mapping, AStoreWithoutWriteBehindIsAskedOnce) {
  class NoPersist final : public MemOps {
   public:
    Status Persist() override {
      calls.fetch_add(1);
      return Status::Error(-EOPNOTSUPP);
    }
    std::atomic<int> calls{0};
  };
  Writeback wb(WriteBehind());
  auto ops = std::make_shared<NoPersist>();
  auto m = std::make_shared<Mapping>(ops, &wb, Mapping::Options{});
  const errseq_t since = m->wb_err().Sample();
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(m->Write(uint64_t(k) << 20, Bytes(1 << 20, 0x34), false).ok());
    m->WriteAll(SyncMode::kNone);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ops->calls.load(), 1);
  EXPECT_EQ(m->wb_err().Check(since), 0) << "EOPNOTSUPP is no writeback error";
  EXPECT_EQ(wb.GetStats().persists, 0u);
  wb.Stop();
}

TEST(Mapping, DropCleanPagesLeavesDirtyOnes) {
  Fixture f;
  f.Write(0, 4 * kPageSize, 1);
  f.m->WriteRange(0, 1, SyncMode::kAll);  // pages 0 and 1 clean, 2 and 3 dirty
  EXPECT_EQ(f.m->DropCleanPages(100), 2u);
  EXPECT_EQ(f.m->CachedPages(), 2u);
  EXPECT_EQ(f.m->DirtyPages(), 2u);
  EXPECT_EQ(f.Read(0, kPageSize), Bytes(kPageSize, 1)) << "read back in from the store";
  EXPECT_EQ(f.ops->reads, 1);
  f.m->DropAllPages();
  EXPECT_EQ(f.m->CachedPages(), 0u);
  EXPECT_EQ(f.m->DirtyPages(), 0u);
}

TEST(Mapping, SetErrorRecordsInEveryTrackerAndTellsTheObserver) {
  Fixture f;
  const errseq_t since = f.m->wb_err().Sample();
  const errseq_t sb_since = f.sb_err.Sample();
  f.m->SetError(-ENOSPC, 4096, 8192);
  EXPECT_EQ(f.m->wb_err().Check(since), -ENOSPC);
  EXPECT_EQ(f.sb_err.Check(sb_since), -ENOSPC);
  EXPECT_EQ(f.m->legacy().TestAndKeep(), -ENOSPC);
  ASSERT_EQ(f.observer.records.size(), 1u);
  const ErrorRecord& r = f.observer.records[0];
  EXPECT_EQ(r.owner, 7u);
  EXPECT_EQ(r.offset, 4096u);
  EXPECT_EQ(r.length, 8192u);
  EXPECT_EQ(r.err, -ENOSPC);
  EXPECT_EQ(r.value, f.m->wb_err().Load());
  f.m->SetError(0, 0, 1);  // not an error: nothing happens
  EXPECT_EQ(f.observer.records.size(), 1u);
}

TEST(Mapping, CleanPolicyRecordsTheErrorAndKeepsTheUnwrittenData) {
  Fixture f(FailurePolicy::kClean);
  f.Write(0, 2 * kPageSize, 0x44);
  const errseq_t since = f.m->wb_err().Sample();
  f.ops->fail_writes = -EIO;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_EQ(f.m->wb_err().Check(since), -EIO);
  ASSERT_EQ(f.observer.records.size(), 1u);
  EXPECT_EQ(f.observer.records[0].offset, 0u);
  EXPECT_EQ(f.observer.records[0].length, 2 * kPageSize);
  EXPECT_FALSE(f.m->HasDirtyPages()) << "clean: the page is not retried";
  EXPECT_EQ(f.Read(0, 2 * kPageSize), Bytes(2 * kPageSize, 0x44)) << "cache still shows it";
  f.ops->fail_writes = 0;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_TRUE(f.ops->data.empty()) << "the lost write is never retried";
}

TEST(Mapping, KeepDirtyPolicyRetriesOnTheNextWriteback) {
  Fixture f(FailurePolicy::kKeepDirty);
  f.Write(0, kPageSize, 0x55);
  f.ops->fail_writes = -EIO;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_EQ(f.m->DirtyPages(), 1u);
  EXPECT_EQ(f.observer.records.size(), 1u);
  f.ops->fail_writes = 0;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_FALSE(f.m->HasDirtyPages());
  EXPECT_EQ(f.ops->data, Bytes(kPageSize, 0x55));
}

TEST(Mapping, RevertPolicyDropsThePagesAndGoesBackToTheStoredSize) {
  Fixture f(FailurePolicy::kRevert, /*initial_size=*/kPageSize);
  f.ops->data = Bytes(kPageSize, 0x66);
  f.Write(0, 3 * kPageSize, 0x77);  // overwrites page 0, extends by two pages
  f.ops->fail_writes = -EIO;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_EQ(f.observer.records.size(), 1u);
  EXPECT_EQ(f.m->size(), kPageSize) << "size back to what the store holds";
  EXPECT_EQ(f.m->CachedPages(), 0u);
  EXPECT_EQ(f.Read(0, 3 * kPageSize), Bytes(kPageSize, 0x66)) << "contents back to the store's";
}

TEST(Mapping, DelayedPolicyHoldsTheErrorUntilTheNextSyncCall) {
  Fixture f(FailurePolicy::kDelayed);
  f.Write(0, kPageSize, 1);
  const errseq_t since = f.m->wb_err().Sample();
  f.ops->fail_writes = -ENOSPC;
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_TRUE(f.m->HasDelayedError());
  EXPECT_EQ(f.m->wb_err().Check(since), 0) << "not yet visible";
  EXPECT_TRUE(f.observer.records.empty());
  f.m->FlushDelayedErrors();
  EXPECT_FALSE(f.m->HasDelayedError());
  EXPECT_EQ(f.m->wb_err().Check(since), -ENOSPC);
  EXPECT_EQ(f.observer.records.size(), 1u);
  f.m->FlushDelayedErrors();  // nothing held: nothing recorded twice
  EXPECT_EQ(f.observer.records.size(), 1u);
}

TEST(Mapping, WithoutCacheReadsUncachedWholePagesComeFromTheStoreAndAreNotKept) {
  const uint64_t size = 4 * kPageSize + 100;
  Fixture f(FailurePolicy::kClean, size, 256, /*cache_reads=*/false);
  f.ops->data = Bytes(size, 0x10);
  f.Write(kPageSize, kPageSize, 0x20);  // page 1 is dirty in the cache, not in the store
  auto all = f.Read(0, 10 * kPageSize);
  ASSERT_EQ(all.size(), size);
  EXPECT_EQ(all[0], std::byte{0x10});
  EXPECT_EQ(all[kPageSize], std::byte{0x20}) << "a cached page is read from the cache";
  EXPECT_EQ(all[2 * kPageSize], std::byte{0x10});
  EXPECT_EQ(all[size - 1], std::byte{0x10});
  EXPECT_EQ(f.m->CachedPages(), 2u) << "the written page and the partial last page only";
  f.ops->write_calls.clear();
  f.m->WriteAll(SyncMode::kAll);
  EXPECT_EQ(f.ops->data[kPageSize], std::byte{0x20});
  EXPECT_EQ(f.ops->write_calls.size(), 1u) << "only the written page goes out";
}

// Readahead follows Linux's per-description state (mm/readahead.c), with its default window
// limit of 32 pages: which pages each read of the store covers.
TEST(Mapping, ReadaheadFollowsTheReadingDescription) {
  Fixture f(FailurePolicy::kClean, 64 * kPageSize);
  f.ops->data.assign(64 * kPageSize, std::byte{1});
  auto read = [&](uint64_t off, size_t len, ReadaheadState* ra) {
    std::vector<std::byte> out(len);
    f.ops->read_calls.clear();
    auto r = f.m->Read(off, out, ra);
    EXPECT_TRUE(r.ok() && *r == len);
    return f.ops->read_calls;
  };
  using Calls = std::vector<std::pair<uint64_t, size_t>>;
  ReadaheadState r;
  EXPECT_EQ(read(34071, 1000, &r), (Calls{{8, 1}})) << "a random read: its page only";
  EXPECT_EQ(read(36864, 5000, &r), (Calls{{9, 4}}))
      << "where r's last read ended: the initial window for 2 pages";
  ReadaheadState q;
  EXPECT_EQ(read(0, 1, &q), (Calls{{0, 4}})) << "the start of the file: 4 pages, page 1 marked";
  EXPECT_EQ(read(4096, 1, &q), (Calls{{4, 4}}))
      << "page 1 carries the mark: the next window, pages 4-11, of which 8-11 are cached";
  EXPECT_EQ(read(4096, 1, &q), Calls{}) << "the mark is gone";
  EXPECT_EQ(read(20 * kPageSize, 1, nullptr), (Calls{{20, 1}})) << "a random read";
  EXPECT_EQ(read(13 * kPageSize, 1, nullptr), (Calls{{13, 7}, {21, 19}}))
      << "pages 0-12 cached: a run from the start of the file, doubled, and the read (27 "
         "pages), passing over page 20";
  EXPECT_EQ(InitialWindow(1, 32), 4u);
  EXPECT_EQ(InitialWindow(3, 32), 8u);
  EXPECT_EQ(InitialWindow(9, 32), 32u);
  EXPECT_EQ(InitialWindow(2, 640), 8u);
  EXPECT_EQ(NextWindow(4, 32), 8u);
  EXPECT_EQ(NextWindow(4, 640), 16u);
  EXPECT_EQ(NextWindow(32, 32), 32u);
}

// A window larger than a store call (256 pages) is read in several calls.
TEST(Mapping, ALargeReadaheadWindowIsReadInRunsOf256Pages) {
  auto ops = std::make_shared<MemOps>();
  ops->data.assign(1024 * kPageSize, std::byte{1});
  Mapping::Options o;
  o.initial_size = 1024 * kPageSize;
  o.readahead_pages = 640;  // a loop device's 2560 KiB on 6.18
  auto m = std::make_shared<Mapping>(ops, nullptr, o);
  std::vector<std::byte> out(600 * kPageSize);
  ReadaheadState ra;
  auto r = m->Read(0, out, &ra);
  ASSERT_TRUE(r.ok() && *r == out.size());
  EXPECT_EQ(ops->read_calls,
            (std::vector<std::pair<uint64_t, size_t>>{{0, 256}, {256, 256}, {512, 128}}))
      << "a 600-page read at the start: the initial window is the limit, 640 pages";
}

// A failed readahead leaves its pages (not uptodate, as Linux leaves their folios): a later
// window passes over them, and a read that needs one reads it alone.
TEST(Mapping, PagesAFailedReadLeftAreReadAloneAndPassedOverByReadahead) {
  struct FlakyOps : MemOps {
    Status ReadPages(uint64_t first, std::span<const iovec> pages) override {
      if (first <= bad && bad < first + pages.size() && failing) {
        std::lock_guard l(mu);
        read_calls.push_back({first, pages.size()});
        return Status::Error(-EIO);
      }
      return MemOps::ReadPages(first, pages);
    }
    uint64_t bad = 2;
    bool failing = true;
  };
  auto ops = std::make_shared<FlakyOps>();
  ops->data.assign(16 * kPageSize, std::byte{1});
  Mapping::Options o;
  o.initial_size = 16 * kPageSize;
  auto m = std::make_shared<Mapping>(ops, nullptr, o);
  std::vector<std::byte> out(1);
  ReadaheadState ra;
  ASSERT_TRUE(m->Read(0, out, &ra).ok());  // window 0-3 fails; page 0 alone succeeds
  EXPECT_EQ(ops->read_calls, (std::vector<std::pair<uint64_t, size_t>>{{0, 4}, {0, 1}}));
  EXPECT_EQ(m->Read(2 * kPageSize, out, &ra).err(), -EIO) << "page 2 read alone, and fails";
  ops->failing = false;
  ops->read_calls.clear();
  ASSERT_TRUE(m->Read(kPageSize, out).ok());
  EXPECT_EQ(ops->read_calls, (std::vector<std::pair<uint64_t, size_t>>{{4, 8}, {1, 1}}))
      << "page 1 kept the failed window's mark: the next window is read, after pages 1-3 (left "
         "there), then page 1 alone";
}

// A store whose reads fail until told otherwise, then read 0x5a.
class FailingReads final : public AddressSpaceOps {
 public:
  Status ReadPages(uint64_t, std::span<const iovec> pages) override {
    if (fail) return Status::Error(err);
    for (const iovec& v : pages) std::memset(v.iov_base, 0x5a, v.iov_len);
    return Status::Ok();
  }
  Status WritePages(uint64_t, std::span<const iovec>, uint64_t) override { return Status::Ok(); }
  Status Sync(bool) override { return Status::Ok(); }
  Result<uint64_t> BackingSize() override { return uint64_t{1} << 20; }
  std::atomic<bool> fail{true};
  int err = -EIO;
};

// The error reaches the reader; the pages its read left (not uptodate, as Linux leaves their
// folios) are read again by the next read, which sees the store's data.
TEST(Mapping, ReadErrorsReachTheReaderWithOrWithoutCacheReads) {
  for (bool cache_reads : {true, false}) {
    Mapping::Options o;
    o.initial_size = 1 << 20;
    o.cache_reads = cache_reads;
    auto store = std::make_shared<FailingReads>();
    auto m = std::make_shared<Mapping>(store, nullptr, o);
    std::vector<std::byte> out(3 * kPageSize);
    auto r = m->Read(0, out);
    EXPECT_EQ(r.err(), -EIO) << "cache_reads=" << cache_reads;
    store->fail = false;
    r = m->Read(0, out);
    ASSERT_TRUE(r.ok()) << "cache_reads=" << cache_reads;
    EXPECT_EQ(*r, out.size());
    EXPECT_EQ(out[0], std::byte{0x5a});
    EXPECT_EQ(out.back(), std::byte{0x5a});
  }
}

// An O_DIRECT read takes the store's bytes whatever the cache holds, leaves the cache as it
// was, stops at i_size, goes in runs of at most 256 pages, and returns the store's errno.
TEST(Mapping, ADirectReadTakesTheStoresBytesAndLeavesTheCache) {
  Fixture f(FailurePolicy::kClean, /*initial_size=*/300 * kPageSize + 100);
  f.ops->data.resize(300 * kPageSize + 100);
  for (size_t k = 0; k < f.ops->data.size(); ++k) f.ops->data[k] = std::byte(k % 251);
  f.Write(kPageSize, kPageSize, 0x77);  // cached and dirty: the store still has its bytes
  const int reads_before = f.ops->reads;
  // Starting and ending inside pages, across the cached one.
  std::vector<std::byte> out(3 * kPageSize);
  auto r = f.m->ReadDirect(512, out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, out.size());
  for (size_t k = 0; k < out.size(); k += 997) {
    EXPECT_EQ(out[k], f.ops->data[512 + k]) << k;
  }
  EXPECT_EQ(out.back(), f.ops->data[512 + out.size() - 1]);
  EXPECT_EQ(f.m->DirtyPages(), 1u) << "the cache is left as it was";
  EXPECT_EQ(f.Read(kPageSize, 1), Bytes(1, 0x77));
  // A long read: runs of at most 256 pages, short at i_size.
  std::vector<std::byte> big(400 * kPageSize);
  f.ops->read_calls.clear();
  r = f.m->ReadDirect(0, big);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 300 * kPageSize + 100);
  EXPECT_EQ(big[300 * kPageSize + 99], f.ops->data[300 * kPageSize + 99]);
  ASSERT_EQ(f.ops->read_calls.size(), 2u);
  EXPECT_EQ(f.ops->read_calls[0], (std::pair<uint64_t, size_t>(0, 256)));
  EXPECT_EQ(f.ops->read_calls[1], (std::pair<uint64_t, size_t>(256, 45)));
  EXPECT_GT(f.ops->reads, reads_before);
  EXPECT_EQ(*f.m->ReadDirect(300 * kPageSize + 100, out), 0u) << "at i_size";

  Mapping::Options o;
  o.initial_size = 1 << 20;
  auto store = std::make_shared<FailingReads>();
  store->err = -ENOSPC;
  auto failing = std::make_shared<Mapping>(store, nullptr, o);
  EXPECT_EQ(failing->ReadDirect(0, out).err(), -ENOSPC) << "the store's errno";
  EXPECT_EQ(failing->Read(0, out).err(), -EIO) << "a read into the cache: EIO";
}

}  // namespace
}  // namespace errseq::mm

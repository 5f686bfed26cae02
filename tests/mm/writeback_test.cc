// The page cache and writeback on the real blockdev file system over a MemoryDevice: flusher
// threads (periodic and background), contiguous runs in one device write, throttling, clean-page
// eviction under a cache limit, and the error recorded before writeback is released.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "errseq/block/fault_device.h"
#include "errseq/block/fault_table_text.h"
#include "errseq/block/memory_device.h"
#include "errseq/fs/blockdev_fs.h"
#include "errseq/vfs/vfs.h"

namespace errseq {
namespace {

// Counts the device writes that reach the memory device.
class CountingDevice final : public block::BlockDevice {
 public:
  explicit CountingDevice(uint64_t size) : mem_(size) {}
  Status ReadV(uint64_t o, std::span<const iovec> v) override { return mem_.ReadV(o, v); }
  Status WriteV(uint64_t o, std::span<const iovec> v) override {
    writes.fetch_add(1);
    bytes.fetch_add(TotalLength(v));
    return mem_.WriteV(o, v);
  }
  Status Flush() override { return mem_.Flush(); }
  Status Discard(uint64_t o, uint64_t l) override { return mem_.Discard(o, l); }
  uint64_t Size() const override { return mem_.Size(); }
  uint32_t BlockSize() const override { return mem_.BlockSize(); }
  std::string Name() const override { return "counting"; }
  std::atomic<uint64_t> writes{0}, bytes{0};

 private:
  block::MemoryDevice mem_;
};

struct Dev {
  explicit Dev(vfs::MountOptions o, uint64_t size = 64 << 20) {
    counting = std::make_shared<CountingDevice>(size);
    faulty = std::make_shared<block::FaultDevice>(counting);
    auto fs = fs::BlockdevFs::Open(faulty, "disk");
    EXPECT_TRUE(fs.ok());
    auto s = vfs::SuperBlock::Mount(std::move(*fs), o);
    EXPECT_TRUE(s.ok());
    sb = std::move(*s);
    v = std::make_unique<vfs::Vfs>(*sb);
    fd = *v->Open("disk", O_RDWR);
  }
  ~Dev() {
    v.reset();
    sb->Unmount().IgnoreError();
  }
  void Write(uint64_t off, size_t len, int byte = 1) {
    std::vector<std::byte> b(len, std::byte(byte));
    ASSERT_EQ(*v->Pwrite(fd, b, off), len);
  }
  std::shared_ptr<CountingDevice> counting;
  std::shared_ptr<block::FaultDevice> faulty;
  std::unique_ptr<vfs::SuperBlock> sb;
  std::unique_ptr<vfs::Vfs> v;
  int fd;
};

vfs::MountOptions Manual() {
  vfs::MountOptions o;
  o.writeback.start_flusher = false;
  return o;
}

// Background writeback above 1 MiB, writers throttled above 2 MiB, nothing expires.
vfs::MountOptions SmallLimits() {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 60'000;
  o.writeback.dirty_background_bytes = 1 << 20;
  o.writeback.dirty_limit_bytes = 2 << 20;
  return o;
}

bool WaitFor(const std::function<bool()>& cond, int ms = 5000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

TEST(Writeback, ContiguousDirtyPagesGoOutAsOneDeviceWrite) {
  Dev d(Manual());
  d.Write(0, 256 << 10);
  d.Write(1 << 20, 4096);
  ASSERT_EQ(d.v->Fsync(d.fd).err(), 0);
  EXPECT_EQ(d.counting->writes.load(), 2u);
  EXPECT_EQ(d.counting->bytes.load(), (256u << 10) + 4096);
}

TEST(Writeback, RunsAreCappedAtMaxWritePages) {
  auto o = Manual();
  o.writeback.max_write_pages = 16;
  Dev d(o);
  d.Write(0, 64 * 4096);
  ASSERT_EQ(d.v->Fsync(d.fd).err(), 0);
  EXPECT_EQ(d.counting->writes.load(), 4u);
}

TEST(Writeback, PeriodicFlusherWritesExpiredPages) {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 50;
  o.writeback.wakeup_ms = 10;
  Dev d(o);
  d.Write(0, 8192);
  EXPECT_TRUE(WaitFor([&] { return d.counting->bytes.load() == 8192; }));
  EXPECT_EQ(d.sb->WritebackStats().dirty_bytes, 0u);
}

TEST(Writeback, NothingIsWrittenBeforeItExpires) {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 60'000;
  o.writeback.wakeup_ms = 10;
  Dev d(o);
  d.Write(0, 8192);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(d.counting->bytes.load(), 0u);
}

TEST(Writeback, BackgroundFlusherStartsAboveTheThreshold) {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 60'000;
  o.writeback.dirty_background_bytes = 1 << 20;
  Dev d(o);
  d.Write(0, 2 << 20);
  // Pages stop counting as dirty when their writeback starts, before the device has them:
  // wait for both.
  EXPECT_TRUE(WaitFor([&] {
    return d.sb->WritebackStats().dirty_bytes <= (1u << 20) && d.counting->bytes.load() > 0;
  }));
}

// The kick that starts background writeback comes when dirty memory goes above the threshold,
// where the flusher looks: dirty memory exactly at the threshold is not above it, and the page
// that then takes it above must still wake the flusher. The periodic wakeup is a minute away,
// so only the kick can start this writeback.
TEST(Writeback, ThePageThatCrossesTheBackgroundThresholdWakesTheFlusher) {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 60'000;
  o.writeback.wakeup_ms = 60'000;
  o.writeback.dirty_background_bytes = 1 << 20;
  Dev d(o);
  d.Write(0, 1 << 20);  // exactly the threshold: nothing to do yet
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(d.counting->bytes.load(), 0u);
  d.Write(1 << 20, 4096);  // above it
  EXPECT_TRUE(WaitFor([&] { return d.counting->bytes.load() > 0; }, 2000));
}

// A device slower than the writer (10 ms a write): the flusher cannot keep dirty memory under
// the limit, so writers wait for it. (On a memory device at full speed the flusher, woken at
// the threshold, may keep up on its own: a fresh run under ASan never throttled.)
TEST(Writeback, WritersAreThrottledSoDirtyMemoryStaysBounded) {
  Dev d(SmallLimits());
  auto rules = block::ParseFaultTable("0 * write delay 10ms");
  ASSERT_TRUE(rules.ok());
  d.faulty->faults().Load(std::move(*rules));
  uint64_t peak = 0;
  for (int i = 0; i < 64; ++i) {
    d.Write(static_cast<uint64_t>(i) << 19, 512 << 10);
    peak = std::max(peak, d.sb->WritebackStats().dirty_bytes);
  }
  EXPECT_GT(d.sb->WritebackStats().throttled, 0u);
  EXPECT_LE(peak, (2u << 20) + (512u << 10));
}

// Pages whose writeback has started still count against the dirty limit (as Linux counts
// NR_WRITEBACK in balance_dirty_pages): with the flusher held up by a slow device on the first
// MiB and a page, 1.5 MiB more is over a 2 MiB limit, though only 1.5 MiB is dirty.
TEST(Writeback, PagesUnderWritebackCountAgainstTheDirtyLimit) {
  Dev d(SmallLimits());
  auto rules = block::ParseFaultTable("0 * write delay 300ms");
  ASSERT_TRUE(rules.ok());
  d.faulty->faults().Load(std::move(*rules));
  const uint64_t first = (1 << 20) + 4096;  // over the background threshold: the flusher takes it
  d.Write(0, first);
  ASSERT_TRUE(WaitFor([&] { return d.sb->WritebackStats().writeback_bytes == first; }))
      << d.sb->WritebackStats().writeback_bytes;
  EXPECT_EQ(d.sb->WritebackStats().dirty_bytes, 0u);
  EXPECT_TRUE(d.sb->WriteMayBeThrottled((2 << 20) - first + 1));
  EXPECT_FALSE(d.sb->WriteMayBeThrottled((2 << 20) - first));
  for (int i = 0; i < 6; ++i) d.Write((4u << 20) + (static_cast<uint64_t>(i) << 18), 256 << 10);
  EXPECT_GT(d.sb->WritebackStats().throttled, 0u);
  d.faulty->faults().Clear();
  ASSERT_TRUE(d.v->Fsync(d.fd).ok());
  EXPECT_EQ(d.sb->WritebackStats().writeback_bytes, 0u);
  EXPECT_EQ(d.sb->WritebackStats().dirty_bytes, 0u);
}

// WriteMayBeThrottled says whether a write of so many bytes made now could wait in
// BalanceDirty: dirty bytes plus the write above the limit.
TEST(Writeback, WriteMayBeThrottledWhenDirtyPlusTheWriteExceedsTheLimit) {
  vfs::MountOptions o = Manual();
  o.writeback.dirty_background_bytes = 1 << 20;
  o.writeback.dirty_limit_bytes = 2 << 20;
  Dev d(o);
  EXPECT_FALSE(d.sb->WriteMayBeThrottled(2 << 20));
  EXPECT_TRUE(d.sb->WriteMayBeThrottled((2 << 20) + 1));
  d.Write(0, 1 << 20);
  EXPECT_FALSE(d.sb->WriteMayBeThrottled(1 << 20));
  EXPECT_TRUE(d.sb->WriteMayBeThrottled((1 << 20) + 1));
  ASSERT_TRUE(d.v->Fsync(d.fd).ok());
  EXPECT_FALSE(d.sb->WriteMayBeThrottled(2 << 20)) << "written back: nothing dirty";
}

TEST(Writeback, CleanPagesAreEvictedUnderTheCacheLimit) {
  auto o = Manual();
  o.writeback.cache_limit_bytes = 1 << 20;
  Dev d(o);
  for (int i = 0; i < 8; ++i) {
    d.Write(static_cast<uint64_t>(i) << 20, 1 << 20, i + 1);
    ASSERT_EQ(d.v->Fsync(d.fd).err(), 0);
  }
  auto st = d.sb->WritebackStats();
  EXPECT_LE(st.cached_bytes, 2u << 20);
  EXPECT_GT(st.evicted_pages, 0u);
  std::vector<std::byte> b(4096);
  ASSERT_EQ(*d.v->Pread(d.fd, b, 0), 4096u);  // read back from the device
  EXPECT_EQ(b[0], std::byte(1));
}

TEST(Writeback, DirtyPagesAreNeverEvicted) {
  auto o = Manual();
  o.writeback.cache_limit_bytes = 1 << 20;
  o.writeback.dirty_limit_bytes = 64 << 20;
  o.writeback.dirty_background_bytes = 64 << 20;
  Dev d(o);
  d.Write(0, 4 << 20, 5);
  EXPECT_EQ(d.sb->WritebackStats().dirty_bytes, 4u << 20);
  ASSERT_EQ(d.v->Fsync(d.fd).err(), 0);
  std::vector<std::byte> b(4096);
  ASSERT_EQ(*d.v->Pread(d.fd, b, 3 << 20), 4096u);
  EXPECT_EQ(b[0], std::byte(5));
}

TEST(Writeback, BackgroundFailureIsRecordedAndReportedOnce) {
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 20;
  o.writeback.wakeup_ms = 10;
  Dev d(o);
  int other = *d.v->Open("disk", O_RDONLY);
  auto rules = block::FaultRule();
  rules.ops = static_cast<uint32_t>(block::IoOp::kWrite);
  d.faulty->faults().Load({rules});
  d.Write(0, 4096);
  EXPECT_TRUE(WaitFor([&] { return d.sb->WritebackStats().failed_writes > 0; }));
  d.faulty->faults().Clear();
  EXPECT_EQ(d.v->Fsync(d.fd).err(), -EIO);
  EXPECT_EQ(d.v->Fsync(other).err(), -EIO);
  EXPECT_EQ(d.v->Fsync(d.fd).err(), 0);
}

TEST(Blockdev, WritesPastTheEndAreEnospcAndTruncateIsRefused) {
  Dev d(Manual(), 1 << 20);
  std::vector<std::byte> b(8192, std::byte(1));
  EXPECT_EQ(d.v->Pwrite(d.fd, b, 1 << 20).err(), -ENOSPC);
  EXPECT_EQ(*d.v->Pwrite(d.fd, b, (1 << 20) - 4096), 4096u);  // short, as Linux
  EXPECT_EQ(d.v->Ftruncate(d.fd, 0).err(), -EINVAL);
  EXPECT_EQ(d.v->Fstat(d.fd)->size, 1u << 20);
  EXPECT_EQ(d.sb->Unlink("disk").err(), -EROFS);
  EXPECT_EQ(d.v->Open("other", O_RDWR | O_CREAT).err(), -EROFS);
  int t = *d.v->Open("disk", O_RDWR | O_TRUNC);  // O_TRUNC is ignored on a device
  EXPECT_EQ(d.v->Fstat(t)->size, 1u << 20);
}

TEST(Blockdev, DeviceSizeMustBePageMultiple) {
  auto fs = fs::BlockdevFs::Open(std::make_shared<block::MemoryDevice>(512 * 9, 512), "d");
  ASSERT_FALSE(fs.ok());
  EXPECT_NE(fs.status().message().find("4096"), std::string::npos);
}

}  // namespace
}  // namespace errseq

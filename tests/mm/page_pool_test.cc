// PagePool: pages are 4 KiB-aligned, distinct, carved from 2 MiB slabs, and a freed page is
// reused before a new slab is mapped. Also a concurrent alloc/free run (each page written by
// its owner only), which ASan and TSan check for overlap and races.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "errseq/mm/address_space_ops.h"
#include "errseq/mm/page_pool.h"

namespace errseq::mm {
namespace {

constexpr size_t kPagesPerSlab = (2u << 20) / kPageSize;

TEST(PagePool, PagesAreAlignedDistinctAndWritable) {
  PagePool pool;
  std::set<std::byte*> seen;
  for (size_t i = 0; i < kPagesPerSlab + 3; ++i) {
    std::byte* p = pool.Alloc();
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % kPageSize, 0u);
    ASSERT_TRUE(seen.insert(p).second) << "page handed out twice";
    std::memset(p, static_cast<int>(i & 0xff), kPageSize);
  }
  EXPECT_EQ(pool.SlabBytes(), 2u * (2u << 20)) << "one slab full, a second started";
  for (std::byte* p : seen) pool.Free(p);
}

TEST(PagePool, FreedPagesAreReusedBeforeANewSlab) {
  PagePool pool;
  std::vector<std::byte*> all;
  for (size_t i = 0; i < kPagesPerSlab; ++i) all.push_back(pool.Alloc());
  EXPECT_EQ(pool.FreePages(), 0u);
  pool.Free(all[100]);
  EXPECT_EQ(pool.FreePages(), 1u);
  EXPECT_EQ(pool.Alloc(), all[100]);
  EXPECT_EQ(pool.SlabBytes(), 2u << 20) << "no new slab while a page was free";
  pool.Free(nullptr);  // allowed, does nothing
  for (std::byte* p : all) pool.Free(p);
  EXPECT_EQ(pool.FreePages(), kPagesPerSlab);
}

TEST(PagePool, NextFitHandsOutFreedRunsInAddressOrder) {
  PagePool pool;
  std::vector<std::byte*> all;
  for (size_t i = 0; i < kPagesPerSlab; ++i) all.push_back(pool.Alloc());
  for (size_t i = 1; i < all.size(); ++i) {
    ASSERT_EQ(all[i], all[i - 1] + kPageSize) << "a fresh slab is carved in order";
  }
  // Two runs freed out of order (eviction frees pages in whatever order it finds them).
  for (size_t i : {305, 13, 300, 10, 19, 301, 11, 302, 12, 303, 14, 304, 15, 16, 17, 18}) {
    pool.Free(all[i]);
  }
  for (size_t i = 10; i < 20; ++i) EXPECT_EQ(pool.Alloc(), all[i]) << i;
  for (size_t i = 300; i < 306; ++i) EXPECT_EQ(pool.Alloc(), all[i]) << i;
  EXPECT_EQ(pool.SlabBytes(), 2u << 20);
  for (std::byte* p : all) pool.Free(p);
}

TEST(PagePool, ConcurrentAllocAndFree) {
  PagePool pool;
  auto worker = [&](int id) {
    std::vector<std::byte*> mine;
    for (int round = 0; round < 2000; ++round) {
      std::byte* p = pool.Alloc();
      std::memset(p, id, kPageSize);
      mine.push_back(p);
      if (mine.size() > 64) {
        for (size_t k = 0; k < mine.size(); k += 2) {
          ASSERT_EQ(mine[k][kPageSize - 1], std::byte(id)) << "another thread wrote my page";
          pool.Free(mine[k]);
          mine[k] = nullptr;
        }
        std::erase(mine, nullptr);
      }
    }
    for (std::byte* p : mine) pool.Free(p);
  };
  std::thread t1(worker, 1), t2(worker, 2);
  t1.join();
  t2.join();
}

TEST(PagePool, ReserveMapsSlabsUpFrontAndAllocUsesThem) {
  PagePool pool;
  pool.Reserve((5u << 20) + 1);  // rounds up to whole slabs
  EXPECT_EQ(pool.SlabBytes(), 3u * (2u << 20));
  EXPECT_EQ(pool.FreePages(), 3 * kPagesPerSlab);
  std::vector<std::byte*> all;
  for (size_t i = 0; i < 3 * kPagesPerSlab; ++i) {
    all.push_back(pool.Alloc());
    std::memset(all.back(), 0x5a, kPageSize);
  }
  EXPECT_EQ(pool.SlabBytes(), 3u * (2u << 20)) << "the reserved slabs were enough";
  EXPECT_EQ(std::set<std::byte*>(all.begin(), all.end()).size(), all.size());
  pool.Reserve(2u << 20);  // already holds more: nothing happens
  EXPECT_EQ(pool.SlabBytes(), 3u * (2u << 20));
  for (std::byte* p : all) pool.Free(p);
}

TEST(PageMemory, ReturnsThePageToTheDefaultPool) {
  PagePool& pool = PagePool::Default();
  size_t free_before;
  {
    PageMemory page = AllocPage();
    free_before = pool.FreePages();
  }
  EXPECT_EQ(pool.FreePages(), free_before + 1);
}

}  // namespace
}  // namespace errseq::mm

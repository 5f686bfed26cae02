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
  std::byte* a = pool.Alloc();
  const size_t slab = pool.SlabBytes();
  pool.Free(a);
  EXPECT_EQ(pool.Alloc(), a);
  EXPECT_EQ(pool.SlabBytes(), slab);
  pool.Free(nullptr);  // allowed, does nothing
  pool.Free(a);
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

TEST(PageMemory, ReturnsThePageToTheDefaultPool) {
  std::byte* raw;
  {
    PageMemory page = AllocPage();
    raw = page.get();
  }
  PageMemory again = AllocPage();
  EXPECT_EQ(again.get(), raw) << "the last page freed is the first reused";
}

}  // namespace
}  // namespace errseq::mm

// Replacing the fault table while I/O runs (under ThreadSanitizer): every I/O is judged by
// exactly one whole table, and every fault a table applied shows in that table's counters.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "errseq/block/fault_device.h"
#include "errseq/block/fault_table_text.h"
#include "errseq/block/memory_device.h"

namespace errseq::block {
namespace {

std::vector<FaultRule> Rules(const char* text) {
  auto r = ParseFaultTable(text);
  EXPECT_TRUE(r.ok());
  return std::move(*r);
}

TEST(FaultSwap, EveryIoSeesOneWholeTableAndIsCounted) {
  auto dev = std::make_unique<FaultDevice>(std::make_shared<MemoryDevice>(1 << 20));
  // Table A fails writes with EIO in two rules that must agree; table B passes them with a
  // matching count. A half-applied table would give ENOSPC or an uncounted pass.
  const char* kA = "0 * write error EIO\n0 * write error ENOSPC";
  const char* kB = "0 * read error EROFS";
  // Each I/O thread runs at least kOps writes and keeps going until the swapper has replaced the
  // table kMinSwaps times: on a loaded 2-core machine the swapper can otherwise be starved and
  // the test would prove nothing about swapping.
  constexpr int kThreads = 3, kOps = 20'000, kMinSwaps = 50;
  std::atomic<uint64_t> eio{0}, pass{0}, other{0}, total{0};
  std::atomic<int> swaps{0};
  std::atomic<bool> stop{false};
  std::vector<std::shared_ptr<FaultTable>> tables;
  dev->faults().Load(Rules(kA));
  tables.push_back(dev->faults().Current());

  std::vector<std::thread> io;
  for (int t = 0; t < kThreads; ++t) {
    io.emplace_back([&, t] {
      std::vector<std::byte> buf(4096, std::byte(t));
      for (int i = 0; i < kOps || swaps.load() < kMinSwaps; ++i) {
        ++total;
        int e = dev->Write(static_cast<uint64_t>((i % 256) * 4096), buf).err();
        if (e == -EIO) {
          ++eio;
        } else if (e == 0) {
          ++pass;
        } else {
          ++other;
        }
      }
    });
  }
  std::thread swapper([&] {
    bool a = false;
    while (!stop.load()) {
      dev->faults().Load(Rules(a ? kA : kB));
      tables.push_back(dev->faults().Current());
      ++swaps;
      a = !a;
      std::this_thread::yield();
    }
  });
  for (auto& th : io) th.join();
  stop = true;
  swapper.join();

  EXPECT_EQ(other.load(), 0u);
  EXPECT_GE(total.load(), static_cast<uint64_t>(kThreads) * kOps);
  EXPECT_EQ(eio + pass, total.load());
  uint64_t counted_eio = 0, counted_second = 0;
  for (auto& tbl : tables) {
    auto s = tbl->Stats();
    if (s[0].rule.ops == static_cast<uint32_t>(IoOp::kWrite)) {
      counted_eio += s[0].hits;
      counted_second += s[1].matched;
    }
  }
  EXPECT_EQ(counted_eio, eio.load());
  EXPECT_EQ(counted_second, 0u) << "the second rule of A was reached: a rule was skipped";
  EXPECT_GT(tables.size(), static_cast<size_t>(kMinSwaps));
}

TEST(FaultSwap, CrashModeJournalUnderConcurrentWritesAndFlushes) {
  auto mem = std::make_shared<MemoryDevice>(1 << 20);
  FaultDevice dev(mem);
  dev.SetCrashMode(true);
  std::vector<std::thread> th;
  for (int t = 0; t < 2; ++t) {
    th.emplace_back([&, t] {
      std::vector<std::byte> buf(4096, std::byte(t + 1));
      for (int i = 0; i < 2000; ++i) {
        EXPECT_TRUE(dev.Write(static_cast<uint64_t>(t) * 4096, buf).ok());
        if (i % 100 == 0) {
          EXPECT_TRUE(dev.Flush().ok());
        }
      }
    });
  }
  for (auto& x : th) x.join();
  ASSERT_TRUE(dev.Flush().ok());
  std::vector<std::byte> other(4096, std::byte(9));
  ASSERT_TRUE(dev.Write(0, other).ok());
  ASSERT_TRUE(dev.PowerCut().ok());
  std::vector<std::byte> got(8192);
  ASSERT_TRUE(mem->Read(0, got).ok());
  EXPECT_EQ(got[0], std::byte(1));
  EXPECT_EQ(got[4096], std::byte(2));
}

}  // namespace
}  // namespace errseq::block

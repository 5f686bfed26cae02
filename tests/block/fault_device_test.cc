// FaultDevice and FaultTable: every rule kind, rule order, counters, crash mode.
#include "errseq/block/fault_device.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "errseq/block/fault_table_text.h"
#include "errseq/block/memory_device.h"

namespace errseq::block {
namespace {

std::vector<std::byte> Bytes(size_t n, int v) { return std::vector<std::byte>(n, std::byte(v)); }

class FaultDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = std::make_shared<MemoryDevice>(1 << 20);
    dev_ = std::make_unique<FaultDevice>(mem_);
  }
  void Load(const std::string& text) {
    auto rules = ParseFaultTable(text);
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    dev_->faults().Load(std::move(*rules));
  }
  int Write(uint64_t off, int v, size_t len = 4096) { return dev_->Write(off, Bytes(len, v)).err(); }
  int Read(uint64_t off, size_t len = 4096) {
    auto b = Bytes(len, 0);
    return dev_->Read(off, b).err();
  }
  int Below(uint64_t off) {
    auto b = Bytes(4096, 0);
    EXPECT_TRUE(mem_->Read(off, b).ok());
    return static_cast<int>(b[0]);
  }
  std::vector<FaultTable::RuleStats> Stats() { return dev_->faults().Current()->Stats(); }

  std::shared_ptr<MemoryDevice> mem_;
  std::unique_ptr<FaultDevice> dev_;
};

TEST_F(FaultDeviceTest, EmptyTablePassesEverything) {
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Read(0), 0);
  EXPECT_EQ(dev_->Flush().err(), 0);
  EXPECT_EQ(Below(0), 1);
  EXPECT_FALSE(dev_->faults().armed());
}

TEST_F(FaultDeviceTest, WriteErrorInRangeOnlyAndNothingWritten) {
  Load("8k 8k write error EIO");
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Write(8192, 1), -EIO);
  EXPECT_EQ(Write(12288, 1), -EIO);
  EXPECT_EQ(Write(16384, 1), 0);
  EXPECT_EQ(Write(4096, 1, 8192), -EIO);  // overlaps the range by one block
  EXPECT_EQ(Below(8192), 0);
  EXPECT_EQ(Read(8192), 0);  // reads are not affected by a write rule
}

TEST_F(FaultDeviceTest, ReadErrorWithChosenErrno) {
  Load("0 * read error ENOSPC");
  EXPECT_EQ(Read(0), -ENOSPC);
  EXPECT_EQ(Write(0, 1), 0);
}

TEST_F(FaultDeviceTest, FlushRuleIgnoresRangeAndAllIncludesFlush) {
  Load("0 4k flush error EIO");
  EXPECT_EQ(dev_->Flush().err(), -EIO);
  EXPECT_EQ(Write(0, 1), 0);
  Load("1m * all error EROFS");
  EXPECT_EQ(dev_->Flush().err(), -EROFS);
}

TEST_F(FaultDeviceTest, DiscardRule) {
  Load("0 * discard error EDQUOT");
  EXPECT_EQ(dev_->Discard(0, 4096).err(), -EDQUOT);
  EXPECT_EQ(Write(0, 1), 0);
}

TEST_F(FaultDeviceTest, NthFiresOnlyOnce) {
  Load("0 * write error EIO nth=3");
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Write(0, 1), -EIO);
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Stats()[0].matched, 4u);
  EXPECT_EQ(Stats()[0].hits, 1u);
}

TEST_F(FaultDeviceTest, FromFiresOnEveryLaterOp) {
  Load("0 * write error EIO from=2");
  EXPECT_EQ(Write(0, 1), 0);
  EXPECT_EQ(Write(0, 1), -EIO);
  EXPECT_EQ(Write(0, 1), -EIO);
  EXPECT_EQ(Stats()[0].hits, 2u);
}

TEST_F(FaultDeviceTest, ProbabilityIsSeededAndReproducible) {
  auto pattern = [&](const std::string& table) {
    Load(table);
    std::string p;
    for (int i = 0; i < 2000; ++i) p += Write(0, 1) == 0 ? '.' : 'x';
    return p;
  };
  std::string a = pattern("0 * write error EIO prob=0.25 seed=11");
  std::string b = pattern("0 * write error EIO prob=0.25 seed=11");
  std::string c = pattern("0 * write error EIO prob=0.25 seed=12");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto fails = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(fails, 400);
  EXPECT_LT(fails, 600);
}

TEST_F(FaultDeviceTest, DropSaysYesAndWritesNothing) {
  ASSERT_EQ(Write(0, 1), 0);
  Load("0 * write drop");
  EXPECT_EQ(Write(0, 2), 0);
  EXPECT_EQ(Below(0), 1);
  EXPECT_EQ(Stats()[0].hits, 1u);
  // A dropped write still obeys the device contract.
  EXPECT_EQ(Write(1 << 20, 2), -EIO);
}

TEST_F(FaultDeviceTest, DelayThenPass) {
  Load("0 * write delay 30ms");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Write(0, 1), 0);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 30);
  EXPECT_EQ(Below(0), 1);
}

TEST_F(FaultDeviceTest, DelaysSaysWhetherTheTableInForceDelays) {
  EXPECT_FALSE(dev_->faults().delays());
  Load("0 * write error EIO");
  EXPECT_TRUE(dev_->faults().armed());
  EXPECT_FALSE(dev_->faults().delays());
  Load("0 * write error EIO\n0 * read delay 5ms nth=3");
  EXPECT_TRUE(dev_->faults().delays());
  Load("0 * write drop");
  EXPECT_FALSE(dev_->faults().delays());
  Load("0 * all delay 1ms prob=0.5");
  EXPECT_TRUE(dev_->faults().delays());
  dev_->faults().Clear();
  EXPECT_FALSE(dev_->faults().delays());
}

TEST_F(FaultDeviceTest, DelayDoesNotStopTheScanSoDelayThenFail) {
  Load("0 * write delay 20ms\n0 * write error ENOSPC");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Write(0, 1), -ENOSPC);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
}

TEST_F(FaultDeviceTest, FirstFiringRuleDecidesAndLaterRulesDoNotCount) {
  Load("0 * write error EIO nth=2\n0 * write error ENOSPC");
  EXPECT_EQ(Write(0, 1), -ENOSPC);
  EXPECT_EQ(Write(0, 1), -EIO);
  EXPECT_EQ(Write(0, 1), -ENOSPC);
  auto s = Stats();
  EXPECT_EQ(s[0].matched, 3u);
  EXPECT_EQ(s[1].matched, 2u);
}

TEST_F(FaultDeviceTest, PathRuleNeverMatchesDeviceIo) {
  Load("0 * write error EIO path=db/file");
  EXPECT_EQ(Write(0, 1), 0);
  // The same table, evaluated for file I/O the way a file system does.
  auto table = dev_->faults().Current();
  EXPECT_EQ(table->Evaluate({IoOp::kWrite, 0, 4096, "db/file"}).err, -EIO);
  EXPECT_EQ(table->Evaluate({IoOp::kWrite, 0, 4096, "db/other"}).kind,
            FaultOutcome::Kind::kPass);
}

// A rule bound to a file (FaultRule::file) matches that file's I/O under any name and no other
// file's under its name; I/O that carries no identity is matched by name.
TEST(FaultTable, ABoundRuleMatchesItsFileNotItsName) {
  FaultRule r;
  r.ops = static_cast<uint32_t>(IoOp::kWrite);
  r.path = "f";
  r.file = "id-1";
  FaultTable t({r});
  EXPECT_EQ(t.Evaluate({IoOp::kWrite, 0, 4096, "g", {}, "id-1"}).err, -EIO);
  EXPECT_EQ(t.Evaluate({IoOp::kWrite, 0, 4096, "f", {}, "id-2"}).kind, FaultOutcome::Kind::kPass);
  EXPECT_EQ(t.Evaluate({IoOp::kWrite, 0, 4096, "f"}).err, -EIO);
  EXPECT_EQ(t.Evaluate({IoOp::kWrite, 0, 4096, ""}).kind, FaultOutcome::Kind::kPass);
}

// The scenario verb's `all` is reads and writes of the data, not flushes (the kernel's scenario
// runner fails the blocks only); a table's `all` is every operation.
TEST(FaultTable, VerbAllIsReadsAndWrites) {
  EXPECT_EQ(VerbOps("read"), static_cast<uint32_t>(IoOp::kRead));
  EXPECT_EQ(VerbOps("write"), static_cast<uint32_t>(IoOp::kWrite));
  EXPECT_EQ(VerbOps("all"), static_cast<uint32_t>(IoOp::kRead) | static_cast<uint32_t>(IoOp::kWrite));
  EXPECT_EQ(VerbOps("flush"), std::nullopt);
}

TEST_F(FaultDeviceTest, NewTableStartsFreshCountersAndClearDisarms) {
  Load("0 * write error EIO nth=1");
  EXPECT_EQ(Write(0, 1), -EIO);
  Load("0 * write error EIO nth=1");
  EXPECT_EQ(Write(0, 1), -EIO);
  dev_->faults().Clear();
  EXPECT_FALSE(dev_->faults().armed());
  EXPECT_EQ(Write(0, 1), 0);
}

TEST_F(FaultDeviceTest, CrashLosesUnflushedWritesOnly) {
  dev_->SetCrashMode(true);
  ASSERT_EQ(Write(0, 1), 0);
  ASSERT_EQ(dev_->Flush().err(), 0);
  ASSERT_EQ(Write(0, 2), 0);
  ASSERT_EQ(Write(4096, 3), 0);
  EXPECT_EQ(dev_->UnflushedWrites(), 2u);
  ASSERT_TRUE(dev_->PowerCut().ok());
  EXPECT_EQ(Below(0), 1);
  EXPECT_EQ(Below(4096), 0);
  EXPECT_EQ(dev_->UnflushedWrites(), 0u);
}

TEST_F(FaultDeviceTest, OverlappingUnflushedWritesRevertNewestFirst) {
  dev_->SetCrashMode(true);
  ASSERT_EQ(Write(0, 1), 0);
  ASSERT_EQ(dev_->Flush().err(), 0);
  ASSERT_EQ(Write(0, 2, 8192), 0);
  ASSERT_EQ(Write(4096, 3), 0);
  ASSERT_TRUE(dev_->PowerCut().ok());
  EXPECT_EQ(Below(0), 1);
  EXPECT_EQ(Below(4096), 0);
}

TEST_F(FaultDeviceTest, DroppedOrFailedFlushCoversNothing) {
  dev_->SetCrashMode(true);
  ASSERT_EQ(Write(0, 1), 0);
  Load("0 * flush drop");
  ASSERT_EQ(dev_->Flush().err(), 0);
  Load("0 * flush error EIO");
  ASSERT_EQ(dev_->Flush().err(), -EIO);
  dev_->faults().Clear();
  ASSERT_TRUE(dev_->PowerCut().ok());
  EXPECT_EQ(Below(0), 0);
}

TEST_F(FaultDeviceTest, CrashModeOffKeepsNoJournal) {
  ASSERT_EQ(Write(0, 1), 0);
  EXPECT_EQ(dev_->UnflushedWrites(), 0u);
  ASSERT_TRUE(dev_->PowerCut().ok());
  EXPECT_EQ(Below(0), 1);
}

}  // namespace
}  // namespace errseq::block

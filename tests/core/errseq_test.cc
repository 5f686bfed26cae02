// Every rule of SEMANTICS.md §1 as a named test against the real Errseq.
#include "errseq/core/errseq.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errseq/core/diagnostic.h"

namespace errseq {
namespace {

constexpr errseq_t kSeen = Errseq::kSeen;
constexpr errseq_t kOne = Errseq::kCounterOne;

// Captures diagnostics for the tests that expect a refusal.
std::vector<std::string>* g_captured = nullptr;
void CaptureSink(std::string_view m) { g_captured->emplace_back(m); }

class CapturedDiagnostics {
 public:
  CapturedDiagnostics() {
    g_captured = &lines;
    prev_ = SetDiagnosticSink(&CaptureSink);
  }
  ~CapturedDiagnostics() {
    SetDiagnosticSink(prev_);
    g_captured = nullptr;
  }
  std::vector<std::string> lines;

 private:
  DiagnosticSink prev_;
};

TEST(Errseq, StartsAtZero) {
  Errseq e;
  EXPECT_EQ(e.Load(), 0u);
  EXPECT_EQ(e.Sample(), 0u);
  EXPECT_EQ(e.Check(0), 0);
}

TEST(Errseq, BitLayoutErrnoLowTwelveSeenBit12CounterAbove) {
  EXPECT_EQ(Errseq::kErrnoMask, 0xfffu);
  EXPECT_EQ(kSeen, 0x1000u);
  EXPECT_EQ(kOne, 0x2000u);
  Errseq e;
  EXPECT_EQ(e.Set(-EIO), static_cast<errseq_t>(EIO));
  errseq_t c = 0;
  EXPECT_EQ(e.CheckAndAdvance(&c), -EIO);
  EXPECT_EQ(e.Load(), static_cast<errseq_t>(EIO) | kSeen);
  e.Set(-ENOSPC);
  EXPECT_EQ(e.Load(), static_cast<errseq_t>(ENOSPC) | kOne);
  EXPECT_EQ(Errseq::CounterOf(e.Load()), 1u);
  EXPECT_EQ(Errseq::ErrnoOf(e.Load()), -ENOSPC);
  EXPECT_FALSE(Errseq::IsSeen(e.Load()));
}

TEST(Errseq, SetOnUnseenWithOtherErrnoReplacesErrnoKeepsCounter) {
  Errseq e;
  e.Set(-EIO);
  e.Set(-ENOSPC);
  EXPECT_EQ(e.Load(), static_cast<errseq_t>(ENOSPC));
}

TEST(Errseq, SetOnUnseenWithSameErrnoChangesNothing) {
  Errseq e;
  errseq_t v = e.Set(-EIO);
  EXPECT_EQ(e.Set(-EIO), v);
  EXPECT_EQ(e.Load(), v);
}

TEST(Errseq, SetOnSeenBumpsCounterAndClearsSeen) {
  Errseq e;
  e.Set(-EIO);
  errseq_t c = 0;
  (void)e.CheckAndAdvance(&c);
  errseq_t v = e.Set(-EIO);
  EXPECT_EQ(v, static_cast<errseq_t>(EIO) + kOne);
  EXPECT_FALSE(Errseq::IsSeen(v));
}

TEST(Errseq, CounterWrapsSilentlyPastBit31) {
  Errseq e;
  e.Set(-EIO);
  // Drive the counter to its maximum, then one more transition wraps it to zero.
  errseq_t c = 0;
  for (uint32_t i = 0; i < (1u << 19) - 1; ++i) {
    (void)e.CheckAndAdvance(&c);
    e.Set(-EIO);
  }
  EXPECT_EQ(Errseq::CounterOf(e.Load()), (1u << 19) - 1);
  (void)e.CheckAndAdvance(&c);
  e.Set(-EIO);
  EXPECT_EQ(e.Load(), static_cast<errseq_t>(EIO));
}

TEST(Errseq, ValueNeverReturnsToZeroOnceSet) {
  Errseq e;
  e.Set(-EIO);
  errseq_t c = 0;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_NE(e.Load(), 0u);
    (void)e.CheckAndAdvance(&c);
    e.Set(i % 2 ? -EIO : -ENOSPC);
  }
}

TEST(Errseq, SetRefusesZeroPositiveAndOutOfRangeWithDiagnostic) {
  CapturedDiagnostics d;
  Errseq e;
  e.Set(-EIO);
  errseq_t before = e.Load();
  for (int bad : {0, 1, EIO, -4096, -100000, 4095}) {
    EXPECT_EQ(e.Set(bad), before) << bad;
    EXPECT_EQ(e.Load(), before) << bad;
  }
  ASSERT_EQ(d.lines.size(), 6u);
  EXPECT_NE(d.lines[0].find("invalid error 0"), std::string::npos) << d.lines[0];
}

TEST(Errseq, SetAcceptsBothEndsOfTheRange) {
  Errseq a, b;
  EXPECT_EQ(a.Set(-1), 1u);
  EXPECT_EQ(b.Set(-4095), 4095u);
}

TEST(Errseq, SampleIsZeroWhileErrorUnseen) {
  Errseq e;
  e.Set(-EIO);
  EXPECT_EQ(e.Sample(), 0u);
  EXPECT_EQ(e.Load(), static_cast<errseq_t>(EIO));  // no side effect
}

TEST(Errseq, SampleReturnsValueOnceSeen) {
  Errseq e;
  e.Set(-EIO);
  errseq_t c = 0;
  (void)e.CheckAndAdvance(&c);
  EXPECT_EQ(e.Sample(), e.Load());
}

TEST(Errseq, NewObserverIsToldOfUnseenErrorMainline) {
  Errseq e;
  e.Set(-EIO);
  errseq_t late = e.Sample();
  EXPECT_EQ(e.CheckAndAdvance(&late), -EIO);
}

TEST(Errseq, SampleV413MarksSeenSoNewObserverMissesUnseenError) {
  Errseq e;
  e.Set(-EIO);
  errseq_t late = e.SampleV4_13();
  EXPECT_EQ(late, static_cast<errseq_t>(EIO) | kSeen);
  EXPECT_TRUE(Errseq::IsSeen(e.Load()));
  EXPECT_EQ(e.CheckAndAdvance(&late), 0);
}

TEST(Errseq, SampleV413OnZeroReturnsZeroAndMarksNothing) {
  Errseq e;
  EXPECT_EQ(e.SampleV4_13(), 0u);
  EXPECT_EQ(e.Load(), 0u);
}

TEST(Errseq, SampleV413MakesOlderCursorsStillSeeTheError) {
  Errseq e;
  errseq_t old = e.Sample();
  e.Set(-EIO);
  (void)e.SampleV4_13();
  EXPECT_EQ(e.CheckAndAdvance(&old), -EIO);
}

TEST(Errseq, CheckReturnsZeroWhenEqualElseErrnoAndMarksNothing) {
  Errseq e;
  errseq_t c = e.Sample();
  EXPECT_EQ(e.Check(c), 0);
  e.Set(-ENOSPC);
  EXPECT_EQ(e.Check(c), -ENOSPC);
  EXPECT_EQ(e.Check(c), -ENOSPC);
  EXPECT_FALSE(Errseq::IsSeen(e.Load()));
}

TEST(Errseq, CheckComparesTheWhole32BitValue) {
  Errseq e;
  e.Set(-EIO);
  // A cursor equal in errno but not in SEEN still differs.
  EXPECT_EQ(e.Check(static_cast<errseq_t>(EIO) | kSeen), -EIO);
  EXPECT_EQ(e.Check(static_cast<errseq_t>(EIO)), 0);
}

TEST(Errseq, CheckAndAdvanceReportsOnceThenZero) {
  Errseq e;
  errseq_t c = e.Sample();
  e.Set(-EIO);
  EXPECT_EQ(e.CheckAndAdvance(&c), -EIO);
  EXPECT_EQ(c, e.Load());
  EXPECT_EQ(e.CheckAndAdvance(&c), 0);
}

TEST(Errseq, CheckAndAdvanceWithNothingChangedLeavesValueAlone) {
  Errseq e;
  errseq_t c = e.Sample();
  EXPECT_EQ(e.CheckAndAdvance(&c), 0);
  EXPECT_EQ(e.Load(), 0u);
  EXPECT_EQ(c, 0u);
}

TEST(Errseq, EveryCursorIsToldOnce) {
  Errseq e;
  errseq_t a = e.Sample(), b = e.Sample(), c = e.Sample();
  e.Set(-EIO);
  EXPECT_EQ(e.CheckAndAdvance(&a), -EIO);
  EXPECT_EQ(e.CheckAndAdvance(&b), -EIO);
  EXPECT_EQ(e.CheckAndAdvance(&a), 0);
  EXPECT_EQ(e.CheckAndAdvance(&c), -EIO);
  EXPECT_EQ(e.CheckAndAdvance(&b), 0);
  EXPECT_EQ(e.CheckAndAdvance(&c), 0);
}

TEST(Errseq, CursorSampledAfterSeenErrorIsNotTold) {
  Errseq e;
  errseq_t a = e.Sample();
  e.Set(-EIO);
  (void)e.CheckAndAdvance(&a);
  errseq_t late = e.Sample();
  EXPECT_EQ(e.CheckAndAdvance(&late), 0);
}

TEST(Errseq, TwoErrorsBeforeAnyoneLooksReportTheLatestOnce) {
  Errseq e;
  errseq_t a = e.Sample();
  e.Set(-EIO);
  e.Set(-ENOSPC);
  EXPECT_EQ(e.CheckAndAdvance(&a), -ENOSPC);
  EXPECT_EQ(e.CheckAndAdvance(&a), 0);
}

TEST(Errseq, NewErrorAfterSeenIsReportedAgain) {
  Errseq e;
  errseq_t a = e.Sample();
  e.Set(-EIO);
  EXPECT_EQ(e.CheckAndAdvance(&a), -EIO);
  e.Set(-EIO);
  EXPECT_EQ(e.CheckAndAdvance(&a), -EIO);
  EXPECT_EQ(e.CheckAndAdvance(&a), 0);
}

TEST(Errseq, CheckAndAdvanceLosingRaceToSetterStillReportsNextTime) {
  // Simulate the race: the reader loads v, a setter changes it, the reader's CAS fails.
  // The observable outcome is that the cursor holds v|SEEN, which differs from the new value.
  Errseq e;
  errseq_t a = e.Sample();
  e.Set(-EIO);
  errseq_t v = e.Load();
  errseq_t cursor = v | kSeen;  // what a reader whose CAS lost would hold
  e.Set(-ENOSPC);               // the setter that won (unseen: errno replaced)
  EXPECT_NE(e.Check(cursor), 0);
  EXPECT_EQ(e.CheckAndAdvance(&cursor), -ENOSPC);
  EXPECT_EQ(e.CheckAndAdvance(&a), -ENOSPC);
}

TEST(Errseq, DescribeIsReadable) {
  Errseq e;
  EXPECT_EQ(Errseq::Describe(e.Load()), "0");
  e.Set(-EIO);
  EXPECT_EQ(Errseq::Describe(e.Load()), "EIO unseen #0");
  errseq_t c = 0;
  (void)e.CheckAndAdvance(&c);
  e.Set(-ENOSPC);
  (void)e.CheckAndAdvance(&c);
  EXPECT_EQ(Errseq::Describe(e.Load()), "ENOSPC seen #1");
}

}  // namespace
}  // namespace errseq

// The counter wraps after exactly 2^19 seen->new transitions, and that wrap is the only way a
// cursor can miss a change: for every smaller number of transitions the cursor is told.
#include <gtest/gtest.h>

#include <cerrno>

#include "errseq/core/errseq.h"

namespace errseq {
namespace {

constexpr uint32_t kWrap = 1u << 19;

// One seen->new transition: someone else observes the error, then a new error is recorded.
void Transition(Errseq& e, errseq_t* other, int err) {
  (void)e.CheckAndAdvance(other);
  e.Set(err);
}

TEST(ErrseqWrap, CursorMissesChangeAfterExactly2To19Transitions) {
  Errseq e;
  errseq_t other = e.Sample();
  e.Set(-EIO);
  errseq_t mine = 0;
  ASSERT_EQ(e.CheckAndAdvance(&mine), -EIO);  // mine == EIO|SEEN, counter 0
  ASSERT_EQ(e.CheckAndAdvance(&other), -EIO);
  for (uint32_t k = 1; k <= kWrap; ++k) {
    e.Set(-EIO);                 // new error (counter k mod 2^19), unseen
    (void)e.CheckAndAdvance(&other);  // seen again: value EIO|SEEN|k
    if (k < kWrap) {
      ASSERT_NE(e.Check(mine), 0) << "cursor missed a change after only " << k << " transitions";
    }
  }
  // 2^19 transitions later the value is bit-for-bit the cursor again: the change is missed.
  EXPECT_EQ(e.Load(), mine);
  EXPECT_EQ(e.CheckAndAdvance(&mine), 0);
}

TEST(ErrseqWrap, ErrnoChangeIsSeenEvenAtTheWrapPoint) {
  Errseq e;
  errseq_t other = 0;
  e.Set(-EIO);
  errseq_t mine = 0;
  (void)e.CheckAndAdvance(&mine);
  for (uint32_t k = 1; k < kWrap; ++k) Transition(e, &other, -EIO);
  Transition(e, &other, -ENOSPC);  // the 2^19th transition, but with another errno
  (void)e.CheckAndAdvance(&other);
  EXPECT_EQ(Errseq::CounterOf(e.Load()), 0u);
  EXPECT_EQ(e.Check(mine), -ENOSPC);
}

TEST(ErrseqWrap, UnseenErrorsDoNotAdvanceTheCounter) {
  // A storm of errors nobody looks at never wraps anything.
  Errseq e;
  errseq_t mine = e.Sample();
  for (uint32_t k = 0; k < 2 * kWrap; ++k) e.Set(k % 2 ? -EIO : -ENOSPC);
  EXPECT_EQ(Errseq::CounterOf(e.Load()), 0u);
  EXPECT_EQ(e.CheckAndAdvance(&mine), -EIO);
}

}  // namespace
}  // namespace errseq

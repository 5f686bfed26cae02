// The legacy AS_EIO/AS_ENOSPC pair: test-and-clear (EIO wins) and test-and-keep.
#include "errseq/core/legacy_errors.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace errseq {
namespace {

TEST(LegacyErrors, NothingSetReportsZero) {
  LegacyErrors l;
  EXPECT_EQ(l.TestAndClear(), 0);
  EXPECT_EQ(l.TestAndKeep(), 0);
}

TEST(LegacyErrors, FirstCallerGetsErrorOthersGetZero) {
  LegacyErrors l;
  l.Set(-EIO);
  EXPECT_EQ(l.TestAndClear(), -EIO);
  EXPECT_EQ(l.TestAndClear(), 0);
}

TEST(LegacyErrors, EnospcSetsEnospcBitOthersSetEioBit) {
  LegacyErrors l;
  l.Set(-ENOSPC);
  EXPECT_EQ(l.Bits(), LegacyErrors::kEnospc);
  EXPECT_EQ(l.TestAndClear(), -ENOSPC);
  l.Set(-EROFS);
  EXPECT_EQ(l.Bits(), LegacyErrors::kEio);
  EXPECT_EQ(l.TestAndClear(), -EIO);
  l.Set(-EDQUOT);
  EXPECT_EQ(l.TestAndClear(), -EIO);
}

TEST(LegacyErrors, EioWinsOverEnospcAndBothAreCleared) {
  LegacyErrors l;
  l.Set(-ENOSPC);
  l.Set(-EIO);
  EXPECT_EQ(l.TestAndClear(), -EIO);
  EXPECT_EQ(l.Bits(), 0u);
  EXPECT_EQ(l.TestAndClear(), 0);
}

TEST(LegacyErrors, TestAndKeepReportsWithoutClearing) {
  LegacyErrors l;
  l.Set(-EIO);
  l.Set(-ENOSPC);
  EXPECT_EQ(l.TestAndKeep(), -EIO);
  EXPECT_EQ(l.TestAndKeep(), -EIO);
  EXPECT_EQ(l.TestAndClear(), -EIO);
}

TEST(LegacyErrors, InvalidErrorIsRefused) {
  LegacyErrors l;
  l.Set(0);
  l.Set(5);
  l.Set(-5000);
  EXPECT_EQ(l.Bits(), 0u);
}

}  // namespace
}  // namespace errseq

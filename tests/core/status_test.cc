// Status/Result and errno names: the error type every layer boundary uses.
#include "errseq/core/status.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "errseq/core/errno_name.h"

namespace errseq {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.err(), 0);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ErrorCarriesErrnoAndMessage) {
  Status s = Status::Error(-ENOENT, "cannot open 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), -ENOENT);
  EXPECT_EQ(s.ToString(), "ENOENT: cannot open 'x'");
  EXPECT_EQ(Status::Error(-EIO).ToString(), "EIO: Input/output error");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> a = 7;
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 7);
  Result<int> b = Status::Error(-EINVAL, "bad");
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.err(), -EINVAL);
  EXPECT_EQ(b.status().message(), "bad");
}

TEST(ErrnoName, RoundTripsCommonNames) {
  EXPECT_EQ(ErrnoName(-EIO), "EIO");
  EXPECT_EQ(ErrnoName(ENOSPC), "ENOSPC");
  EXPECT_EQ(ErrnoFromName("EIO"), EIO);
  EXPECT_EQ(ErrnoFromName("EDQUOT"), EDQUOT);
  EXPECT_EQ(ErrnoFromName("EROFS"), EROFS);
  EXPECT_EQ(ErrnoFromName("28"), 28);
}

TEST(ErrnoName, RejectsUnknownAndOutOfRange) {
  EXPECT_EQ(ErrnoFromName("EWHAT"), 0);
  EXPECT_EQ(ErrnoFromName(""), 0);
  EXPECT_EQ(ErrnoFromName("0"), 0);
  EXPECT_EQ(ErrnoFromName("4096"), 0);
  EXPECT_EQ(ErrnoFromName("12a"), 0);
  EXPECT_EQ(ErrnoFromName("eio"), 0);
  EXPECT_EQ(ErrnoName(4000), "E4000");
}

}  // namespace
}  // namespace errseq

// What a page holds after a failed write under each policy (SEMANTICS.md §5), and the sticky
// profile (§4), on the real stack.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cerrno>

#include "../support/stack.h"

namespace errseq {
namespace {

using mm::FailurePolicy;
using testing::Stack;

// f on disk: pages 0x61 0x62 0x63. Then page 1 is overwritten with 0x78 and its writeback fails.
int WriteThreePagesThenFailPageOne(Stack& s) {
  int w = s.Open("f", O_RDWR | O_CREAT);
  EXPECT_EQ(s.Write(w, 0, 4096, 0x61), 0);
  EXPECT_EQ(s.Write(w, 4096, 4096, 0x62), 0);
  EXPECT_EQ(s.Write(w, 8192, 4096, 0x63), 0);
  EXPECT_EQ(s.Fsync(w), 0);
  s.Fail("0 * write error EIO path=f");
  EXPECT_EQ(s.Write(w, 4096, 4096, 0x78), 0);
  return w;
}

TEST(Policy, CleanKeepsNewDataInCacheLosesItOnDiskRetryReturnsZero) {
  Stack s(testing::WithPolicy(FailurePolicy::kClean));
  int w = WriteThreePagesThenFailPageOne(s);
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.ReadByte(w, 4096, 4096), 0x78);
  EXPECT_EQ(s.Fsync(w), 0);  // nothing dirty: the data is simply gone
  s.Heal();
  ASSERT_EQ(s.v().Close(w).err(), 0);
  ASSERT_TRUE(s.Remount().ok());
  int r = s.Open("f", O_RDONLY);
  EXPECT_EQ(s.ReadByte(r, 4096, 4096), 0x62);
}

TEST(Policy, KeepDirtyRetriesUntilTheDeviceHeals) {
  Stack s(testing::WithPolicy(FailurePolicy::kKeepDirty));
  int w = WriteThreePagesThenFailPageOne(s);
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.Fsync(w), -EIO);  // retried, failed again: a new error
  s.Heal();
  EXPECT_EQ(s.Fsync(w), 0);
  ASSERT_EQ(s.v().Close(w).err(), 0);
  ASSERT_TRUE(s.Remount().ok());
  int r = s.Open("f", O_RDONLY);
  EXPECT_EQ(s.ReadByte(r, 4096, 4096), 0x78);
}

TEST(Policy, RevertDropsThePageSoReadsSeeTheDisk) {
  Stack s(testing::WithPolicy(FailurePolicy::kRevert));
  int w = WriteThreePagesThenFailPageOne(s);
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.ReadByte(w, 4096, 4096), 0x62);
  EXPECT_EQ(s.Fsync(w), 0);
}

TEST(Policy, RevertPutsTheSizeBackAfterAFailedExtension) {
  Stack s(testing::WithPolicy(FailurePolicy::kRevert));
  int w = WriteThreePagesThenFailPageOne(s);
  ASSERT_EQ(s.Write(w, 12288, 8192, 0x79), 0);  // extends to 20 KiB
  EXPECT_EQ(s.v().Fstat(w)->size, 20480u);
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.v().Fstat(w)->size, 12288u);
  EXPECT_EQ(s.ReadByte(w, 8192, 4096), 0x63);
}

TEST(Policy, DelayedReportsOneSyncCallLater) {
  Stack s(testing::WithPolicy(FailurePolicy::kDelayed));
  int w = WriteThreePagesThenFailPageOne(s);
  EXPECT_EQ(s.Fsync(w), 0);
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.Fsync(w), 0);
}

TEST(Policy, DelayedErrorReachesOtherDescriptionsToo) {
  Stack s(testing::WithPolicy(FailurePolicy::kDelayed));
  int other = s.Open("f", O_RDWR | O_CREAT);
  int w = WriteThreePagesThenFailPageOne(s);
  EXPECT_EQ(s.Fsync(w), 0);
  EXPECT_EQ(s.Fsync(other), -EIO);
  EXPECT_EQ(s.Fsync(w), -EIO);
}

TEST(Profile, StickyFailsEveryLaterFsyncAndSyncfsUntilRemount) {
  Stack s(testing::WithProfile(vfs::Profile::kSticky));
  int w = WriteThreePagesThenFailPageOne(s);
  int other = s.Open("g", O_RDWR | O_CREAT);
  EXPECT_EQ(s.Fsync(w), -EIO);
  s.Heal();
  EXPECT_EQ(s.Fsync(w), -EIO);
  EXPECT_EQ(s.Fsync(other), -EIO);  // any file of the fs
  EXPECT_EQ(s.Syncfs(other), -EIO);
  EXPECT_EQ(s.Syncfs(other), -EIO);
  ASSERT_EQ(s.v().Close(w).err(), 0);
  ASSERT_EQ(s.v().Close(other).err(), 0);
  (void)s.Remount();
  int again = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(again), 0);
}

}  // namespace
}  // namespace errseq

// SEMANTICS.md §7, the canonical outcomes (mainline profile, policy clean unless named), as
// named tests on the real stack: passthrough on a temp dir, faults armed on the file's writeback.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <cerrno>

#include "../support/stack.h"

namespace errseq {
namespace {

using testing::Stack;
using vfs::Profile;

// Common start: f holds 4 KiB of 0x01 on disk; then a rewrite whose writeback fails with EIO.
void FailOneWriteback(Stack& s, int via_fd, const char* errno_name = "EIO") {
  s.Fail(std::string("0 * write error ") + errno_name + " path=f");
  ASSERT_EQ(s.Write(via_fd, 0, 4096, 0x02), 0);
  s.sb().Sync();  // writeback happens (and fails); sync reports nothing
}

TEST(Canonical, A_EveryOpenDescriptionIsToldOnce) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT), fd2 = s.Open("f", O_RDWR);
  FailOneWriteback(s, fd1);
  EXPECT_EQ(s.Fsync(fd1), -EIO);
  EXPECT_EQ(s.Fsync(fd2), -EIO);
  EXPECT_EQ(s.Fsync(fd1), 0);
  EXPECT_EQ(s.Fsync(fd2), 0);
}

TEST(Canonical, B_OpenerAfterUnseenFailureIsTold) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  int fd3 = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(fd3), -EIO);
}

TEST(Canonical, B_Legacy_OnlyTheFirstCallerIsTold) {
  Stack s(testing::WithProfile(Profile::kLegacy));
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  int fd3 = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(fd3), -EIO);  // first caller anywhere
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, B_V413_OpenerAfterUnseenFailureIsNotTold) {
  Stack s(testing::WithProfile(Profile::kErrseq413));
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  int fd3 = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(fd3), 0);
  EXPECT_EQ(s.Fsync(fd1), -EIO);  // older cursors still hear of it
}

TEST(Canonical, C_OpenerAfterSomeoneWasToldIsNotTold) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  ASSERT_EQ(s.Fsync(fd1), -EIO);
  int fd4 = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(fd4), 0);
}

TEST(Canonical, D_EioThenEnospcReportsEnospcOnce) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1, "EIO");
  FailOneWriteback(s, fd1, "ENOSPC");
  s.Heal();
  EXPECT_EQ(s.Fsync(fd1), -ENOSPC);
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, D_Legacy_EioWinsOverEnospc) {
  Stack s(testing::WithProfile(Profile::kLegacy));
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1, "EIO");
  FailOneWriteback(s, fd1, "ENOSPC");
  s.Heal();
  EXPECT_EQ(s.Fsync(fd1), -EIO);
}

TEST(Canonical, E_SuccessfulRewriteDoesNotClearUnseenError) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  s.Heal();
  ASSERT_EQ(s.Write(fd1, 0, 4096, 0x03), 0);
  s.sb().Sync();
  EXPECT_EQ(s.Fsync(fd1), -EIO);
}

TEST(Canonical, F_RetryAfterReportedErrorReturnsZero) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  ASSERT_EQ(s.Fsync(fd1), -EIO);
  s.Heal();
  ASSERT_EQ(s.Write(fd1, 0, 4096, 0x03), 0);
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, G_SyncfsReportsOncePerDescriptionEvenAfterFsync) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  s.Heal();
  ASSERT_EQ(s.Fsync(fd1), -EIO);
  EXPECT_EQ(s.Syncfs(fd1), -EIO);
  EXPECT_EQ(s.Syncfs(fd1), 0);
}

TEST(Canonical, H_FsyncAfterSyncfsStillReportsOnce) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  s.Heal();
  ASSERT_EQ(s.Syncfs(fd1), -EIO);
  EXPECT_EQ(s.Fsync(fd1), -EIO);
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, I_CloseReturnsZeroAndConsumesNothing) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT), fd2 = s.Open("f", O_RDWR);
  FailOneWriteback(s, fd1);
  EXPECT_EQ(s.v().Close(fd1).err(), 0);
  s.Heal();
  EXPECT_EQ(s.Fsync(fd2), -EIO);
}

TEST(Canonical, J_DupSharesOneCursor) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  auto dup = s.v().Dup(fd1);
  ASSERT_TRUE(dup.ok());
  FailOneWriteback(s, fd1);
  EXPECT_EQ(s.Fsync(*dup), -EIO);
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, K_FdatasyncThenFsyncOnSameDescription) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  EXPECT_EQ(s.v().Fdatasync(fd1).err(), -EIO);
  EXPECT_EQ(s.Fsync(fd1), 0);
}

TEST(Canonical, L_SyncConsumesNothing) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, fd1);
  s.Heal();
  s.sb().Sync();
  s.sb().Sync();
  EXPECT_EQ(s.Fsync(fd1), -EIO);
}

TEST(Canonical, M_OtherFileIsUnaffected) {
  Stack s;
  int a = s.Open("f", O_RDWR | O_CREAT), b = s.Open("g", O_RDWR | O_CREAT);
  ASSERT_EQ(s.Write(b, 0, 4096, 1), 0);
  FailOneWriteback(s, a);
  EXPECT_EQ(s.Fsync(b), 0);
  EXPECT_EQ(s.Fsync(a), -EIO);
}

TEST(Canonical, N_NewFileNeverInheritsADeletedFilesError) {
  Stack s;
  int a = s.Open("f", O_RDWR | O_CREAT);
  FailOneWriteback(s, a);
  s.Heal();
  ASSERT_EQ(s.Fsync(a), -EIO);
  ASSERT_EQ(s.v().Close(a).err(), 0);
  ASSERT_EQ(s.sb().Unlink("f").err(), 0);
  int b = s.Open("f2", O_RDWR | O_CREAT);
  ASSERT_EQ(s.Write(b, 0, 4096, 3), 0);
  EXPECT_EQ(s.Fsync(b), 0);
}

TEST(Canonical, O_AfterHealingEveryoneGetsZero) {
  Stack s;
  int fd1 = s.Open("f", O_RDWR | O_CREAT), fd2 = s.Open("f", O_RDWR);
  FailOneWriteback(s, fd1);
  s.Heal();
  (void)s.Fsync(fd1);
  (void)s.Fsync(fd2);
  EXPECT_EQ(s.Fsync(fd1), 0);
  EXPECT_EQ(s.Fsync(fd2), 0);
  ASSERT_EQ(s.v().Close(fd1).err(), 0);
  ASSERT_EQ(s.v().Close(fd2).err(), 0);
  int fd3 = s.Open("f", O_RDWR);
  EXPECT_EQ(s.Fsync(fd3), 0);
}

}  // namespace
}  // namespace errseq

// SyncedWrites: the range an O_SYNC / O_DSYNC write noted in its WRITEs is taken by the FSYNC
// of the same thread on the same handle, once; never by another thread or handle, never when
// old, never after the handle's release, never for a file whose mapped-page writeback failed.
// A wrongly taken note would make a real fsync sync only that range and answer for the file.
#include "errseq/fuse/synced_writes.h"

#include <fcntl.h>

#include <gtest/gtest.h>

#include <cstdint>

namespace errseq::fuse {
namespace {

using namespace std::chrono_literals;
using Clock = SyncedWrites::Clock;

TEST(SyncedWrites, TheFollowUpFsyncOfTheSameThreadAndHandleTakesTheWritesRangeOnce) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Wrote(/*fh=*/7, /*tid=*/100, /*ino=*/5, 31545, 1223, O_DSYNC, t0);
  w.Wrote(7, 100, 5, 32768, 3777, O_DSYNC, t0);  // the second WRITE of the same write
  EXPECT_FALSE(w.TakeFollowUp(7, 101, 5, t0)) << "another thread";
  EXPECT_FALSE(w.TakeFollowUp(8, 100, 5, t0)) << "another handle";
  auto r = w.TakeFollowUp(7, 100, 5, t0 + 1ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start, 31545u);
  EXPECT_EQ(r->end, 31545u + 5000);
  EXPECT_EQ(r->sync_flags, O_DSYNC);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0 + 2ms)) << "the next fsync is a real one";
  EXPECT_EQ(w.size(), 0u);
}

TEST(SyncedWrites, AnOldNoteIsNotTakenAndOldNotesGo) {
  SyncedWrites w(1s);
  const auto t0 = Clock::now();
  w.Wrote(7, 100, 5, 0, 4096, O_SYNC, t0);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0 + 1001ms)) << "its write's caller never asked";
  EXPECT_EQ(w.size(), 0u) << "taken anyway";
  w.Wrote(7, 100, 5, 0, 4096, O_SYNC, t0);
  w.Wrote(9, 200, 6, 0, 4096, O_SYNC, t0 + 2s);  // a later note clears those never taken
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.TakeFollowUp(9, 200, 6, t0 + 2s));
}

TEST(SyncedWrites, AReleasedHandleLeavesNoNote) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Wrote(7, 100, 5, 0, 1, O_DSYNC, t0);
  w.Wrote(7, 101, 5, 0, 1, O_DSYNC, t0);
  w.Wrote(8, 100, 5, 0, 1, O_DSYNC, t0);
  w.Forget(7);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0)) << "a new open may get the number";
  EXPECT_TRUE(w.TakeFollowUp(8, 100, 5, t0));
}

TEST(SyncedWrites, NoNoteForAFileWhoseMappedPageWritebackFailed) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Wrote(7, 100, 5, 0, 1, O_DSYNC, t0);
  w.KernelHoldsError(5);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0)) << "the kernel may have failed the sync itself";
  w.Wrote(7, 100, 5, 0, 1, O_DSYNC, t0);
  EXPECT_EQ(w.size(), 0u);
  w.Wrote(7, 100, 6, 0, 1, O_DSYNC, t0);
  EXPECT_TRUE(w.TakeFollowUp(7, 100, 6, t0)) << "other files are not affected";
}

TEST(SyncedWrites, ARangeToTheEndOfTheFileDoesNotWrap) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Wrote(7, 100, 5, 0, UINT64_MAX, O_DSYNC, t0);  // an O_APPEND write: the whole file
  w.Wrote(7, 100, 5, 4096, UINT64_MAX, O_DSYNC, t0);
  auto r = w.TakeFollowUp(7, 100, 5, t0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start, 0u);
  EXPECT_EQ(r->end, UINT64_MAX);
}

}  // namespace
}  // namespace errseq::fuse

// SyncedWrites: a note of an O_SYNC / O_DSYNC write synced in its WRITE is taken by the FSYNC
// of the same thread on the same handle, once; never by another thread or handle, never when
// old, never after the handle's release, never for a file whose mapped-page writeback failed.
// A wrongly taken note would make a real fsync skip its writeback and answer 0.
#include "errseq/fuse/synced_writes.h"

#include <gtest/gtest.h>

namespace errseq::fuse {
namespace {

using namespace std::chrono_literals;
using Clock = SyncedWrites::Clock;

TEST(SyncedWrites, TheFollowUpFsyncOfTheSameThreadAndHandleTakesTheNoteOnce) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Synced(/*fh=*/7, /*tid=*/100, /*ino=*/5, t0);
  EXPECT_FALSE(w.TakeFollowUp(7, 101, 5, t0)) << "another thread";
  EXPECT_FALSE(w.TakeFollowUp(8, 100, 5, t0)) << "another handle";
  EXPECT_TRUE(w.TakeFollowUp(7, 100, 5, t0 + 1ms));
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0 + 2ms)) << "the next fsync is a real one";
  EXPECT_EQ(w.size(), 0u);
}

TEST(SyncedWrites, AnOldNoteIsNotTakenAndOldNotesGo) {
  SyncedWrites w(1s);
  const auto t0 = Clock::now();
  w.Synced(7, 100, 5, t0);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0 + 1001ms)) << "its write's caller never asked";
  EXPECT_EQ(w.size(), 0u) << "taken anyway";
  w.Synced(7, 100, 5, t0);
  w.Synced(9, 200, 6, t0 + 2s);  // a later note clears the ones whose FSYNC never came
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.TakeFollowUp(9, 200, 6, t0 + 2s));
}

TEST(SyncedWrites, AReleasedHandleLeavesNoNote) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Synced(7, 100, 5, t0);
  w.Synced(7, 101, 5, t0);
  w.Synced(8, 100, 5, t0);
  w.Forget(7);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0)) << "a new open may get the number";
  EXPECT_TRUE(w.TakeFollowUp(8, 100, 5, t0));
}

TEST(SyncedWrites, NoNoteForAFileWhoseMappedPageWritebackFailed) {
  SyncedWrites w;
  const auto t0 = Clock::now();
  w.Synced(7, 100, 5, t0);
  w.KernelHoldsError(5);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0)) << "the kernel may have failed the sync itself";
  w.Synced(7, 100, 5, t0);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(w.TakeFollowUp(7, 100, 5, t0));
  w.Synced(7, 100, 6, t0);
  EXPECT_TRUE(w.TakeFollowUp(7, 100, 6, t0)) << "other files are not affected";
}

}  // namespace
}  // namespace errseq::fuse

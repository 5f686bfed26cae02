// Ledger: sequence numbers, the bounded ring and its drop counter, the recorded/reported
// counters, reading after a sequence number (with and without waiting), and the text form.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "errseq/vfs/ledger.h"

namespace errseq::vfs {
namespace {

Event Recorded(uint64_t ino) {
  Event e;
  e.kind = Event::Kind::kRecorded;
  e.ino = ino;
  e.err = -EIO;
  return e;
}

Event Reported(uint64_t file) {
  Event e;
  e.kind = Event::Kind::kReported;
  e.file_id = file;
  e.err = -ENOSPC;
  e.call = "fsync";
  e.pid = 42;
  return e;
}

TEST(Ledger, StampsSequenceAndTimeAndCountsKinds) {
  Ledger l(10);
  l.Append(Recorded(1));
  l.Append(Reported(5));
  l.Append(Reported(6));
  auto ev = l.Since(0, 100);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].seq, 1u);
  EXPECT_EQ(ev[2].seq, 3u);
  EXPECT_GT(ev[0].time_ns, 0);
  EXPECT_LE(ev[0].time_ns, ev[2].time_ns);
  EXPECT_EQ(l.recorded(), 1u);
  EXPECT_EQ(l.reported(), 2u);
  EXPECT_EQ(l.last_seq(), 3u);
  EXPECT_EQ(l.dropped(), 0u);
}

TEST(Ledger, FullRingDropsTheOldestAndCountsIt) {
  Ledger l(3);
  for (uint64_t i = 1; i <= 5; ++i) l.Append(Recorded(i));
  EXPECT_EQ(l.dropped(), 2u);
  auto ev = l.Since(0, 100);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev.front().seq, 3u);
  EXPECT_EQ(ev.back().ino, 5u);
  EXPECT_EQ(l.recorded(), 5u) << "counters count every event, kept or dropped";
}

TEST(Ledger, SinceSkipsOlderEventsAndHonoursMax) {
  Ledger l(100);
  for (uint64_t i = 1; i <= 10; ++i) l.Append(Recorded(i));
  auto ev = l.Since(7, 100);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].seq, 8u);
  EXPECT_EQ(l.Since(0, 4).size(), 4u);
  EXPECT_TRUE(l.Since(10, 100).empty());
}

TEST(Ledger, SinceWaitsForTheNextEvent) {
  Ledger l(10);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    l.Append(Reported(9));
  });
  auto ev = l.Since(0, 10, std::chrono::milliseconds(5000));
  writer.join();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].file_id, 9u);
}

TEST(Ledger, SinceGivesUpAfterTheWait) {
  Ledger l(10);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(l.Since(0, 10, std::chrono::milliseconds(30)).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
}

TEST(FormatEvent, BothKinds) {
  Event r = Recorded(12);
  r.seq = 4;
  r.path = "dir/f";
  r.offset = 4096;
  r.length = 8192;
  r.value = 0x5;  // EIO, unseen, counter 0
  EXPECT_EQ(FormatEvent(r), "#4 recorded EIO on inode 12 (dir/f) bytes 4096+8192 -> EIO unseen #0");
  r.offset = r.length = 0;  // the store's sync failed: no byte range
  EXPECT_EQ(FormatEvent(r),
            "#4 recorded EIO on inode 12 (dir/f) in a sync of its store -> EIO unseen #0");
  Event p = Reported(3);
  p.seq = 5;
  p.ino = 12;
  p.path = "dir/f";
  EXPECT_EQ(FormatEvent(p), "#5 reported ENOSPC to file 3 (pid 42) by fsync on inode 12 (dir/f)");
}

}  // namespace
}  // namespace errseq::vfs

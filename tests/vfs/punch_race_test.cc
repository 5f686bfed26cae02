// fallocate's punch and zero-range against a concurrent partial write of the same page, on a
// page the cache does not hold (so the write reads it in from the host). Linux serialises the
// two (i_rwsem), so only the two serial outcomes may appear: the write and then the punch
// (all zeros), or the punch and then the write ('b' and zeros). Never the host's old bytes
// read in before the host was punched and written back after it. Run under ThreadSanitizer.
#include <fcntl.h>
#include <linux/falloc.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "../support/stack.h"

namespace errseq {
namespace {

using testing::Stack;

TEST(PunchRace, APartialWriteRacingAPunchSeesOneOfTheSerialOutcomes) {
  Stack s;
  const int iterations = 400;
  int bad = 0;
  for (int i = 0; i < iterations && bad == 0; ++i) {
    for (int mode : {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE}) {
      {
        int f = s.Open("f", O_RDWR | O_CREAT);
        ASSERT_EQ(s.Write(f, 0, 4096, 'a'), 0);
        ASSERT_EQ(s.Fsync(f), 0);
        ASSERT_EQ(s.v().Close(f).err(), 0);
      }
      ASSERT_TRUE(s.sb().Evict("f").ok());  // the host's 'a's are all there is
      int w = s.Open("f", O_RDWR), p = s.Open("f", O_RDWR);
      std::atomic<int> ready{0};
      std::thread writer([&] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        const std::byte b{'b'};
        EXPECT_TRUE(s.v().Pwrite(w, {&b, 1}, 0).ok());
      });
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      ASSERT_EQ(s.v().Fallocate(p, mode, 0, 4096).err(), 0);
      writer.join();
      ASSERT_EQ(s.Fsync(w), 0);
      std::vector<std::byte> page(4096);
      ASSERT_EQ(*s.v().Pread(p, page, 0), 4096u);
      const auto first = static_cast<char>(page[0]);
      EXPECT_TRUE(first == 'b' || first == '\0') << "iteration " << i;
      for (size_t k = 1; k < page.size(); ++k) {
        if (page[k] != std::byte{0}) {
          ADD_FAILURE() << "iteration " << i << " mode " << mode << ": byte " << k << " is '"
                        << static_cast<char>(page[k]) << "', from before the punch";
          ++bad;
          break;
        }
      }
      ASSERT_EQ(s.v().Close(w).err(), 0);
      ASSERT_EQ(s.v().Close(p).err(), 0);
    }
  }
}

}  // namespace
}  // namespace errseq

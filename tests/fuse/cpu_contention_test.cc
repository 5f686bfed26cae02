// CpuContention: the runnable count read from /proc/loadavg's text, busy at once when a sample
// counts more runnable threads than CPUs, free only after enough calm samples in a row, one
// sample per interval; and on this machine, busy while more threads spin than there are CPUs.
#include "errseq/fuse/cpu_contention.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace errseq::fuse {
namespace {

using namespace std::chrono_literals;

TEST(CpuContention, ReadsTheRunnableCountOfLoadavg) {
  EXPECT_EQ(CpuContention::Runnable("0.05 0.10 0.08 2/345 6789\n"), 2);
  EXPECT_EQ(CpuContention::Runnable("12.00 9.50 3.25 17/1024 1"), 17);
  EXPECT_EQ(CpuContention::Runnable(""), -1);
  EXPECT_EQ(CpuContention::Runnable("0.05 0.10 0.08"), -1);
  EXPECT_EQ(CpuContention::Runnable("0.05 0.10 0.08 x/345 1"), -1);
  EXPECT_EQ(CpuContention::Runnable("0.05 0.10 0.08 2345 1"), -1);
}

TEST(CpuContention, BusyAtOnceFreeAfterCalmSamplesOnePerInterval) {
  CpuContention c(2, 10ms, 3);
  auto t = CpuContention::Clock::time_point{} + 1h;
  EXPECT_FALSE(c.Update(2, t)) << "one runnable thread per CPU, the asker included";
  EXPECT_TRUE(c.Update(3, t += 10ms));
  EXPECT_TRUE(c.Update(1, t += 10ms));
  EXPECT_TRUE(c.Update(1, t += 10ms));
  EXPECT_TRUE(c.Update(5, t += 10ms)) << "a busy sample starts the calm count again";
  EXPECT_TRUE(c.Update(1, t += 10ms));
  EXPECT_TRUE(c.Update(-1, t += 10ms)) << "no sample: no change";
  EXPECT_TRUE(c.Update(2, t += 10ms));
  EXPECT_FALSE(c.Update(0, t += 10ms)) << "three calm samples in a row";
  EXPECT_FALSE(c.busy());
}

TEST(CpuContention, BusyWhileMoreThreadsSpinThanThereAreCpus) {
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_GT(cpus, 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  for (long i = 0; i < cpus + 2; ++i) {
    spinners.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  CpuContention c(static_cast<unsigned>(cpus), 1ms);
  bool busy = false;
  // Every sample counts the spinners; a few tries only in case /proc/loadavg is unreadable.
  for (int i = 0; i < 50 && !busy; ++i) {
    std::this_thread::sleep_for(2ms);
    busy = c.Update();
  }
  stop = true;
  for (auto& t : spinners) t.join();
  if (::access("/proc/loadavg", R_OK) != 0) GTEST_SKIP() << "no /proc/loadavg here";
  EXPECT_TRUE(busy);
}

}  // namespace
}  // namespace errseq::fuse

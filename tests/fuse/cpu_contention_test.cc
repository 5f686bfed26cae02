// CpuContention: the runnable count read from /proc/loadavg's text, busy at once when a sample
// counts more runnable threads than CPUs or the thread itself waited long to run, free only
// after enough calm samples in a row (and the hold after a long wait), one sample per
// interval; and on this machine, busy while more threads spin than there are CPUs, and for a
// SCHED_IDLE thread with one spinner on its CPU while the other CPUs are free.
#include "errseq/fuse/cpu_contention.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
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

TEST(CpuContention, ReadsTheWaitAndRunsOfSchedstat) {
  int64_t wait = 0, runs = 0;
  ASSERT_TRUE(CpuContention::ParseSchedstat("963076 1500 12\n", &wait, &runs));
  EXPECT_EQ(wait, 1500);
  EXPECT_EQ(runs, 12);
  EXPECT_FALSE(CpuContention::ParseSchedstat("", &wait, &runs));
  EXPECT_FALSE(CpuContention::ParseSchedstat("963076 1500", &wait, &runs));
  EXPECT_FALSE(CpuContention::ParseSchedstat("a b c", &wait, &runs));
}

// A long wait to run makes it busy whatever the machine's count says, and it stays busy for the
// hold after the last one; short waits are calm.
TEST(CpuContention, BusyAfterALongWaitToRunUntilTheHoldAndCalmSamplesPass) {
  CpuContention c(2, 10ms, 3, 500us, 100ms);
  auto t = CpuContention::Clock::time_point{} + 1h;
  using S = CpuContention::Sample;
  EXPECT_FALSE(c.Update(S{1, 1'000'000, 100}, t)) << "the first sample only sets the start";
  EXPECT_FALSE(c.Update(S{1, 1'000'000 + 100 * 5'000, 200}, t += 10ms)) << "5 us a run";
  EXPECT_TRUE(c.Update(S{1, 1'500'000 + 300'000'000, 201}, t += 10ms)) << "300 ms for one run";
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(c.Update(S{1, 301'500'000, 202 + i}, t += 10ms)) << "within the hold, " << i;
  }
  t += 100ms;  // past the hold
  EXPECT_TRUE(c.Update(S{1, 301'500'000, 300}, t += 10ms));
  EXPECT_TRUE(c.Update(S{1, 301'500'000, 301}, t += 10ms));
  EXPECT_FALSE(c.Update(S{1, 301'500'000, 302}, t += 10ms)) << "three calm samples";
  EXPECT_TRUE(c.Update(S{1, 302'500'000, 303}, t += 10ms)) << "1 ms for one run";
  EXPECT_TRUE(c.Update(S{-1, -1, 0}, t += 200ms)) << "no sample: no change";
}

// The case the machine's count misses: one spinner on this thread's CPU, the other CPUs free.
// A SCHED_IDLE thread there all but stops; it notices when it gets to run.
TEST(CpuContention, BusyForAnIdleThreadWithASpinnerOnItsCpu) {
  if (::access("/proc/thread-self/schedstat", R_OK) != 0) {
    GTEST_SKIP() << "no /proc/thread-self/schedstat here (CONFIG_SCHED_INFO)";
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  std::atomic<bool> stop{false};
  std::thread spinner([&] {
    ::sched_setaffinity(0, sizeof one, &one);
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  bool busy = false;
  std::thread idle([&] {
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    sched_param sp{};
    ASSERT_EQ(::sched_setscheduler(0, SCHED_IDLE, &sp), 0);
    // The thread's own schedstat only (the machine's count left out: other programs may make
    // it say busy by itself, which is not what this tests).
    CpuContention c(static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))), 1ms);
    const int self = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(self, 0);
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!busy && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(2ms);
      char buf[128];
      const ssize_t n = ::pread(self, buf, sizeof buf, 0);
      CpuContention::Sample s;
      ASSERT_TRUE(n > 0 && CpuContention::ParseSchedstat(std::string_view(buf, n), &s.wait_ns,
                                                         &s.runs));
      busy = c.Update(s, CpuContention::Clock::now());
    }
    ::close(self);
  });
  idle.join();
  stop = true;
  spinner.join();
  EXPECT_TRUE(busy);
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

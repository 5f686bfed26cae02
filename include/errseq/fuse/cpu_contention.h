// CpuContention: whether every CPU of the machine has work besides the thread asking, from the
// kernel's count of runnable threads in /proc/loadavg. The io_uring queue threads run under
// SCHED_IDLE only while some CPU is free: next to another runnable thread a SCHED_IDLE one all
// but stops, and with no CPU free its reason (leaving a CPU that counts as idle for the woken
// caller) is gone anyway.
#pragma once

#include <chrono>
#include <string_view>

namespace errseq::fuse {

// Owned by one thread (no lock): each io_uring queue thread has its own.
class CpuContention {
 public:
  using Clock = std::chrono::steady_clock;

  // `cpus`: CPUs online. A sample is taken at most every `interval`; busy as soon as one sample
  // counts more runnable threads than CPUs, free again after `calm` samples in a row that do
  // not (the count is of one instant: it swings).
  explicit CpuContention(unsigned cpus,
                         std::chrono::milliseconds interval = std::chrono::milliseconds(10),
                         unsigned calm = 3);
  ~CpuContention();
  CpuContention(const CpuContention&) = delete;
  CpuContention& operator=(const CpuContention&) = delete;

  // Samples /proc/loadavg if the last sample is older than the interval; returns busy().
  // Without /proc/loadavg, never busy.
  bool Update();
  // The same with the sample given (runnable < 0: none could be taken): for tests.
  bool Update(int runnable, Clock::time_point now);
  bool busy() const { return busy_; }

  // The runnable count of /proc/loadavg's text ("0.05 0.10 0.08 2/345 6789": 2), or -1.
  static int Runnable(std::string_view loadavg);

 private:
  int fd_ = -1;  // /proc/loadavg, read with pread at 0 (a fresh sample each time)
  const unsigned cpus_;
  const Clock::duration interval_;
  const unsigned calm_needed_;
  Clock::time_point next_{};
  unsigned calm_ = 0;
  bool busy_ = false;
};

}  // namespace errseq::fuse

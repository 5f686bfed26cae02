// CpuContention: whether the thread asking has to compete for a CPU: every CPU of the machine
// has work besides it (the kernel's count of runnable threads in /proc/loadavg), or it was
// itself kept waiting to run (its own run-queue wait in /proc/thread-self/schedstat). The
// io_uring queue threads run under SCHED_IDLE only while neither holds: next to another
// runnable thread a SCHED_IDLE one all but stops, and with no CPU free its reason (leaving a
// CPU that counts as idle for the woken caller) is gone anyway. The second signal catches what
// the machine-wide count cannot: a queue thread is pinned to its CPU, and one busy thread there
// starves it while the other CPU is free (two runnable threads on two CPUs: "not busy").
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace errseq::fuse {

// Owned by one thread (no lock): each io_uring queue thread has its own, made on that thread
// (it opens /proc/thread-self/schedstat, which is the thread that opens it).
class CpuContention {
 public:
  using Clock = std::chrono::steady_clock;

  // One look at the machine and at this thread.
  struct Sample {
    int runnable = -1;    // /proc/loadavg's runnable count (this thread included); -1: none
    int64_t wait_ns = -1;  // this thread's total time waiting on a run queue; -1: none
    int64_t runs = 0;      // how many times it got a CPU
  };

  // `cpus`: CPUs online. A sample is taken at most every `interval`. Busy as soon as a sample
  // counts more runnable threads than CPUs, or this thread waited `starved` or more to run,
  // on average, each time it ran since the last sample; it then stays busy for at least `hold`
  // after the last such wait (at normal priority the waits are short, and going back to
  // SCHED_IDLE at once would starve it again), and is free after `calm` samples in a row
  // that show neither (the count is of one instant: it swings).
  explicit CpuContention(unsigned cpus,
                         std::chrono::milliseconds interval = std::chrono::milliseconds(10),
                         unsigned calm = 3,
                         std::chrono::microseconds starved = std::chrono::microseconds(5000),
                         std::chrono::milliseconds hold = std::chrono::milliseconds(1000));
  ~CpuContention();
  CpuContention(const CpuContention&) = delete;
  CpuContention& operator=(const CpuContention&) = delete;

  // Samples if the last sample is older than the interval; returns busy(). Without
  // /proc/loadavg and schedstat, never busy.
  bool Update();
  // The same with the sample given: for tests.
  bool Update(const Sample& s, Clock::time_point now);
  bool Update(int runnable, Clock::time_point now) { return Update(Sample{runnable}, now); }
  bool busy() const { return busy_; }

  // The runnable count of /proc/loadavg's text ("0.05 0.10 0.08 2/345 6789": 2), or -1.
  static int Runnable(std::string_view loadavg);
  // schedstat's text ("RUN_NS WAIT_NS RUNS"): the wait and the runs; false if malformed.
  static bool ParseSchedstat(std::string_view text, int64_t* wait_ns, int64_t* runs);

 private:
  int fd_ = -1;        // /proc/loadavg, read with pread at 0 (a fresh sample each time)
  int self_fd_ = -1;   // /proc/thread-self/schedstat of the thread that made this
  const unsigned cpus_;
  const Clock::duration interval_;
  const unsigned calm_needed_;
  const int64_t starved_ns_;
  const Clock::duration hold_;
  Clock::time_point next_{};
  Clock::time_point hold_until_{};
  int64_t last_wait_ns_ = -1;
  int64_t last_runs_ = 0;
  unsigned calm_ = 0;
  bool busy_ = false;
};

}  // namespace errseq::fuse

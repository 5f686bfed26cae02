// SessionLoop: serves a fuse_session's requests from a pool of threads so that a request
// usually costs no thread wake-up in the server. libfuse's multi-threaded loop keeps every
// idle thread asleep in read(2) on the device: each request wakes one of them, and on a
// virtual machine that wake-up is most of a 4 KiB write's cost (docs/benchmarks.md).
//
// Leader and followers. One thread at a time, the leader, reads the device. After a request it
// keeps polling the device for `spin_us` before it sleeps in poll(2), so the next request of a
// process that is waiting for our reply is picked up without a wake-up. Quick requests
// (lookups, attributes, reads, writes, create, unlink and the like) the leader answers itself
// and stays leader. Before any other request (fsync, setattr, anything unknown) it hands the
// lead to a follower, which then reads while the old leader works. A watchdog takes the lead
// away from a leader whose quick request has run for more than `handoff_after` (a write
// throttled by writeback, a read from a slow disk), so one slow request never holds up the
// others for longer than that, and a request that waits for another request is always served.
//
// The device is put in non-blocking mode; its readers are this loop's threads only. Requests
// are answered on the same descriptor (public libfuse API: fuse_session_receive_buf and
// fuse_session_process_buf). The loop ends when the session ends: unmount, or
// fuse_session_exit (what libfuse's signal handlers call), which it notices at the next
// request or within 100 ms. Its threads block all signals.
//
// A leader that loses the lead notices at its next request, or when the device wakes it: until
// then two threads may read the device, which is harmless (each request goes to one reader).
//
// Thread-safety: `mu_` guards the lead (term_ is written under it) and the stop flag; begun_
// and the busy_ slots are written by workers and read by the watchdog.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct fuse_session;
struct fuse_buf;

namespace errseq::fuse {

class SessionLoop {
 public:
  struct Options {
    unsigned threads = 8;  // at least 1; each may be in one request at a time
    unsigned spin_us = 50;  // how long the leader polls before it sleeps; 0: never polls
    std::chrono::microseconds handoff_after{1000};
  };

  SessionLoop(fuse_session* se, Options options);
  SessionLoop(const SessionLoop&) = delete;
  SessionLoop& operator=(const SessionLoop&) = delete;

  // Serves until the session ends (call it once). 0, or a negative errno if the device could
  // not be read.
  int Run();

  // Changes spin_us while the loop runs (UringChannel turns polling off once the device carries
  // only FORGET and INTERRUPT).
  void set_spin_us(unsigned us) { spin_us_.store(us, std::memory_order_relaxed); }

  // Whether the leader answers a request with this FUSE opcode itself (true) or hands the lead
  // on first (false).
  static bool Quick(uint32_t opcode);

 private:
  void Worker(unsigned slot);
  void Watchdog();
  // The next request into `buf`: > 0 its size; 0 the session ended; < 0 an errno.
  int Receive(fuse_buf* buf, uint64_t my_term);
  void Stop(int err);  // REQUIRES: mu_ not held
  // Whether a worker is inside a quick request begun as leader of `term` (0: of any term).
  bool Busy(uint64_t term) const;

  fuse_session* const se_;
  const Options options_;
  std::atomic<unsigned> spin_us_;  // options_.spin_us until set_spin_us
  int fd_ = -1;
  int wake_fd_ = -1;  // an eventfd that wakes the leader out of poll(2) when the loop stops

  std::mutex mu_;
  std::condition_variable lead_free_;   // followers wait here for the lead
  std::condition_variable watch_;       // the watchdog waits here (ticks, or asleep when idle)
  std::condition_variable stopped_cv_;  // Run waits here
  bool stopping_ = false;               // GUARDED_BY(mu_)
  int error_ = 0;                       // GUARDED_BY(mu_)
  uint64_t terms_ = 0;                  // GUARDED_BY(mu_): leads taken so far

  // The term (number) of the current lead, 0 while nobody leads. Written under mu_ only, read
  // by the leader without it to learn that it lost the lead.
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> begun_{0};  // quick requests begun by leaders
  // One slot per worker, written by that worker only: the term it led when it began the quick
  // request it is in, or 0.
  std::unique_ptr<std::atomic<uint64_t>[]> busy_;
  std::atomic<bool> watchdog_asleep_{false};  // set by the watchdog (under mu_) when idle

  std::vector<std::thread> threads_;
};

}  // namespace errseq::fuse

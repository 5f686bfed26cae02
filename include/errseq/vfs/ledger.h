// Ledger: the event log of who was told what. Every recorded writeback error (inode, range,
// errno, errseq value) and every report of an error to an open file description (which File,
// which call, which pid) becomes an Event in a bounded ring; when it is full the oldest event is
// dropped and counted. Readers ask for events after a sequence number, optionally waiting.
// Thread-safety: `mu_` guards the ring and the counters.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "errseq/core/errseq.h"

namespace errseq::vfs {

struct Event {
  enum class Kind { kRecorded, kReported };
  uint64_t seq = 0;
  int64_t time_ns = 0;  // CLOCK_REALTIME
  Kind kind = Kind::kRecorded;
  uint64_t ino = 0;
  uint64_t offset = 0, length = 0;  // kRecorded: the failed range
  int err = 0;                      // negative errno
  errseq_t value = 0;               // kRecorded: errseq after the set; kReported: cursor after
  uint64_t file_id = 0;             // kReported: the open file description
  std::string call;                 // kReported: fsync, fdatasync, syncfs, ...
  int pid = 0;                      // kReported: who called
  std::string path;                 // the file's path when it happened
  // kRecorded: also set in the super block's errseq, so syncfs reports it. Not for a block
  // device's file (SuperBlock::Syncfs), whose errors only its own errseq holds.
  bool in_sb_errseq = true;
};

class Ledger {
 public:
  explicit Ledger(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // Stamps seq and time, appends, wakes waiters.
  void Append(Event e);
  // Events with seq > after, at most `max`; waits up to `wait` for one to arrive if none.
  std::vector<Event> Since(uint64_t after, size_t max,
                           std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  uint64_t dropped() const;
  uint64_t last_seq() const;
  uint64_t recorded() const;
  uint64_t reported() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<Event> ring_;  // GUARDED_BY(mu_)
  uint64_t next_seq_ = 1, dropped_ = 0, recorded_ = 0, reported_ = 0;  // GUARDED_BY(mu_)
};

std::string FormatEvent(const Event& e);

}  // namespace errseq::vfs

// errseq: a 32-bit error sequence, the mechanism that lets one recorded writeback error be
// reported once to every observer (mirrors the kernel's errseq_t, lib/errseq.c).
//
// The idea: instead of a flag that the first fsync clears (so everyone else misses the error),
// keep a value that changes every time a new error is recorded after the previous one was seen.
// Each observer (an open file description) keeps its own copy of the value as its cursor; it has
// an error to report exactly when the current value differs from its cursor.
//
// Layout of the value:
//   bits  0..11  magnitude of the latest errno (1..4095)
//   bit   12     SEEN: somebody has observed the current error
//   bits 13..31  a 19-bit counter, bumped when a new error is recorded after the last was SEEN
// Zero means "no error has ever been recorded"; once an error is recorded the value never goes
// back to zero. Setters only clear SEEN, readers only set SEEN; nobody clears the errno bits.
//
// Cost: the no-error check is one atomic load and a compare; set is a CAS loop that ends after
// one successful CAS; check_and_advance is a load and at most one CAS attempt. The counter
// bump happens only when someone has seen the previous error, so a storm of errors that nobody
// looks at does not advance it; a cursor misses a change only if exactly 2^19 seen->new
// transitions happen between two of its checks (the counter wraps onto its old value).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace errseq {

using errseq_t = uint32_t;

class Errseq {
 public:
  static constexpr errseq_t kErrnoMask = 0xfffu;          // MAX_ERRNO
  static constexpr errseq_t kSeen = 1u << 12;             // ERRSEQ_SEEN
  static constexpr errseq_t kCounterOne = 1u << 13;       // ERRSEQ_CTR_INC
  static constexpr int kMaxErrno = 4095;

  // Which errseq_sample() to use: mainline (4.17+) or the original 4.13-4.16 one.
  enum class SampleMode { kMainline, kV4_13 };

  Errseq() = default;
  // Starts from a given raw value (tests that begin near the counter wrap; restoring state).
  explicit Errseq(errseq_t initial) : v_(initial) {}
  Errseq(const Errseq&) = delete;
  Errseq& operator=(const Errseq&) = delete;

  // errseq_set: record `err`. REQUIRES: -4095 <= err <= -1; anything else is refused with a
  // diagnostic and changes nothing (the current value is returned). The errno bits are
  // replaced and SEEN cleared; the counter is bumped only if SEEN was set. Returns the value
  // now stored. Safe against concurrent setters and readers.
  errseq_t Set(int err);

  // errseq_sample (mainline): the value if SEEN is set, else 0, so that a new observer is
  // still told of an error nobody has seen. No side effects.
  errseq_t Sample() const;

  // errseq_sample as in 4.13-4.16: marks the current error SEEN (one CAS attempt) and returns
  // value|SEEN, so an observer opened after an unreported error never hears of it. With nothing
  // ever recorded (value 0) it returns 0 and marks nothing.
  errseq_t SampleV4_13();

  errseq_t Sample(SampleMode mode) {
    return mode == SampleMode::kMainline ? Sample() : SampleV4_13();
  }

  // errseq_check: 0 if the value equals `since`, else the stored errno (negative). Marks
  // nothing. This is the lock-free fast path: one load.
  int Check(errseq_t since) const {
    errseq_t cur = v_.load(std::memory_order_acquire);
    if (cur == since) [[likely]] return 0;
    return -static_cast<int>(cur & kErrnoMask);
  }

  // errseq_check_and_advance: if the value equals *since, return 0. Otherwise mark it SEEN
  // (one CAS attempt; losing the race to a setter is fine, the cursor then differs from the
  // new value and the next check reports it), store value|SEEN into *since and return the
  // errno. REQUIRES: the caller serialises access to *since (it owns the cursor).
  int CheckAndAdvance(errseq_t* since);

  // The raw value, for tests, the ledger and the demo.
  errseq_t Load() const { return v_.load(std::memory_order_acquire); }

  // Decoding helpers.
  static int ErrnoOf(errseq_t v) { return -static_cast<int>(v & kErrnoMask); }
  static bool IsSeen(errseq_t v) { return (v & kSeen) != 0; }
  static uint32_t CounterOf(errseq_t v) { return v >> 13; }
  // "0" or "EIO unseen #0" / "ENOSPC seen #3".
  static std::string Describe(errseq_t v);

 private:
  std::atomic<errseq_t> v_{0};
};

}  // namespace errseq

// The four errseq operations (see include/errseq/core/errseq.h for the design and layout).
#include "errseq/core/errseq.h"

#include <fmt/format.h>

#include "errseq/core/diagnostic.h"
#include "errseq/core/errno_name.h"

namespace errseq {

errseq_t Errseq::Set(int err) {
  if (err >= 0 || err < -kMaxErrno) {
    Diagnose(fmt::format("errseq: refusing to record invalid error {} (must be -4095..-1)", err));
    return Load();
  }
  errseq_t old = v_.load(std::memory_order_acquire);
  for (;;) {
    errseq_t next = (old & ~(kErrnoMask | kSeen)) | static_cast<errseq_t>(-err);
    if (old & kSeen) next += kCounterOne;  // wraps silently past bit 31
    if (next == old) return old;           // same errno, still unseen: nothing to store
    errseq_t expected = old;
    if (v_.compare_exchange_strong(expected, next, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      return next;
    }
    // A racing setter that stored exactly what we wanted counts as our success.
    if (expected == next) return next;
    old = expected;
  }
}

errseq_t Errseq::Sample() const {
  errseq_t old = v_.load(std::memory_order_acquire);
  return (old & kSeen) ? old : 0;
}

errseq_t Errseq::SampleV4_13() {
  errseq_t old = v_.load(std::memory_order_acquire);
  if (old == 0) return 0;
  errseq_t next = old | kSeen;
  if (next != old) {
    v_.compare_exchange_strong(old, next, std::memory_order_acq_rel, std::memory_order_acquire);
  }
  return next;
}

int Errseq::CheckAndAdvance(errseq_t* since) {
  errseq_t old = v_.load(std::memory_order_acquire);
  if (old == *since) return 0;
  errseq_t next = old | kSeen;
  if (next != old) {
    // One attempt: if a setter got in first, our cursor will differ from its new value.
    v_.compare_exchange_strong(old, next, std::memory_order_acq_rel, std::memory_order_acquire);
  }
  *since = next;
  return ErrnoOf(next);
}

std::string Errseq::Describe(errseq_t v) {
  if (v == 0) return "0";
  return fmt::format("{} {} #{}", ErrnoName(ErrnoOf(v)), IsSeen(v) ? "seen" : "unseen",
                     CounterOf(v));
}

}  // namespace errseq

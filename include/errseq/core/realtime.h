// RealtimeNs: the wall clock (CLOCK_REALTIME) in nanoseconds since the epoch, the unit of file
// times and of the ledger's timestamps. One definition, so that whoever compares a ledger
// time with its own (the mount tests) reads the same clock the same way.
#pragma once

#include <time.h>

#include <cstdint>

namespace errseq {

inline int64_t RealtimeNs() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace errseq

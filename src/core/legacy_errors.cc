// The legacy AS_EIO / AS_ENOSPC flag pair (see include/errseq/core/legacy_errors.h).
#include "errseq/core/legacy_errors.h"

#include <cerrno>

#include <fmt/format.h>

#include "errseq/core/diagnostic.h"

namespace errseq {

void LegacyErrors::Set(int err) {
  if (err >= 0 || err < -4095) {
    Diagnose(fmt::format("legacy errors: refusing to record invalid error {}", err));
    return;
  }
  bits_.fetch_or(err == -ENOSPC ? kEnospc : kEio, std::memory_order_acq_rel);
}

int LegacyErrors::ErrorOf(uint32_t bits) {
  if (bits & kEio) return -EIO;
  if (bits & kEnospc) return -ENOSPC;
  return 0;
}

int LegacyErrors::TestAndClear() {
  // Fast path: nothing set, no write to the shared cache line.
  if (bits_.load(std::memory_order_acquire) == 0) return 0;
  return ErrorOf(bits_.exchange(0, std::memory_order_acq_rel));
}

int LegacyErrors::TestAndKeep() const { return ErrorOf(bits_.load(std::memory_order_acquire)); }

}  // namespace errseq

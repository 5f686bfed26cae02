// LegacyErrors: the pre-4.13 pair of error flags in a mapping (AS_EIO and AS_ENOSPC).
//
// Before errseq, a failed writeback set one of two bits in the address_space and the first
// fsync anywhere test-and-cleared them: that caller got the error, every other description got 0.
// errseq keeps them for the `legacy` tracking profile and for callers that want to look
// without consuming (filemap_check_and_keep_errors). One atomic word; every call is one atomic
// read-modify-write or load.
#pragma once

#include <atomic>
#include <cstdint>

namespace errseq {

class LegacyErrors {
 public:
  static constexpr uint32_t kEio = 1u << 0;     // AS_EIO
  static constexpr uint32_t kEnospc = 1u << 1;  // AS_ENOSPC

  // The legacy half of mapping_set_error: -ENOSPC sets the ENOSPC bit, any other error the EIO
  // bit. REQUIRES: -4095 <= err <= -1; anything else is refused with a diagnostic.
  void Set(int err);

  // filemap_check_errors: clears both bits and returns -EIO if EIO was set (EIO wins), else
  // -ENOSPC if ENOSPC was set, else 0.
  int TestAndClear();

  // filemap_check_and_keep_errors: the same answer, bits kept.
  int TestAndKeep() const;

  uint32_t Bits() const { return bits_.load(std::memory_order_acquire); }

 private:
  static int ErrorOf(uint32_t bits);
  std::atomic<uint32_t> bits_{0};
};

}  // namespace errseq

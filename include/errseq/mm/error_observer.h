// ErrorObserver: told of every writeback error a mapping records, so the layer above (the super
// block's ledger, the sticky profile) can see it without mm/ knowing about them.
#pragma once

#include <cstdint>

#include "errseq/core/errseq.h"

namespace errseq::mm {

struct ErrorRecord {
  uint64_t owner;   // the inode number of the mapping's host
  uint64_t offset;  // byte range of the failed write
  uint64_t length;
  int err;          // negative errno
  errseq_t value;   // the mapping's errseq after the set
};

class ErrorObserver {
 public:
  virtual ~ErrorObserver() = default;
  // Called on the thread that recorded the error, with no mapping lock held.
  virtual void OnWritebackError(const ErrorRecord& record) = 0;
};

}  // namespace errseq::mm

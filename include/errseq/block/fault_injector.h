// FaultInjector: the switch that holds the current FaultTable and applies it to one I/O at a
// time. One injector can serve several places at once (a FaultDevice under a block-device file
// system, a passthrough file system's writeback), so one table describes every fault of a mount.
//
// Replacing the table is atomic with respect to I/O (dmsetup load + resume): each I/O is
// evaluated entirely against either the old or the new table, and an I/O in flight keeps the
// table it started with alive. Counters belong to a table, so a new table starts from zero.
//
// Thread-safety: `mu_` guards the table pointer (taken only to copy or swap it); `armed_` lets
// the no-fault path skip the lock entirely: one relaxed-acquire load per I/O. `delays_` is
// written with the table, under `mu_`, and read without it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "errseq/block/fault_table.h"

namespace errseq::block {

class FaultInjector {
 public:
  // Installs a new table (an empty one disarms the injector).
  void Load(std::vector<FaultRule> rules);
  void Clear() { Load({}); }

  // The table now in force (never null), for `show` and `stats`.
  std::shared_ptr<FaultTable> Current() const;

  // Decides what happens to `io`, sleeps for any delay the table asks for, and returns the
  // outcome (pass, fail with an errno, or drop).
  FaultOutcome Apply(const IoDesc& io);

  bool armed() const { return armed_.load(std::memory_order_acquire); }
  // Whether the table in force has a `delay` rule: I/O may then take as long as it says, and
  // a caller that must not wait that long on someone else's I/O can step aside (errseqfs's
  // io_uring queues hand every request to a worker meanwhile).
  bool delays() const { return delays_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<FaultTable> table_ = std::make_shared<FaultTable>(std::vector<FaultRule>{});
  std::atomic<bool> armed_{false};
  std::atomic<bool> delays_{false};
};

}  // namespace errseq::block

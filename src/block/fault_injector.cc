// FaultInjector (see include/errseq/block/fault_injector.h).
#include "errseq/block/fault_injector.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace errseq::block {

void FaultInjector::Load(std::vector<FaultRule> rules) {
  const bool delays = std::any_of(rules.begin(), rules.end(), [](const FaultRule& r) {
    return r.action == FaultRule::Action::kDelay;
  });
  auto table = std::make_shared<FaultTable>(std::move(rules));
  const bool armed = !table->empty();
  std::shared_ptr<FaultTable> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(table_);
    table_ = std::move(table);
    armed_.store(armed, std::memory_order_release);
    delays_.store(delays, std::memory_order_release);
  }
  // `old` is released here, outside the lock; in-flight I/O may still hold it.
}

std::shared_ptr<FaultTable> FaultInjector::Current() const {
  std::lock_guard lock(mu_);
  return table_;
}

FaultOutcome FaultInjector::Apply(const IoDesc& io) {
  if (!armed_.load(std::memory_order_acquire)) return {};
  FaultOutcome out = Current()->Evaluate(io);
  if (out.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(out.delay_ms));
  return out;
}

}  // namespace errseq::block

// Rule evaluation (see include/errseq/block/fault_table.h).
#include "errseq/block/fault_table.h"

#include <algorithm>

namespace errseq::block {
namespace {

// splitmix64: a seeded, stateless coin so that probability rules are reproducible for a given
// sequence of matching I/Os, whatever thread performs them.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool Overlaps(const FaultRule& r, uint64_t off, uint64_t len) {
  uint64_t r_end = r.length == FaultRule::kToEnd || r.start + r.length < r.start
                       ? FaultRule::kToEnd
                       : r.start + r.length;
  uint64_t io_end = off + (len == 0 ? 1 : len);  // a zero-length I/O still touches `off`
  return off < r_end && r.start < io_end;
}

}  // namespace

FaultTable::FaultTable(std::vector<FaultRule> rules)
    : rules_(std::move(rules)), counters_(new Counters[rules_.size()]) {}

FaultOutcome FaultTable::Evaluate(const IoDesc& io) {
  FaultOutcome out;
  const uint32_t op = static_cast<uint32_t>(io.op);
  for (size_t i = 0; i < rules_.size(); ++i) {
    const FaultRule& r = rules_[i];
    if ((r.ops & op) == 0) continue;
    if (!r.path.empty()) {
      if (!r.file.empty() && !io.file.empty()) {
        if (r.file != io.file) continue;
      } else if (r.path != io.path && std::find(io.other_paths.begin(), io.other_paths.end(),
                                                r.path) == io.other_paths.end()) {
        continue;
      }
    }
    if (io.op != IoOp::kFlush && !Overlaps(r, io.offset, io.length)) continue;
    if (r.action == FaultRule::Action::kDrop && io.op == IoOp::kRead) continue;
    uint64_t seq = counters_[i].matched.fetch_add(1, std::memory_order_relaxed) + 1;
    bool fires = r.when == FaultRule::When::kAlways || (r.when == FaultRule::When::kNth && seq == r.n) ||
                 (r.when == FaultRule::When::kFrom && seq >= r.n);
    if (fires && r.probability < 1.0) {
      double coin = static_cast<double>(Mix(r.seed ^ Mix(seq)) >> 11) * 0x1.0p-53;
      fires = coin < r.probability;
    }
    if (!fires) continue;
    counters_[i].hits.fetch_add(1, std::memory_order_relaxed);
    switch (r.action) {
      case FaultRule::Action::kDelay:
        out.delay_ms += r.delay_ms;
        break;
      case FaultRule::Action::kError:
        out.kind = FaultOutcome::Kind::kFail;
        out.err = r.err;
        return out;
      case FaultRule::Action::kDrop:
        out.kind = FaultOutcome::Kind::kDrop;
        return out;
    }
  }
  return out;
}

std::vector<FaultTable::RuleStats> FaultTable::Stats() const {
  std::vector<RuleStats> out;
  out.reserve(rules_.size());
  for (size_t i = 0; i < rules_.size(); ++i) {
    out.push_back({rules_[i], counters_[i].matched.load(std::memory_order_relaxed),
                   counters_[i].hits.load(std::memory_order_relaxed)});
  }
  return out;
}

std::optional<uint32_t> VerbOps(std::string_view op) {
  constexpr uint32_t kRead = static_cast<uint32_t>(IoOp::kRead);
  constexpr uint32_t kWrite = static_cast<uint32_t>(IoOp::kWrite);
  if (op == "read") return kRead;
  if (op == "write") return kWrite;
  if (op == "all") return kRead | kWrite;
  return std::nullopt;
}

}  // namespace errseq::block

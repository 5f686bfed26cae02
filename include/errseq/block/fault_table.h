// FaultTable: an immutable list of fault rules with live hit counters (the dm-flakey /
// dm-dust idea, as data). A FaultInjector holds the current table and swaps it atomically.
//
// A rule matches an I/O by operation, byte range and (optionally) path, decides when it fires
// (always, only the nth matching I/O, every I/O from the nth on, with a seeded probability),
// and what happens then (fail with an errno, silently drop a write, delay).
//
// Evaluation of one I/O: rules are tried top to bottom. Every rule that matches the I/O counts
// it. The first `error` or `drop` rule that fires decides the outcome and ends the scan; `delay`
// rules that fire add their delay and the scan goes on, so a delay can precede a failure.
//
// Ranges apply to reads, writes and discards; a flush has no range and matches every rule whose
// operations include flush. A rule without a path matches every I/O (device I/O and file I/O
// alike); a rule with a path matches only I/O that a file system issues for that path (its
// range then counts bytes of that file), or for the file it named when armed (`file`).
//
// Thread-safety: the rules are immutable after construction; counters are relaxed atomics, so
// any number of threads may Evaluate() at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace errseq::block {

enum class IoOp : uint32_t { kRead = 1, kWrite = 2, kFlush = 4, kDiscard = 8 };
inline constexpr uint32_t kAllOps = 1 | 2 | 4 | 8;

// The operations of the scenario verb `fail OP data PATH` / `fail OP device` (errseqctl,
// errseq-conform): `read`, `write`, or `all`, which is both. Not flushes or discards: the verb
// fails the blocks that hold the data, as the kernel's scenario runner does (a flush there
// succeeds, so an fsync with nothing left to write reports 0). A table (`load`) names `flush`
// and `discard`, or `all` four, where they are wanted. Unknown names: nullopt.
std::optional<uint32_t> VerbOps(std::string_view op);

struct FaultRule {
  enum class Action { kError, kDrop, kDelay };
  enum class When { kAlways, kNth, kFrom };
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

  uint32_t ops = kAllOps;  // IoOp bits
  uint64_t start = 0;
  uint64_t length = kToEnd;  // kToEnd: to the end of the device or file
  std::string path;          // empty: any I/O
  // The file `path` named when the rule was armed (FileSystem::FileIdentity), where the file
  // system can tell: the rule then matches that file's I/O whatever its names are now (after a
  // rename, after its unlink) and not a new file that takes the name, as a fault on the
  // blocks that held the file's data does on Linux. Empty: `path` is matched by name at each
  // I/O (fault tables).
  std::string file;
  Action action = Action::kError;
  int err = -5;               // kError: negative errno (default -EIO)
  uint32_t delay_ms = 0;      // kDelay
  When when = When::kAlways;
  uint64_t n = 0;             // kNth / kFrom: 1-based count of matching I/Os
  double probability = 1.0;   // (0, 1]
  uint64_t seed = 0;
  int line = 0;               // where it came from in a text table (0: built in code)

  bool operator==(const FaultRule&) const = default;
};

// What a fault decision asks the device to do with one I/O.
struct FaultOutcome {
  enum class Kind { kPass, kFail, kDrop } kind = Kind::kPass;
  int err = 0;            // kFail: negative errno
  uint32_t delay_ms = 0;  // total delay to apply before the outcome
};

struct IoDesc {
  IoOp op;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string_view path;  // empty for device I/O
  // Other names of the same file (hard links): a rule's path= matches any of them too.
  std::span<const std::string> other_paths = {};
  // The file's identity (FaultRule::file), empty where the file system has none.
  std::string_view file = {};
};

class FaultTable {
 public:
  struct RuleStats {
    FaultRule rule;
    uint64_t matched;  // I/Os that matched op/range/path
    uint64_t hits;     // of those, how many the rule fired on
  };

  explicit FaultTable(std::vector<FaultRule> rules);
  FaultTable(const FaultTable&) = delete;
  FaultTable& operator=(const FaultTable&) = delete;

  FaultOutcome Evaluate(const IoDesc& io);

  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }
  const std::vector<FaultRule>& rules() const { return rules_; }
  std::vector<RuleStats> Stats() const;

 private:
  struct Counters {
    std::atomic<uint64_t> matched{0};
    std::atomic<uint64_t> hits{0};
  };
  const std::vector<FaultRule> rules_;
  std::unique_ptr<Counters[]> counters_;
};

}  // namespace errseq::block

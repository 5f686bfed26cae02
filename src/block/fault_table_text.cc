// Parser and formatter for the fault-table text format (see fault_table_text.h and
// docs/fault-tables.md). Every failure path returns a message; nothing here can crash on input.
// LineError is thrown and caught only inside this file, to keep the per-field checks short; no
// exception leaves ParseFaultTable.
#include "errseq/block/fault_table_text.h"

#include <cerrno>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "errseq/core/errno_name.h"
#include "errseq/core/read_file.h"

namespace errseq::block {
namespace {

struct LineError {
  std::string what;
};

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string t(s.substr(0, kMax));
  if (s.size() > kMax) t += "...";
  return "'" + t + "'";
}

// A whole decimal number that fits in uint64_t.
bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Bytes: a number with an optional k/m/g/t (1024-based) or s (512-byte sectors) suffix.
uint64_t ParseBytes(std::string_view s, const char* what) {
  uint64_t mult = 1;
  std::string_view digits = s;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': mult = 1ull << 10; break;
      case 'm': case 'M': mult = 1ull << 20; break;
      case 'g': case 'G': mult = 1ull << 30; break;
      case 't': case 'T': mult = 1ull << 40; break;
      case 's': case 'S': mult = 512; break;
      default: break;
    }
    if (mult != 1) digits.remove_suffix(1);
  }
  uint64_t v = 0;
  if (!ParseU64(digits, &v)) {
    throw LineError{fmt::format("bad {} {}: expected a number of bytes with an optional "
                                "k/m/g/t or s (512-byte sector) suffix", what, Quote(s))};
  }
  if (v > FaultRule::kToEnd / mult) {
    throw LineError{fmt::format("{} {} is too large", what, Quote(s))};
  }
  return v * mult;
}

uint32_t ParseOps(std::string_view s) {
  uint32_t ops = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view o = s.substr(i, j - i);
    if (o == "read") ops |= static_cast<uint32_t>(IoOp::kRead);
    else if (o == "write") ops |= static_cast<uint32_t>(IoOp::kWrite);
    else if (o == "flush") ops |= static_cast<uint32_t>(IoOp::kFlush);
    else if (o == "discard") ops |= static_cast<uint32_t>(IoOp::kDiscard);
    else if (o == "all") ops |= kAllOps;
    else {
      throw LineError{fmt::format("unknown operation {} (expected read, write, flush, discard "
                                  "or all, joined by commas)", Quote(o))};
    }
    i = j + 1;
  }
  return ops;
}

uint32_t ParseDelay(std::string_view s) {
  std::string_view digits = s;
  uint64_t mult = 1;
  if (digits.size() > 2 && digits.substr(digits.size() - 2) == "ms") {
    digits.remove_suffix(2);
  } else if (digits.size() > 1 && digits.back() == 's') {
    digits.remove_suffix(1);
    mult = 1000;
  }
  uint64_t v = 0;
  if (!ParseU64(digits, &v) || v > 3'600'000 / mult) {
    throw LineError{fmt::format("bad delay {}: expected milliseconds such as 20 or 20ms, or "
                                "seconds such as 2s, at most one hour", Quote(s))};
  }
  return static_cast<uint32_t>(v * mult);
}

void ParseOption(std::string_view opt, FaultRule* r, std::string* seen) {
  size_t eq = opt.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw LineError{fmt::format("expected key=value, got {}", Quote(opt))};
  }
  std::string_view key = opt.substr(0, eq), val = opt.substr(eq + 1);
  std::string tag = "|" + std::string(key) + "|";
  if (seen->find(tag) != std::string::npos) {
    throw LineError{fmt::format("option {} given twice", Quote(key))};
  }
  *seen += tag;
  if (key == "nth" || key == "from") {
    if (r->when != FaultRule::When::kAlways) {
      throw LineError{"nth= and from= cannot be combined"};
    }
    uint64_t n = 0;
    if (!ParseU64(val, &n) || n == 0) {
      throw LineError{fmt::format("{}= needs a whole number >= 1, got {}", key, Quote(val))};
    }
    r->when = key == "nth" ? FaultRule::When::kNth : FaultRule::When::kFrom;
    r->n = n;
  } else if (key == "prob") {
    double p = 0;
    auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), p);
    if (val.empty() || ec != std::errc() || ptr != val.data() + val.size() || !std::isfinite(p) ||
        !(p > 0.0) || p > 1.0) {
      throw LineError{fmt::format("prob= needs a number in (0, 1], got {}", Quote(val))};
    }
    r->probability = p;
  } else if (key == "seed") {
    if (!ParseU64(val, &r->seed)) {
      throw LineError{fmt::format("seed= needs a whole number, got {}", Quote(val))};
    }
  } else if (key == "path") {
    if (val.empty()) throw LineError{"path= needs a path"};
    r->path = std::string(val);
  } else {
    throw LineError{fmt::format("unknown option {} (expected nth=, from=, prob=, seed= or path=)",
                                Quote(key))};
  }
}

FaultRule ParseRule(std::string_view line) {
  for (char c : line) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      throw LineError{fmt::format("control character 0x{:02x} in the line", u)};
    }
  }
  std::vector<std::string_view> f = SplitFields(line);
  if (f.size() < 4) {
    throw LineError{fmt::format("expected START LENGTH OP ACTION [ARG] [OPTIONS], got {} "
                                "field{}", f.size(), f.size() == 1 ? "" : "s")};
  }
  FaultRule r;
  r.start = ParseBytes(f[0], "start");
  if (f[1] == "*" || f[1] == "max") {
    r.length = FaultRule::kToEnd;
  } else {
    r.length = ParseBytes(f[1], "length");
    if (r.length == 0) throw LineError{"length 0 matches nothing (use * for 'to the end')"};
    if (r.start + r.length < r.start) throw LineError{"start + length overflows"};
  }
  r.ops = ParseOps(f[2]);
  size_t next = 4;
  std::string_view action = f[3];
  if (action == "error") {
    r.action = FaultRule::Action::kError;
    r.err = -EIO;
    if (f.size() > 4 && f[4].find('=') == std::string_view::npos) {
      int e = ErrnoFromName(f[4]);
      if (e == 0) {
        throw LineError{fmt::format("unknown errno {} (expected a name such as EIO, ENOSPC, "
                                    "EROFS, EDQUOT, or a number 1..4095)", Quote(f[4]))};
      }
      r.err = -e;
      next = 5;
    }
  } else if (action == "drop") {
    r.action = FaultRule::Action::kDrop;
    r.ops &= ~static_cast<uint32_t>(IoOp::kRead);
    if (r.ops == 0) throw LineError{"drop applies to write, flush and discard, not to read"};
  } else if (action == "delay") {
    r.action = FaultRule::Action::kDelay;
    if (f.size() < 5) throw LineError{"delay needs a duration, such as 20ms"};
    r.delay_ms = ParseDelay(f[4]);
    next = 5;
  } else {
    throw LineError{fmt::format("unknown action {} (expected error, drop or delay)",
                                Quote(action))};
  }
  std::string seen;
  for (size_t i = next; i < f.size(); ++i) ParseOption(f[i], &r, &seen);
  if (seen.find("|seed|") != std::string::npos && seen.find("|prob|") == std::string::npos) {
    throw LineError{"seed= only makes sense with prob="};
  }
  return r;
}

}  // namespace

Result<std::vector<FaultRule>> ParseFaultTable(std::string_view text) {
  std::vector<FaultRule> rules;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (SplitFields(line).empty()) {
      if (nl == text.size()) break;
      continue;
    }
    try {
      if (rules.size() >= kMaxFaultRules) {
        throw LineError{fmt::format("too many rules (at most {})", kMaxFaultRules)};
      }
      FaultRule r = ParseRule(line);
      r.line = line_no;
      rules.push_back(std::move(r));
    } catch (const LineError& e) {
      return Status::Error(-EINVAL, fmt::format("line {}: {}", line_no, e.what));
    }
    if (nl == text.size()) break;
  }
  return rules;
}

Result<std::vector<FaultRule>> LoadFaultTableFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Status::Error(text.err(), text.status().message() + " (fault table)");
  }
  auto r = ParseFaultTable(*text);
  if (!r.ok()) return Status::Error(r.err(), fmt::format("{}: {}", path, r.status().message()));
  return r;
}

std::string FormatFaultRule(const FaultRule& r) {
  std::string ops;
  if (r.ops == kAllOps) {
    ops = "all";
  } else {
    const std::pair<IoOp, const char*> names[] = {{IoOp::kRead, "read"}, {IoOp::kWrite, "write"},
                                                  {IoOp::kFlush, "flush"},
                                                  {IoOp::kDiscard, "discard"}};
    for (auto [op, name] : names) {
      if (r.ops & static_cast<uint32_t>(op)) ops += (ops.empty() ? "" : ",") + std::string(name);
    }
  }
  std::string s = fmt::format("{} {} {}", r.start,
                              r.length == FaultRule::kToEnd ? "*" : std::to_string(r.length), ops);
  switch (r.action) {
    case FaultRule::Action::kError: {
      std::string name = ErrnoName(r.err);  // a number when glibc has no name for it
      s += " error " + (ErrnoFromName(name) != 0 ? name : std::to_string(-r.err));
      break;
    }
    case FaultRule::Action::kDrop: s += " drop"; break;
    case FaultRule::Action::kDelay: s += fmt::format(" delay {}ms", r.delay_ms); break;
  }
  if (r.when == FaultRule::When::kNth) s += fmt::format(" nth={}", r.n);
  if (r.when == FaultRule::When::kFrom) s += fmt::format(" from={}", r.n);
  if (r.probability < 1.0) s += fmt::format(" prob={} seed={}", r.probability, r.seed);
  if (!r.path.empty()) s += " path=" + r.path;
  return s;
}

std::string FormatFaultTable(const std::vector<FaultRule>& rules) {
  std::string s;
  for (const FaultRule& r : rules) s += FormatFaultRule(r) + "\n";
  return s;
}

}  // namespace errseq::block

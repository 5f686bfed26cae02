// Scenario runner (see runner.h).
#include "runner.h"

#include <fcntl.h>

#include <cerrno>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errseq/core/errno_name.h"

namespace errseq::conform {
namespace {

std::string ResultName(int64_t r) { return r == 0 ? "0" : ErrnoName(static_cast<int>(r)); }

bool Matches(const std::string& expected, int64_t actual) {
  if (expected == "0") return actual == 0;
  if (expected == "ERR") return actual < 0;
  return actual == -ErrnoFromName(expected);
}

int OpenFlags(const std::vector<std::string>& args) {
  int flags = 0;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& f = args[i];
    if (f == "rdonly") flags |= O_RDONLY;
    else if (f == "wronly") flags |= O_WRONLY;
    else if (f == "rdwr") flags |= O_RDWR;
    else if (f == "creat") flags |= O_CREAT;
    else if (f == "trunc") flags |= O_TRUNC;
    else if (f == "append") flags |= O_APPEND;
    else if (f == "sync") flags |= O_SYNC;
    else if (f == "dsync") flags |= O_DSYNC;
  }
  return flags;
}

uint64_t Num(const std::string& s) {
  uint64_t v = 0;
  ParseNumber(s, &v);  // validated by the parser
  return v;
}

class Execution {
 public:
  Execution(Target& t, const Mode& m, RunResult* r) : t_(t), m_(m), r_(r) {}

  void Run(const Command& c) {
    const std::string expected = c.result.For(m_.profile, m_.policy);
    std::string detail;  // a mismatch that is not about the result code
    int64_t actual = Exec(c, &detail);
    if (!detail.empty()) {
      r_->mismatches.push_back({c.line, c.text, Describe(c), detail});
    } else if (!Matches(expected, actual)) {
      r_->mismatches.push_back({c.line, c.text, expected, ResultName(actual)});
    }
  }

 private:
  std::string Describe(const Command& c) const {
    if (c.op == "read") return fmt::format("every byte {}", c.byte.For(m_.profile, m_.policy));
    return c.result.For(m_.profile, m_.policy);
  }

  int H(const std::string& name) const {
    auto it = handles_.find(name);
    return it == handles_.end() ? -1 : it->second;
  }

  int64_t Exec(const Command& c, std::string* detail) {
    const auto& a = c.args;
    const std::string& op = c.op;
    if (op == "open") {
      int h = t_.Open(a[1], OpenFlags(a));
      if (h < 0) return h;
      handles_[a[0]] = h;
      return 0;
    }
    if (op == "sync") return t_.Sync();
    if (op == "heal") return t_.Heal();
    if (op == "remount") return t_.Remount();
    if (op == "unlink") return t_.Unlink(a[0]);
    if (op == "evict") return t_.Evict(a[0]);
    if (op == "fail") {
      const bool device = a[1] == "device";
      const size_t err_at = device ? 2 : 3;
      int err = a.size() > err_at ? ErrnoFromName(a[err_at]) : EIO;
      return t_.Fail(a[0], device ? "" : a[2], -err);
    }
    const int h = H(a[0]);
    if (h < 0) return -EBADF;  // its open failed (already reported) or it was never opened
    if (op == "dup") {
      int n = t_.Dup(h);
      if (n < 0) return n;
      handles_[a[1]] = n;
      return 0;
    }
    if (op == "close") {
      handles_.erase(a[0]);
      return t_.Close(h);
    }
    if (op == "write" || op == "append") {
      const uint64_t len = Num(op == "write" ? a[2] : a[1]);
      std::vector<uint8_t> data(len, static_cast<uint8_t>(Num(op == "write" ? a[3] : a[2])));
      int64_t n = op == "write" ? t_.Pwrite(h, Num(a[1]), data) : t_.Append(h, data);
      if (n >= 0 && static_cast<uint64_t>(n) != len) {
        *detail = fmt::format("short write: {} of {} bytes", n, len);
      }
      return n < 0 ? n : 0;
    }
    if (op == "read") {
      const uint64_t len = Num(a[2]);
      std::vector<uint8_t> data(len, 0);
      int64_t n = t_.Pread(h, Num(a[1]), &data);
      if (n < 0) return n;
      const uint64_t want = Num(c.byte.For(m_.profile, m_.policy));
      if (static_cast<uint64_t>(n) != len) {
        *detail = fmt::format("short read: {} of {} bytes", n, len);
      } else {
        for (uint64_t i = 0; i < len; ++i) {
          if (data[i] != want) {
            *detail = fmt::format("byte at +{} is 0x{:02x}", i, data[i]);
            break;
          }
        }
      }
      return 0;
    }
    if (op == "fsync") return t_.Fsync(h);
    if (op == "fdatasync") return t_.Fdatasync(h);
    if (op == "syncfs") return t_.Syncfs(h);
    if (op == "sync_file_range") {
      unsigned flags = 0;
      std::istringstream f(a[3]);
      std::string flag;
      while (std::getline(f, flag, '|')) {
        flags |= flag == "wait_before" ? 1u : flag == "write" ? 2u : 4u;
      }
      return t_.SyncFileRange(h, Num(a[1]), Num(a[2]), flags);
    }
    *detail = "unknown command " + op;
    return 0;
  }

  Target& t_;
  const Mode m_;
  RunResult* r_;
  std::map<std::string, int> handles_;
};

}  // namespace

std::vector<RunResult> RunScenario(const Scenario& sc, Target& target) {
  std::vector<RunResult> out;
  for (const auto& profile : sc.profiles) {
    for (const auto& policy : sc.policies) {
      RunResult r;
      r.file = sc.file;
      r.scenario = sc.name;
      r.mode = {profile, policy};
      std::string why;
      if (!target.Supports(r.mode, &why)) {
        r.outcome = RunResult::Outcome::kSkip;
        r.note = why;
      } else if (target.Name() == "kernel" && !sc.kernel) {
        r.outcome = RunResult::Outcome::kSkip;
        r.note = "scenario says kernel no";
      }
      std::vector<std::string> needs = sc.needs;
      for (const Command& c : sc.commands) {  // capabilities the commands themselves need
        if (c.op == "syncfs") needs.push_back("syncfs");
        if (c.op == "sync_file_range" && c.args[3].find("wait") != std::string::npos) {
          needs.push_back("sync_file_range-wait");
        }
      }
      for (const auto& need : needs) {
        if (r.outcome == RunResult::Outcome::kPass && !target.Has(need)) {
          r.outcome = RunResult::Outcome::kSkip;
          r.note = "target cannot " + need;
        }
      }
      if (r.outcome == RunResult::Outcome::kSkip) {
        out.push_back(std::move(r));
        continue;
      }
      if (Status s = target.Start(r.mode); !s.ok()) {
        r.outcome = RunResult::Outcome::kFail;
        r.note = "could not start: " + s.ToString();
        out.push_back(std::move(r));
        continue;
      }
      Execution ex(target, r.mode, &r);
      for (const Command& c : sc.commands) ex.Run(c);
      if (Status s = target.Stop(); !s.ok()) r.note = "stop: " + s.ToString();
      if (!r.mismatches.empty()) r.outcome = RunResult::Outcome::kFail;
      out.push_back(std::move(r));
    }
  }
  return out;
}

void PrintReport(const std::vector<RunResult>& results, const std::string& target,
                 std::ostream& out) {
  size_t pass = 0, fail = 0, skip = 0;
  out << fmt::format("errseq-conform: target {}\n\n{:<28} {:<24} {}\n", target, "scenario",
                     "mode", "result");
  std::string last;
  for (const auto& r : results) {
    const char* what = r.outcome == RunResult::Outcome::kPass   ? "pass"
                       : r.outcome == RunResult::Outcome::kFail ? "FAIL"
                                                                : "skip";
    (r.outcome == RunResult::Outcome::kPass   ? pass
     : r.outcome == RunResult::Outcome::kFail ? fail
                                              : skip)++;
    out << fmt::format("{:<28} {:<24} {}{}\n", r.scenario == last ? "" : r.scenario,
                       r.mode.Name(), what, r.note.empty() ? "" : " (" + r.note + ")");
    last = r.scenario;
  }
  bool header = false;
  for (const auto& r : results) {
    for (const auto& m : r.mismatches) {
      if (!header) out << "\nmismatches:\n";
      header = true;
      out << fmt::format("  {}:{}: {}: `{}`: expected {}, got {}\n", r.file, m.line,
                         r.mode.Name(), m.command, m.expected, m.actual);
    }
  }
  out << "\n" << pass << " passed, " << fail << " failed";
  if (skip) out << ", " << skip << " skipped";
  out << "\n";
}

std::string ReportJson(const std::vector<RunResult>& results, const std::string& target) {
  nlohmann::json j;
  j["target"] = target;
  j["runs"] = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json run = {{"file", r.file},
                          {"scenario", r.scenario},
                          {"profile", r.mode.profile},
                          {"policy", r.mode.policy},
                          {"result", r.outcome == RunResult::Outcome::kPass   ? "pass"
                                     : r.outcome == RunResult::Outcome::kFail ? "fail"
                                                                              : "skip"},
                          {"note", r.note},
                          {"mismatches", nlohmann::json::array()}};
    for (const auto& m : r.mismatches) {
      run["mismatches"].push_back(
          {{"line", m.line}, {"command", m.command}, {"expected", m.expected}, {"actual", m.actual}});
    }
    j["runs"].push_back(std::move(run));
  }
  return j.dump(2) + "\n";
}

}  // namespace errseq::conform

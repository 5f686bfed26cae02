// Scenario file parser (see scenario.h).
#include "scenario.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "errseq/core/errno_name.h"
#include "errseq/core/read_file.h"

namespace errseq::conform {
namespace {

struct Spec {
  size_t min_args, max_args;
};

const std::map<std::string, Spec>& Commands() {
  static const std::map<std::string, Spec> kCommands = {
      {"open", {2, 12}},      {"dup", {2, 2}},       {"close", {1, 1}},
      {"write", {4, 4}},      {"append", {3, 3}},    {"read", {4, 4}},
      {"fsync", {1, 1}},      {"fdatasync", {1, 1}}, {"syncfs", {1, 1}},
      {"sync_file_range", {4, 4}},                   {"sync", {0, 0}},
      {"fail", {2, 4}},       {"heal", {0, 0}},      {"evict", {1, 1}},
      {"remount", {0, 0}},    {"unlink", {1, 1}},
  };
  return kCommands;
}

const std::set<std::string> kProfiles = {"errseq", "errseq-4.13", "legacy", "sticky"};
const std::set<std::string> kPolicies = {"clean", "keep_dirty", "revert", "delayed"};
const std::set<std::string> kFlags = {"rdonly", "wronly", "rdwr",   "creat",
                                      "trunc",  "append", "sync",   "dsync"};
const std::set<std::string> kNeeds = {"evict", "remount", "blockdev"};

std::vector<std::string> Split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool ValidResult(const std::string& r) {
  if (r == "0" || r == "ERR") return true;
  return ErrnoFromName(r) != 0 && !(r[0] >= '0' && r[0] <= '9');
}

bool ValidModeKey(const std::string& k) { return kProfiles.count(k) || kPolicies.count(k); }

}  // namespace

const std::string& Expectation::For(const std::string& profile, const std::string& policy) const {
  const std::string* v = &base;
  for (const auto& [k, val] : overrides) {
    if (k == profile || k == policy) v = &val;
  }
  return *v;
}

bool ParseNumber(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  try {
    size_t used = 0;
    uint64_t mult = 1;
    std::string digits = s;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      *out = std::stoull(s.substr(2), &used, 16);
      return used == s.size() - 2;
    }
    char last = s.back();
    if (last == 'k' || last == 'K') mult = 1024;
    if (last == 'm' || last == 'M') mult = 1024 * 1024;
    if (mult != 1) digits.pop_back();
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    uint64_t v = std::stoull(digits, &used, 10);
    if (v > UINT64_MAX / mult) return false;
    *out = v * mult;
    return true;
  } catch (...) {
    return false;
  }
}

Result<Scenario> ParseScenario(const std::string& text, const std::string& file_name) {
  Scenario sc;
  sc.file = file_name;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  bool in_body = false;
  auto fail = [&](const std::string& what) {
    return Status::Error(-EINVAL, fmt::format("{}:{}: {}", file_name, line_no, what));
  };
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = raw.substr(0, raw.find('#'));
    std::vector<std::string> w = Split(line);
    if (w.empty()) continue;
    const std::string& head = w[0];
    if (head == "name" || head == "about" || head == "profiles" || head == "policies" ||
        head == "kernel" || head == "needs") {
      if (in_body) return fail(fmt::format("header line '{}' after the first command", head));
      std::vector<std::string> rest(w.begin() + 1, w.end());
      if (head == "name") {
        if (rest.size() != 1) return fail("name takes one word");
        sc.name = rest[0];
      } else if (head == "about") {
        size_t p = line.find("about") + 5;
        sc.about = line.substr(line.find_first_not_of(" \t", p));
      } else if (head == "profiles" || head == "policies") {
        const auto& known = head == "profiles" ? kProfiles : kPolicies;
        if (rest.empty()) return fail(head + " needs at least one name");
        for (const auto& r : rest) {
          if (!known.count(r)) return fail(fmt::format("unknown {} '{}'", head == "profiles" ? "profile" : "policy", r));
        }
        (head == "profiles" ? sc.profiles : sc.policies) = rest;
      } else if (head == "kernel") {
        if (rest.size() != 1 || (rest[0] != "yes" && rest[0] != "no")) {
          return fail("kernel takes yes or no");
        }
        sc.kernel = rest[0] == "yes";
      } else {
        for (const auto& r : rest) {
          if (!kNeeds.count(r)) return fail(fmt::format("unknown capability '{}' (expected evict, remount or blockdev)", r));
        }
        sc.needs = rest;
      }
      continue;
    }
    in_body = true;
    auto spec = Commands().find(head);
    if (spec == Commands().end()) return fail(fmt::format("unknown command '{}'", head));
    Command c;
    c.line = line_no;
    c.op = head;
    c.text = line.substr(line.find_first_not_of(" \t"));
    while (!c.text.empty() && (c.text.back() == ' ' || c.text.back() == '\t')) c.text.pop_back();
    // Split off "=> R overrides..."
    auto arrow = std::find(w.begin(), w.end(), "=>");
    std::vector<std::string> args(w.begin() + 1, arrow);
    if (c.op == "read") {  // trailing mode:byte overrides of the expected byte
      while (args.size() > 4 && args.back().find(':') != std::string::npos) {
        const std::string& o = args.back();
        size_t colon = o.find(':');
        uint64_t b;
        if (!ValidModeKey(o.substr(0, colon)) || !ParseNumber(o.substr(colon + 1), &b) || b > 255) {
          return fail(fmt::format("bad byte override '{}'", o));
        }
        c.byte.overrides.insert(c.byte.overrides.begin(), {o.substr(0, colon), o.substr(colon + 1)});
        args.pop_back();
      }
    }
    if (args.size() < spec->second.min_args || args.size() > spec->second.max_args) {
      return fail(fmt::format("'{}' takes {}{} argument{}, got {}", head, spec->second.min_args,
                              spec->second.max_args != spec->second.min_args ? "+" : "",
                              spec->second.min_args == 1 ? "" : "s", args.size()));
    }
    if (arrow != w.end()) {
      if (arrow + 1 == w.end()) return fail("'=>' needs a result");
      c.result.base = *(arrow + 1);
      if (!ValidResult(c.result.base)) return fail(fmt::format("unknown result '{}'", c.result.base));
      for (auto it = arrow + 2; it != w.end(); ++it) {
        size_t colon = it->find(':');
        if (colon == std::string::npos || !ValidModeKey(it->substr(0, colon)) ||
            !ValidResult(it->substr(colon + 1))) {
          return fail(fmt::format("bad override '{}' (expected PROFILE:RESULT or POLICY:RESULT)", *it));
        }
        c.result.overrides.push_back({it->substr(0, colon), it->substr(colon + 1)});
      }
    }
    // Per-command argument checks.
    uint64_t n;
    auto number = [&](size_t i) { return ParseNumber(args[i], &n); };
    if (c.op == "open") {
      for (size_t i = 2; i < args.size(); ++i) {
        if (!kFlags.count(args[i])) return fail(fmt::format("unknown open flag '{}'", args[i]));
      }
    } else if (c.op == "write" || c.op == "read") {
      if (!number(1) || !number(2)) return fail("offset and length must be numbers");
      if (!number(3) || n > 255) return fail(fmt::format("bad byte '{}'", args[3]));
      c.byte.base = args[3];
    } else if (c.op == "append") {
      if (!number(1)) return fail("length must be a number");
      if (!number(2) || n > 255) return fail(fmt::format("bad byte '{}'", args[2]));
    } else if (c.op == "sync_file_range") {
      if (!number(1) || !number(2)) return fail("offset and length must be numbers");
      std::istringstream f(args[3]);
      std::string flag;
      while (std::getline(f, flag, '|')) {
        if (flag != "wait_before" && flag != "write" && flag != "wait_after") {
          return fail(fmt::format("unknown sync_file_range flag '{}'", flag));
        }
      }
    } else if (c.op == "fail") {
      if (args[0] != "read" && args[0] != "write" && args[0] != "all") {
        return fail(fmt::format("fail: unknown operation '{}' (expected read, write or all)", args[0]));
      }
      size_t err_at;
      if (args[1] == "device") {
        err_at = 2;
      } else if (args[1] == "data") {
        if (args.size() < 3) return fail("fail ... data needs a PATH");
        err_at = 3;
      } else {
        return fail(fmt::format("fail: expected 'data PATH' or 'device', got '{}'", args[1]));
      }
      if (args.size() > err_at + 1) return fail("fail: too many arguments");
      if (args.size() == err_at + 1 && ErrnoFromName(args[err_at]) == 0) {
        return fail(fmt::format("fail: unknown errno '{}'", args[err_at]));
      }
    }
    c.args = std::move(args);
    sc.commands.push_back(std::move(c));
  }
  if (sc.name.empty()) {
    line_no = 1;
    return fail("missing 'name' header");
  }
  return sc;
}

Result<Scenario> LoadScenario(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseScenario(*text, path);
}

Result<std::vector<std::string>> FindScenarioFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    auto st = std::filesystem::status(p, ec);
    if (ec || !std::filesystem::exists(st)) {
      return Status::Error(-ENOENT, fmt::format("{}: no such file or directory", p));
    }
    if (std::filesystem::is_directory(st)) {
      std::vector<std::string> here;
      for (auto& e : std::filesystem::directory_iterator(p, ec)) {
        if (e.path().extension() == ".scn") here.push_back(e.path().string());
      }
      std::sort(here.begin(), here.end());
      out.insert(out.end(), here.begin(), here.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace errseq::conform

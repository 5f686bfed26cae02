// Scenario: one parsed `.scn` file (format: ../shared/scenarios/README.md). Parsing checks
// everything a runner would trip over later (unknown commands, argument counts, flags,
// numbers, profile and policy names) and reports "file:line: what".
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "errseq/core/status.h"

namespace errseq::conform {

// An expected result with per-profile/per-policy overrides ("EIO legacy:0 revert:EIO").
struct Expectation {
  std::string base = "0";  // "0", an errno name, "ERR", or for reads a byte value
  std::vector<std::pair<std::string, std::string>> overrides;
  // The value for one mode; the last matching override wins.
  const std::string& For(const std::string& profile, const std::string& policy) const;
};

struct Command {
  int line = 0;
  std::string text;  // the line as written, for messages
  std::string op;    // open, dup, close, write, append, read, fsync, ...
  std::vector<std::string> args;
  Expectation result;  // the call's result
  Expectation byte;    // read: the value every byte must have
};

struct Scenario {
  std::string file;
  std::string name;
  std::string about;
  std::vector<std::string> profiles{"errseq"};
  std::vector<std::string> policies{"clean"};
  bool kernel = true;
  std::vector<std::string> needs;
  std::vector<Command> commands;
};

Result<Scenario> ParseScenario(const std::string& text, const std::string& file_name);
Result<Scenario> LoadScenario(const std::string& path);
// Files named *.scn under each path (a file or a directory), sorted.
Result<std::vector<std::string>> FindScenarioFiles(const std::vector<std::string>& paths);

// "64k" -> 65536, "0x7c" -> 124; false on anything else.
bool ParseNumber(const std::string& s, uint64_t* out);

}  // namespace errseq::conform

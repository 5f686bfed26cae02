// Runner: runs a Scenario on a Target once per profile x policy pair, compares every result with
// the expectation for that mode and collects the mismatches; prints the table and writes JSON.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "scenario.h"
#include "target.h"

namespace errseq::conform {

struct Mismatch {
  int line;
  std::string command;
  std::string expected;
  std::string actual;
};

struct RunResult {
  std::string file;
  std::string scenario;
  Mode mode;
  enum class Outcome { kPass, kFail, kSkip } outcome = Outcome::kPass;
  std::string note;  // why skipped, or why it could not start
  std::vector<Mismatch> mismatches;
};

std::vector<RunResult> RunScenario(const Scenario& sc, Target& target);

// The table (scenario x mode), every mismatch with file:line, and "N passed, M failed".
void PrintReport(const std::vector<RunResult>& results, const std::string& target,
                 std::ostream& out);
std::string ReportJson(const std::vector<RunResult>& results, const std::string& target);

}  // namespace errseq::conform

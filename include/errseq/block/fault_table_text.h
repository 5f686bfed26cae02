// The text form of a fault table: one rule a line, read like a dmsetup table
// (docs/fault-tables.md has the grammar and examples):
//
//   # START  LENGTH  OP[,OP...]  ACTION [ARG]  [nth=N|from=N] [prob=P [seed=S]] [path=PATH]
//   0        *       write       error EIO
//   64k      64k     read        error ENOSPC  nth=3
//   0        *       flush       drop
//   0        *       all         delay 20ms    prob=0.25 seed=7
//
// The parser never crashes on any input: a malformed line is rejected with
// "line N: what is wrong", and nothing of the table is used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "errseq/block/fault_table.h"
#include "errseq/core/status.h"

namespace errseq::block {

inline constexpr size_t kMaxFaultRules = 4096;

// Parses a whole table. On error the Status is -EINVAL with "line N: ..." as its message.
Result<std::vector<FaultRule>> ParseFaultTable(std::string_view text);

// Reads and parses a file; messages start with the file name.
Result<std::vector<FaultRule>> LoadFaultTableFile(const std::string& path);

// The canonical text of one rule (ParseFaultTable(FormatFaultRule(r)) gives r back, but for
// its line number).
std::string FormatFaultRule(const FaultRule& rule);
std::string FormatFaultTable(const std::vector<FaultRule>& rules);

}  // namespace errseq::block

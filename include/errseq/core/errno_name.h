// errno values <-> their symbolic names ("EIO", "ENOSPC"), for fault tables, scenario files,
// messages and the event ledger. Backed by glibc's strerrorname_np, so every errno the C library
// knows is accepted and nothing is listed by hand.
#pragma once

#include <string>
#include <string_view>

namespace errseq {

// "EIO" for 5 or -5; "E4000" style text for a number glibc has no name for.
std::string ErrnoName(int err);

// The positive errno for a name such as "EIO" (case-sensitive, as in C), or for a decimal number
// 1..4095; 0 when the text is neither.
int ErrnoFromName(std::string_view name);

}  // namespace errseq

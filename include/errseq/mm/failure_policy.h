// FailurePolicy: what happens to a page whose writeback failed (SEMANTICS.md §5).
#pragma once

#include <optional>
#include <string_view>

namespace errseq::mm {

enum class FailurePolicy {
  kClean,      // Linux ext4/XFS: page left clean and uptodate; the data is lost on disk
  kKeepDirty,  // FreeBSD: page stays dirty and is retried by the next writeback
  kRevert,     // Btrfs: page dropped; size and contents go back to what is on disk
  kDelayed,    // ext4 data=journal: the error surfaces one sync call later
};

std::string_view PolicyName(FailurePolicy p);
std::optional<FailurePolicy> ParsePolicy(std::string_view name);

}  // namespace errseq::mm

// Policy names (see include/errseq/mm/failure_policy.h).
#include "errseq/mm/failure_policy.h"

namespace errseq::mm {

std::string_view PolicyName(FailurePolicy p) {
  switch (p) {
    case FailurePolicy::kClean: return "clean";
    case FailurePolicy::kKeepDirty: return "keep_dirty";
    case FailurePolicy::kRevert: return "revert";
    case FailurePolicy::kDelayed: return "delayed";
  }
  return "?";
}

std::optional<FailurePolicy> ParsePolicy(std::string_view name) {
  for (auto p : {FailurePolicy::kClean, FailurePolicy::kKeepDirty, FailurePolicy::kRevert,
                 FailurePolicy::kDelayed}) {
    if (PolicyName(p) == name) return p;
  }
  return std::nullopt;
}

}  // namespace errseq::mm

// Names of profiles and eviction modes (see include/errseq/vfs/options.h).
#include "errseq/vfs/options.h"

namespace errseq::vfs {

std::string_view ProfileName(Profile p) {
  switch (p) {
    case Profile::kErrseq: return "errseq";
    case Profile::kErrseq413: return "errseq-4.13";
    case Profile::kLegacy: return "legacy";
    case Profile::kSticky: return "sticky";
  }
  return "?";
}

std::optional<Profile> ParseProfile(std::string_view name) {
  for (auto p : {Profile::kErrseq, Profile::kErrseq413, Profile::kLegacy, Profile::kSticky}) {
    if (ProfileName(p) == name) return p;
  }
  return std::nullopt;
}

std::string_view EvictModeName(EvictMode m) { return m == EvictMode::kPin ? "pin" : "linux"; }

std::optional<EvictMode> ParseEvictMode(std::string_view name) {
  if (name == "pin") return EvictMode::kPin;
  if (name == "linux") return EvictMode::kLinux;
  return std::nullopt;
}

}  // namespace errseq::vfs

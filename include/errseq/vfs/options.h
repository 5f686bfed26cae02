// Mount options of a super block: the tracking profile (the seed's fs-type flag), the page
// failure policy, the eviction mode and the writeback tunables (SEMANTICS.md §4-§6).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

#include "errseq/mm/failure_policy.h"
#include "errseq/mm/writeback.h"

namespace errseq::vfs {

struct Event;  // ledger.h

enum class Profile {
  kErrseq,     // mainline: errseq, 4.17+ sample
  kErrseq413,  // errseq with the 4.13-4.16 sample (late openers miss unseen errors)
  kLegacy,     // pre-4.13: AS_EIO/AS_ENOSPC test-and-clear, first caller wins
  kSticky,     // overlayfs volatile: after any error every fsync/syncfs fails until remount
};

enum class EvictMode {
  kPin,    // an inode holding an unseen error stays in core until it is seen (default)
  kLinux,  // Linux: evicting the inode loses the unseen error
};

struct MountOptions {
  Profile profile = Profile::kErrseq;
  mm::FailurePolicy policy = mm::FailurePolicy::kClean;
  EvictMode evict = EvictMode::kPin;
  bool md_cursor = false;  // seed v5 per-file metadata cursor (needs a metadata mapping)
  mm::WritebackOptions writeback;
  size_t ledger_capacity = 65536;
  size_t inode_cache_limit = 100'000;  // unopened inodes kept in core
  // false: whole pages read but never written are not kept in the page cache (see
  // mm::Mapping::Options::cache_reads). errseqfs turns it off by default.
  bool cache_reads = true;
  // The largest readahead window in KiB; unset: the store's (FileSystem::ReadaheadKb, for a
  // directory its device's read_ahead_kb). 0: read only the pages asked for.
  std::optional<size_t> readahead_kb;
  // Called after every writeback error and every failed file-system sync is recorded in the
  // errseqs (just before it enters the ledger), on the thread that recorded it, with no lock
  // held: a front end mirrors super-block errors from here. Event::seq is not stamped yet.
  std::function<void(const Event&)> on_error;
};

std::string_view ProfileName(Profile p);
std::optional<Profile> ParseProfile(std::string_view name);
std::string_view EvictModeName(EvictMode m);
std::optional<EvictMode> ParseEvictMode(std::string_view name);

}  // namespace errseq::vfs

// MountInfo: facts about mounts read from /proc/self/mountinfo, so that nothing is asked of the
// (maybe not yet, or no longer, serving) FUSE file system itself.
#pragma once

#include <cstdint>
#include <string>

namespace errseq::fuse {

// The "MAJOR:MINOR" device of the topmost mount at `mountpoint` (absolute, as mountinfo shows
// it), or "" if there is none (or the path holds characters mountinfo escapes). It names the
// mount's bdi (/sys/class/bdi/MAJ:MIN) and its fusectl connection (/sys/fs/fuse/connections/MIN).
std::string MountDevice(const std::string& mountpoint);

// Whether the mount with this id (statx's stx_mnt_id) is still in this mount namespace. True
// when mountinfo cannot be read (cannot tell). `mountinfo_fd`, if given, is an open
// /proc/self/mountinfo to read from its start: a watcher that keeps one needs no new descriptor
// (out of descriptors, a new open would fail and the unmount would go unseen).
bool MountPresent(uint64_t mount_id, int mountinfo_fd = -1);

}  // namespace errseq::fuse

// MountDevice: the "MAJOR:MINOR" device number of the mount at a path, read from
// /proc/self/mountinfo, so that nothing is asked of the (maybe not yet, or no longer, serving)
// FUSE file system itself. It names the mount's bdi (/sys/class/bdi/MAJ:MIN) and its fusectl
// connection (/sys/fs/fuse/connections/MIN).
#pragma once

#include <string>

namespace errseq::fuse {

// The device of the topmost mount at `mountpoint` (absolute, as mountinfo shows it), or "" if
// there is none (or the path holds characters mountinfo escapes).
std::string MountDevice(const std::string& mountpoint);

}  // namespace errseq::fuse

// MountInfo (see include/errseq/fuse/mount_info.h).
#include "errseq/fuse/mount_info.h"

#include <sstream>

#include "errseq/core/read_file.h"

namespace errseq::fuse {
namespace {

struct MountLine {
  std::string id, parent, device, root, point;  // the first five fields
};

// Calls fn(line) for each mount, reading `fd` if it is given (an open /proc/self/mountinfo),
// else opening the file; false if mountinfo cannot be read.
template <class Fn>
bool ForEachMount(Fn&& fn, int fd = -1) {
  auto all = fd >= 0 ? ReadFd(fd) : ReadFile("/proc/self/mountinfo");
  if (!all.ok()) return false;
  std::istringstream in(*all);
  std::string text;
  while (std::getline(in, text)) {
    MountLine m;
    std::istringstream(text) >> m.id >> m.parent >> m.device >> m.root >> m.point;
    fn(m);
  }
  return true;
}

}  // namespace

std::string MountDevice(const std::string& mountpoint) {
  std::string dev;
  ForEachMount([&](const MountLine& m) {
    if (m.point == mountpoint) dev = m.device;  // the last one: the mount stacked on top
  });
  return dev;
}

bool MountPresent(uint64_t mount_id, int mountinfo_fd) {
  const std::string id = std::to_string(mount_id);
  bool found = false;
  if (!ForEachMount([&](const MountLine& m) { found = found || m.id == id; }, mountinfo_fd)) {
    return true;
  }
  return found;
}

}  // namespace errseq::fuse

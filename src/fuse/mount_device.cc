// MountDevice (see include/errseq/fuse/mount_device.h).
#include "errseq/fuse/mount_device.h"

#include <fstream>
#include <sstream>

namespace errseq::fuse {

std::string MountDevice(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, dev;
  while (std::getline(in, line)) {
    // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ..."
    std::istringstream f(line);
    std::string id, parent, majmin, root, point;
    f >> id >> parent >> majmin >> root >> point;
    if (point == mountpoint) dev = majmin;  // the last one: the mount stacked on top
  }
  return dev;
}

}  // namespace errseq::fuse

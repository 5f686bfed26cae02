// DeviceReadaheadKb (see include/errseq/fs/device_readahead.h).
#include "errseq/fs/device_readahead.h"

#include <sys/sysmacros.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "errseq/core/read_file.h"

namespace errseq::fs {

size_t DeviceReadaheadKb(dev_t dev, size_t fallback) {
  const unsigned maj = major(dev), min = minor(dev);
  for (const std::string& path :
       {fmt::format("/sys/class/bdi/{}:{}/read_ahead_kb", maj, min),
        fmt::format("/sys/dev/block/{}:{}/queue/read_ahead_kb", maj, min),
        fmt::format("/sys/dev/block/{}:{}/../queue/read_ahead_kb", maj, min)}) {
    auto text = ReadFile(path);
    size_t kb = 0;
    if (text.ok() && std::sscanf(text->c_str(), "%zu", &kb) == 1) return kb;
  }
  return fallback;
}

}  // namespace errseq::fs

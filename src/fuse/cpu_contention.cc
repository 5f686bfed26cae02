// CpuContention: every CPU busy or not, sampled from /proc/loadavg (see the header).
#include "errseq/fuse/cpu_contention.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace errseq::fuse {

CpuContention::CpuContention(unsigned cpus, std::chrono::milliseconds interval, unsigned calm)
    : fd_(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC)),
      cpus_(cpus == 0 ? 1 : cpus),
      interval_(interval),
      calm_needed_(calm == 0 ? 1 : calm) {}

CpuContention::~CpuContention() {
  if (fd_ >= 0) ::close(fd_);
}

bool CpuContention::Update() {
  if (fd_ < 0) return busy_;
  const Clock::time_point now = Clock::now();
  if (now < next_) return busy_;
  char buf[128];
  const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
  return Update(n > 0 ? Runnable(std::string_view(buf, static_cast<size_t>(n))) : -1, now);
}

bool CpuContention::Update(int runnable, Clock::time_point now) {
  next_ = now + interval_;
  if (runnable < 0) return busy_;
  // The count includes the thread asking: more than one per CPU means none is free.
  if (static_cast<unsigned>(runnable) > cpus_) {
    busy_ = true;
    calm_ = 0;
  } else if (busy_ && ++calm_ >= calm_needed_) {
    busy_ = false;
    calm_ = 0;
  }
  return busy_;
}

int CpuContention::Runnable(std::string_view loadavg) {
  // Three load averages, then RUNNABLE/TOTAL.
  size_t at = 0;
  for (int field = 0; field < 3; ++field) {
    at = loadavg.find(' ', at);
    if (at == std::string_view::npos) return -1;
    ++at;
  }
  const size_t slash = loadavg.find('/', at);
  if (slash == std::string_view::npos) return -1;
  int value = -1;
  auto [end, ec] = std::from_chars(loadavg.data() + at, loadavg.data() + slash, value);
  if (ec != std::errc() || end != loadavg.data() + slash) return -1;
  return value;
}

}  // namespace errseq::fuse

// CpuContention: every CPU busy, or this thread kept waiting for its own, sampled from
// /proc/loadavg and /proc/thread-self/schedstat (see the header).
#include "errseq/fuse/cpu_contention.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace errseq::fuse {
namespace {

// pread of a whole small /proc file at 0; empty if unreadable.
std::string_view ReadAt0(int fd, char* buf, size_t size) {
  if (fd < 0) return {};
  const ssize_t n = ::pread(fd, buf, size - 1, 0);
  return n > 0 ? std::string_view(buf, static_cast<size_t>(n)) : std::string_view();
}

}  // namespace

CpuContention::CpuContention(unsigned cpus, std::chrono::milliseconds interval, unsigned calm,
                             std::chrono::microseconds starved, std::chrono::milliseconds hold)
    : fd_(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC)),
      self_fd_(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)),
      cpus_(cpus == 0 ? 1 : cpus),
      interval_(interval),
      calm_needed_(calm == 0 ? 1 : calm),
      starved_ns_(std::chrono::nanoseconds(starved).count()),
      hold_(hold) {}

CpuContention::~CpuContention() {
  if (fd_ >= 0) ::close(fd_);
  if (self_fd_ >= 0) ::close(self_fd_);
}

bool CpuContention::Update() {
  if (fd_ < 0 && self_fd_ < 0) return busy_;
  const Clock::time_point now = Clock::now();
  if (now < next_) return busy_;
  Sample s;
  char buf[128];
  if (std::string_view text = ReadAt0(fd_, buf, sizeof buf); !text.empty()) {
    s.runnable = Runnable(text);
  }
  if (std::string_view text = ReadAt0(self_fd_, buf, sizeof buf);
      text.empty() || !ParseSchedstat(text, &s.wait_ns, &s.runs)) {
    s.wait_ns = -1;
  }
  return Update(s, now);
}

bool CpuContention::Update(const Sample& s, Clock::time_point now) {
  next_ = now + interval_;
  bool starved = false;
  if (s.wait_ns >= 0) {
    if (last_wait_ns_ >= 0 && s.runs > last_runs_ && s.wait_ns >= last_wait_ns_) {
      starved = (s.wait_ns - last_wait_ns_) / (s.runs - last_runs_) >= starved_ns_;
    }
    last_wait_ns_ = s.wait_ns;
    last_runs_ = s.runs;
  }
  // The count includes the thread asking: more than one per CPU means none is free.
  const bool crowded = s.runnable >= 0 && static_cast<unsigned>(s.runnable) > cpus_;
  if (starved || crowded) {
    busy_ = true;
    calm_ = 0;
    if (starved) hold_until_ = now + hold_;
  } else if (s.runnable >= 0 || s.wait_ns >= 0) {
    if (busy_ && now >= hold_until_ && ++calm_ >= calm_needed_) {
      busy_ = false;
      calm_ = 0;
    }
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

bool CpuContention::ParseSchedstat(std::string_view text, int64_t* wait_ns, int64_t* runs) {
  int64_t v[3];
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    while (p < end && *p == ' ') ++p;
    auto [next, ec] = std::from_chars(p, end, v[i]);
    if (ec != std::errc() || v[i] < 0) return false;
    p = next;
  }
  *wait_ns = v[1];
  *runs = v[2];
  return true;
}

}  // namespace errseq::fuse

// ReadFile (see include/errseq/core/read_file.h).
#include "errseq/core/read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace errseq {

Result<std::string> ReadFd(int fd) {
  std::string out;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Error(-errno);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    at += n;
  }
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::FromErrno(e, fmt::format("{}: cannot read: {}", path, strerror(e)));
  }
  auto out = ReadFd(fd);
  ::close(fd);
  if (!out.ok()) {
    const int e = -out.err();
    return Status::FromErrno(e, fmt::format("{}: cannot read: {}", path, strerror(e)));
  }
  return out;
}

}  // namespace errseq

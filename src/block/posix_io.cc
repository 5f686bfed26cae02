// Whole preadv/pwritev transfers (see include/errseq/block/posix_io.h).
#include "errseq/block/posix_io.h"

#include <climits>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace errseq::block {
namespace {

// Moves all of `iov`; returns bytes moved, stopping early at EOF only if `allow_eof`.
template <class Fn>
Result<uint64_t> TransferAll(Fn&& op, uint64_t offset, std::span<const iovec> iov_in,
                             bool allow_eof) {
  uint64_t total = 0;
  for (const iovec& v : iov_in) total += v.iov_len;
  if (total == 0) return uint64_t{0};
  // Fast path: one call moves everything (the usual case), no copy of the iovec array.
  ssize_t first_n = -1;
  if (iov_in.size() <= IOV_MAX) {
    first_n = op(iov_in.data(), static_cast<int>(iov_in.size()), static_cast<off_t>(offset));
    if (first_n == static_cast<ssize_t>(total)) return total;
    if (first_n < 0 && errno != EINTR) return Status::Error(-errno);
    if (first_n == 0) return allow_eof ? Result<uint64_t>(uint64_t{0}) : Status::Error(-EIO);
  }
  // Slow path: a short transfer (or EINTR, or more than IOV_MAX pieces); resume where it ended.
  std::vector<iovec> iov(iov_in.begin(), iov_in.end());
  size_t first = 0;
  uint64_t moved = 0;
  auto advance = [&](size_t done) {
    offset += done;
    moved += done;
    while (done > 0 && first < iov.size()) {
      size_t take = std::min(done, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      done -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  };
  if (first_n > 0) advance(static_cast<size_t>(first_n));
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    int cnt = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t n = op(&iov[first], cnt, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(-errno);
    }
    if (n == 0) {
      if (allow_eof) return moved;
      return Status::Error(-EIO);
    }
    advance(static_cast<size_t>(n));
  }
  return moved;
}

}  // namespace

Status PwritevAll(int fd, uint64_t offset, std::span<const iovec> iov) {
  auto r = TransferAll([fd](const iovec* v, int n, off_t o) { return ::pwritev(fd, v, n, o); },
                       offset, iov, false);
  return r.status();
}

Result<uint64_t> PreadvAll(int fd, uint64_t offset, std::span<const iovec> iov, bool allow_eof) {
  return TransferAll([fd](const iovec* v, int n, off_t o) { return ::preadv(fd, v, n, o); },
                     offset, iov, allow_eof);
}

}  // namespace errseq::block

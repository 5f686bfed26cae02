// DirectWriter: writes many separate runs of one host file at once, with O_DIRECT through
// io_uring, and waits for all of them. Why: an fsync that writes back scattered pages (random
// overwrites) otherwise copies each page into the host's page cache one pwritev at a time, and
// the host's fsync then writes them to the disk; submitted together as direct I/O the disk
// writes them in parallel, and the host's fsync is left with little more than its cache flush
// (docs/benchmarks.md, "fsync writes with direct I/O").
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>

#include "errseq/core/status.h"

namespace errseq::block {

// One run to write: `iov` at `offset`. Every piece of it (and `offset`) aligned to 4 KiB, each
// length a multiple of 4 KiB. `result` is the outcome.
struct DirectRun {
  uint64_t offset = 0;
  std::span<const iovec> iov;
  Status result;
};

class DirectWriter {
 public:
  // A second, O_DIRECT description of the file `fd` refers to (reopened through /proc/self/fd),
  // when its file system takes direct I/O in 4 KiB units. -EOPNOTSUPP when it does not, or the
  // error of the reopen. `fd` stays the caller's and must outlive the writer.
  static Result<std::unique_ptr<DirectWriter>> ForFile(int fd);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  // Writes every run and sets its result: OK, or the errno its write failed with. A run direct
  // I/O does not take (EINVAL, EOPNOTSUPP) and the rest of a short write are written through
  // `fd` instead (the host's page cache), once none of this call's direct writes is in flight,
  // so the bytes land either way; so does everything when no io_uring can be had. The caller
  // must not write the file through its page cache while this runs (see the .cc: the kernel
  // reports EIO on the file when a direct write meets a page a buffered write dirtied).
  // Thread-safe: each call has a ring of its own while it runs.
  void WriteAll(std::span<DirectRun> runs);

 private:
  DirectWriter(int fd, int direct_fd) : fd_(fd), direct_fd_(direct_fd) {}
  Status Buffered(const DirectRun& run, uint64_t done) const;

  const int fd_;         // the caller's (buffered) description
  const int direct_fd_;  // ours, O_DIRECT
};

}  // namespace errseq::block

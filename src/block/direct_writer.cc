// DirectWriter (see include/errseq/block/direct_writer.h).
#include "errseq/block/direct_writer.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "errseq/block/posix_io.h"

namespace errseq::block {
namespace {

constexpr unsigned kDepth = 64;      // runs in flight at once
constexpr uint32_t kUnit = 4096;     // what every run is aligned to

// This thread's ring, made on first use. Unusable (nullptr from Get) where the kernel refuses
// one (io_uring disabled), and after a ring error: not asked again by this thread.
class ThreadRing {
 public:
  ~ThreadRing() { Drop(); }
  io_uring* Get() {
    if (!tried_) {
      tried_ = true;
      ok_ = io_uring_queue_init(kDepth, &ring_, 0) == 0;
    }
    return ok_ ? &ring_ : nullptr;
  }
  void Drop() {
    if (ok_) io_uring_queue_exit(&ring_);
    ok_ = false;
  }

 private:
  io_uring ring_{};
  bool tried_ = false, ok_ = false;
};

thread_local ThreadRing t_ring;

uint64_t Length(std::span<const iovec> iov) {
  uint64_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

}  // namespace

Result<std::unique_ptr<DirectWriter>> DirectWriter::ForFile(int fd) {
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0) return Status::Error(-errno);
  // 0: the file system does not say it takes direct I/O (tmpfs on older kernels, FUSE, ...).
  if (!(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_mem_align == 0 ||
      stx.stx_dio_offset_align == 0 || kUnit % stx.stx_dio_mem_align != 0 ||
      kUnit % stx.stx_dio_offset_align != 0) {
    return Status::Error(-EOPNOTSUPP);
  }
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  int dfd = ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (dfd < 0) return Status::Error(-errno);
  return std::unique_ptr<DirectWriter>(new DirectWriter(fd, dfd));
}

DirectWriter::~DirectWriter() { ::close(direct_fd_); }

// The run from byte `done` on, through the caller's description.
Status DirectWriter::Buffered(const DirectRun& run, uint64_t done) const {
  std::vector<iovec> rest;
  uint64_t skip = done;
  for (const iovec& v : run.iov) {
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    rest.push_back({static_cast<char*>(v.iov_base) + skip, v.iov_len - skip});
    skip = 0;
  }
  return PwritevAll(fd_, run.offset + done, rest);
}

void DirectWriter::WriteAll(std::span<DirectRun> runs) {
  io_uring* ring = t_ring.Get();
  size_t next = 0;      // runs[next..] not handed to the ring yet
  size_t inflight = 0;  // handed to the ring, no completion seen
  auto reap = [&](io_uring_cqe* cqe) {
    DirectRun& r = runs[io_uring_cqe_get_data64(cqe)];
    const int res = cqe->res;
    const uint64_t want = Length(r.iov);
    if (res >= 0 && static_cast<uint64_t>(res) == want) {
      r.result = Status::Ok();
    } else if (res == -EINVAL || res == -EOPNOTSUPP || res == -EINTR || res == -EAGAIN) {
      r.result = Buffered(r, 0);
    } else if (res > 0) {
      r.result = Buffered(r, static_cast<uint64_t>(res));  // short: the rest through the cache
    } else {
      r.result = Status::Error(res == 0 ? -EIO : res);
    }
    --inflight;
  };
  while (ring != nullptr && (next < runs.size() || inflight > 0)) {
    while (next < runs.size() && inflight < kDepth) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (sqe == nullptr) break;
      const DirectRun& r = runs[next];
      io_uring_prep_writev(sqe, direct_fd_, r.iov.data(), static_cast<unsigned>(r.iov.size()),
                           r.offset);
      io_uring_sqe_set_data64(sqe, next);
      ++next;
      ++inflight;
    }
    int rc = io_uring_submit_and_wait(ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      // The ring itself failed (not one write). What it took is in flight and writes from
      // memory the caller frees once this returns: wait for it, then drop the ring, with what
      // it never took (still queued in it), and write everything unfinished the buffered way.
      const size_t queued = io_uring_sq_ready(ring);
      std::fprintf(stderr, "errseq: io_uring for direct writes failed (%s); writing through the "
                           "page cache instead\n", strerror(-rc));
      while (inflight > queued) {
        io_uring_cqe* cqe = nullptr;
        int w = io_uring_wait_cqe(ring, &cqe);
        if (w == -EINTR) continue;
        if (w < 0) {
          std::fprintf(stderr, "errseq: cannot wait for direct writes in flight (%s)\n",
                       strerror(-w));
          std::abort();  // returning would free pages the disk may still be reading
        }
        reap(cqe);
        io_uring_cqe_seen(ring, cqe);
      }
      t_ring.Drop();
      // Runs queued but never taken: their results are still unset (OK by default), so write
      // every run whose completion was not seen.
      for (size_t i = next - queued; i < next; ++i) runs[i].result = Buffered(runs[i], 0);
      inflight = 0;
      ring = nullptr;
      break;
    }
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      reap(cqe);
      ++seen;
    }
    io_uring_cq_advance(ring, seen);
  }
  // No ring (or it failed): the rest through the page cache, one run after the other.
  for (; next < runs.size(); ++next) runs[next].result = Buffered(runs[next], 0);
}

}  // namespace errseq::block

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
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errseq/block/posix_io.h"

namespace errseq::block {
namespace {

constexpr unsigned kDepth = 64;      // runs in flight at once
constexpr uint32_t kUnit = 4096;     // what every run is aligned to

// Rings for direct writes, shared by all threads: a WriteAll takes one to itself and puts it
// back (mu_ hands it over). None is destroyed while the process runs: liburing maps a ring's
// memory with its own system calls, which ThreadSanitizer does not see, so a new ring at the
// addresses of a destroyed one would look like a race (per-thread rings, destroyed when their
// thread ended, did). The pool itself is never destroyed either: threads may still write at
// exit; the kernel frees the rings with the process.
class RingPool {
 public:
  static RingPool& Get() {
    static RingPool* const pool = new RingPool;
    return *pool;
  }
  // A ring of the caller's own until Put or Drop; nullptr where the kernel refuses one
  // (io_uring disabled), and from then on.
  io_uring* Take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        io_uring* r = free_.back();
        free_.pop_back();
        return r;
      }
      if (refused_) return nullptr;
    }
    auto r = std::make_unique<io_uring>();
    const bool ok = io_uring_queue_init(kDepth, r.get(), 0) == 0;
    std::lock_guard lock(mu_);
    if (!ok) {
      refused_ = true;
      return nullptr;
    }
    all_.push_back(std::move(r));
    return all_.back().get();
  }
  void Put(io_uring* r) {
    std::lock_guard lock(mu_);
    free_.push_back(r);
  }
  // A ring that failed: closed, never handed out again (it may hold entries it never took).
  void Drop(io_uring* r) { io_uring_queue_exit(r); }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<io_uring>> all_;  // GUARDED_BY(mu_): every ring made
  std::vector<io_uring*> free_;                 // GUARDED_BY(mu_): not taken now
  bool refused_ = false;                        // GUARDED_BY(mu_)
};

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
  io_uring* ring = RingPool::Get().Take();
  size_t next = 0;      // runs[next..] not handed to the ring yet
  size_t inflight = 0;  // handed to the ring, no completion seen
  // Runs (and from which byte) to write through the page cache once no direct write of this
  // call is in flight: a buffered write can make the host cache a page a direct write in flight
  // is changing on the disk, and the kernel then reports EIO on the file (its direct write
  // cannot drop that page afterwards: dio_warn_stale_pagecache), a false error at our fsync.
  std::vector<std::pair<size_t, uint64_t>> redo;
  auto reap = [&](io_uring_cqe* cqe) {
    const size_t i = io_uring_cqe_get_data64(cqe);
    DirectRun& r = runs[i];
    const int res = cqe->res;
    const uint64_t want = Length(r.iov);
    if (res >= 0 && static_cast<uint64_t>(res) == want) {
      r.result = Status::Ok();
    } else if (res == -EINVAL || res == -EOPNOTSUPP || res == -EINTR || res == -EAGAIN) {
      redo.emplace_back(i, 0);
    } else if (res > 0) {
      redo.emplace_back(i, static_cast<uint64_t>(res));  // short: the rest through the cache
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
      RingPool::Get().Drop(ring);
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
  if (ring != nullptr) RingPool::Get().Put(ring);
  // Nothing of this call is in flight now.
  for (const auto& [i, done] : redo) runs[i].result = Buffered(runs[i], done);
  // No ring (or it failed): the rest through the page cache, one run after the other.
  for (; next < runs.size(); ++next) runs[next].result = Buffered(runs[next], 0);
}

}  // namespace errseq::block

// SessionLoop (see include/errseq/fuse/session_loop.h).
#define FUSE_USE_VERSION 312
#include "errseq/fuse/session_loop.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace errseq::fuse {
namespace {

using Clock = std::chrono::steady_clock;

// Receive's answer when the watchdog gave the lead to another thread meanwhile.
constexpr int kLostLead = INT_MIN;

}  // namespace

SessionLoop::SessionLoop(fuse_session* se, Options options)
    : se_(se),
      options_([&] {
        if (options.threads == 0) options.threads = 1;
        return options;
      }()),
      spin_us_(options_.spin_us),
      busy_(std::make_unique<std::atomic<uint64_t>[]>(options_.threads)) {}

bool SessionLoop::Quick(uint32_t opcode) {
  switch (opcode) {
    case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR:
    case FUSE_READLINK: case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR:
    case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME: case FUSE_RENAME2: case FUSE_LINK:
    case FUSE_OPEN: case FUSE_CREATE: case FUSE_READ: case FUSE_WRITE: case FUSE_STATFS:
    case FUSE_FLUSH: case FUSE_RELEASE: case FUSE_OPENDIR: case FUSE_READDIR:
    case FUSE_READDIRPLUS: case FUSE_RELEASEDIR: case FUSE_ACCESS: case FUSE_INTERRUPT:
    case FUSE_LSEEK:
      return true;
    default:  // FSYNC, FSYNCDIR, SETATTR (a time change writes the file back), INIT, ...
      return false;
  }
}

int SessionLoop::Run() {
  fd_ = fuse_session_fd(se_);
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int err = errno;
    ::fcntl(fd_, F_SETFL, flags);
    return -err;
  }
  // The loop's threads take no signals: libfuse's handlers (SIGINT, SIGTERM, SIGHUP) run in
  // the thread that called Run or in another thread of the process, and end the session.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (unsigned i = 0; i < options_.threads; ++i) threads_.emplace_back(&SessionLoop::Worker, this, i);
  threads_.emplace_back(&SessionLoop::Watchdog, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      // A signal handler only sets the session's exit flag: look at it now and then.
      stopped_cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (!stopping_ && fuse_session_exited(se_)) {
        lock.unlock();
        Stop(0);
        lock.lock();
      }
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  ::close(wake_fd_);
  wake_fd_ = -1;
  ::fcntl(fd_, F_SETFL, flags);
  return error_;
}

void SessionLoop::Stop(int err) {
  {
    std::lock_guard lock(mu_);
    if (err < 0 && error_ == 0) error_ = err;
    if (stopping_) return;
    stopping_ = true;
  }
  fuse_session_exit(se_);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);  // stays readable
  lead_free_.notify_all();
  watch_.notify_all();
  stopped_cv_.notify_all();
}

int SessionLoop::Receive(fuse_buf* buf, uint64_t my_term) {
  const unsigned spin_us = spin_us_.load(std::memory_order_relaxed);
  const auto spin = std::chrono::microseconds(spin_us);
  auto spin_end = Clock::now() + spin;
  for (;;) {
    const int res = fuse_session_receive_buf(se_, buf);
    if (res != -EAGAIN) return res;
    if (fuse_session_exited(se_)) return 0;
    if (term_.load(std::memory_order_acquire) != my_term) return kLostLead;
    if (spin_us != 0 && Clock::now() < spin_end) continue;
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return -errno;
    if (p[1].revents != 0) return 0;  // stopping
    spin_end = Clock::now() + spin;
  }
}

void SessionLoop::Worker(unsigned slot) {
  std::atomic<uint64_t>& busy = busy_[slot];
  fuse_buf buf{};  // libfuse allocates buf.mem on the first receive
  std::unique_lock lock(mu_);
  while (true) {
    // A follower: wait for the lead.
    lead_free_.wait(lock, [&] { return stopping_ || term_.load(std::memory_order_relaxed) == 0; });
    if (stopping_) break;
    const uint64_t my_term = ++terms_;
    term_.store(my_term, std::memory_order_release);
    lock.unlock();
    // The leader, until it hands the lead on or loses it.
    while (true) {
      const int res = Receive(&buf, my_term);
      if (res == kLostLead) break;
      if (res == -EINTR) continue;  // an interrupted request, or a signal
      if (res <= 0) {
        Stop(res);
        break;
      }
      const bool quick = (buf.flags & FUSE_BUF_IS_FD) == 0 &&
                         buf.size >= sizeof(fuse_in_header) &&
                         Quick(static_cast<const fuse_in_header*>(buf.mem)->opcode);
      if (!quick) {
        {
          std::lock_guard l(mu_);
          if (term_.load(std::memory_order_relaxed) == my_term) term_.store(0, std::memory_order_release);
        }
        lead_free_.notify_one();
        fuse_session_process_buf(se_, &buf);
        break;
      }
      begun_.fetch_add(1);
      busy.store(my_term);
      if (watchdog_asleep_.load()) {  // after 100 idle ticks; see Watchdog
        std::lock_guard l(mu_);
        watchdog_asleep_.store(false);
        watch_.notify_one();
      }
      fuse_session_process_buf(se_, &buf);
      busy.store(0);
      if (term_.load(std::memory_order_acquire) != my_term) break;  // the watchdog took it
    }
    lock.lock();
  }
  lock.unlock();
  std::free(buf.mem);
}

bool SessionLoop::Busy(uint64_t term) const {
  for (unsigned i = 0; i < options_.threads; ++i) {
    const uint64_t b = busy_[i].load();
    if (term == 0 ? b != 0 : b == term) return true;
  }
  return false;
}

void SessionLoop::Watchdog() {
  std::unique_lock lock(mu_);
  uint64_t seen = begun_.load(std::memory_order_relaxed);
  unsigned idle_ticks = 0;
  while (!stopping_) {
    watch_.wait_for(lock, options_.handoff_after);
    if (stopping_) break;
    const uint64_t begun = begun_.load();
    const uint64_t term = term_.load();
    if (term != 0 && begun == seen && Busy(term)) {
      // The leader has been in the same quick request for a whole tick: let another thread
      // read meanwhile. (A thread that lost the lead marks its slot with its old term, so it
      // is never taken for the leader.)
      term_.store(0);
      lead_free_.notify_one();
    }
    // Nothing begun for a while: sleep until a leader begins a quick request.
    // (seq_cst with the worker's store into its slot and load of watchdog_asleep_: either
    // the worker sees this one asleep and wakes it, or this one sees the worker busy.)
    if (begun == seen && !Busy(0)) {
      if (++idle_ticks >= 100) {
        watchdog_asleep_.store(true);
        if (!Busy(0) && begun_.load() == seen) {
          watch_.wait(lock, [&] { return stopping_ || !watchdog_asleep_.load(); });
        }
        watchdog_asleep_.store(false);
        idle_ticks = 0;
      }
    } else {
      idle_ticks = 0;
    }
    seen = begun_.load(std::memory_order_relaxed);
  }
}

}  // namespace errseq::fuse

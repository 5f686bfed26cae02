// UringChannel (see include/errseq/fuse/uring_channel.h).
#define FUSE_USE_VERSION 312
#include "errseq/fuse/uring_channel.h"

#include <fmt/format.h>
#include <fuse3/fuse_lowlevel.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "errseq/fuse/cpu_contention.h"
#include "errseq/fuse/session_loop.h"

namespace errseq::fuse {
namespace {

// The FUSE-over-io-uring ABI (protocol 7.42, Linux 6.14's include/uapi/linux/fuse.h); Debian
// 12's kernel headers predate it.
constexpr uint64_t kFuseOverIoUring = 1ULL << 41;  // FUSE_INIT flag
constexpr uint32_t kCmdRegister = 1;               // FUSE_IO_URING_CMD_REGISTER
constexpr uint32_t kCmdCommitAndFetch = 2;         // FUSE_IO_URING_CMD_COMMIT_AND_FETCH
constexpr size_t kOpInSize = 128;                  // FUSE_URING_OP_IN_OUT_SZ

struct UringEntInOut {  // struct fuse_uring_ent_in_out
  uint64_t flags;
  uint64_t commit_id;   // the request's unique, echoed in the commit
  uint32_t payload_sz;  // bytes valid in the payload buffer, either way
  uint32_t padding;
  uint64_t reserved;
};

struct UringReqHeader {   // struct fuse_uring_req_header
  char in_out[128];       // fuse_in_header on fetch, fuse_out_header on commit
  char op_in[kOpInSize];  // the request's first argument (its per-opcode header)
  UringEntInOut ent;
};

struct UringCmdReq {  // struct fuse_uring_cmd_req, in the SQE's 80-byte command area
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};

static_assert(sizeof(UringReqHeader) == 288);
static_assert(sizeof(UringCmdReq) <= 80);

constexpr size_t kPage = 4096;
// Room in front of each payload buffer for the request's header and first argument, so the
// message libfuse reads is contiguous without copying the payload.
constexpr size_t kFront = kPage;
constexpr uint64_t kEventTag = 0;       // user_data of the eventfd read; entries are never null
constexpr uint32_t kLarge = 128 << 10;  // READs this large go to the workers; see Serve

std::atomic<UringChannel*> g_channel{nullptr};

// The kernel keeps a queue per possible CPU (numbered by CPU id) and uses the rings only once
// every one has an entry: the highest id in /sys/devices/system/cpu/possible, plus one.
long PossibleCpus() {
  std::ifstream f("/sys/devices/system/cpu/possible");
  std::string s;
  if (f >> s && !s.empty()) {
    const size_t cut = s.find_last_of("-,");
    const long last =
        std::strtol(s.c_str() + (cut == std::string::npos ? 0 : cut + 1), nullptr, 10);
    if (last >= 0) return last + 1;
  }
  return std::max(::sysconf(_SC_NPROCESSORS_CONF), 1L);
}

}  // namespace

struct UringChannel::Entry {
  Queue* q = nullptr;
  UringReqHeader* hdr = nullptr;  // page-aligned
  char* mem = nullptr;            // kFront + payload size, mmap'd
  char* payload = nullptr;        // mem + kFront
  iovec iov[2]{};
  uint32_t last_cmd = 0;
  uint64_t unique = 0;  // of the request it holds
  fuse_buf buf{};       // the request as libfuse reads it
  bool gone = false;    // the kernel has returned it (the connection ended)
};

struct UringChannel::Queue {
  unsigned qid = 0;
  io_uring ring{};
  int event_fd = -1;
  uint64_t event_buf = 0;
  std::vector<Entry> entries;
  unsigned gone = 0;
  unsigned at_workers = 0;  // entries whose requests workers are serving
  bool idle = false;        // the thread runs under SCHED_IDLE
  bool cpus_busy = false;   // no CPU is free (CpuContention): the thread stays at normal priority
  std::thread thread;
  std::mutex mu;
  std::condition_variable sent_cv;  // workers wait here until their answer is sent
  std::vector<Entry*> done;         // GUARDED_BY(mu): answered by workers, to be committed
  uint64_t queued = 0;              // GUARDED_BY(mu): answers workers have put on `done`
  uint64_t sent = 0;                // GUARDED_BY(mu): of those, the ones submitted to the kernel
  bool closed = false;              // GUARDED_BY(mu): the thread has left its loop
};

thread_local UringChannel::Entry* UringChannel::tls_entry_ = nullptr;
thread_local UringChannel::Queue* UringChannel::tls_queue_ = nullptr;

std::string UringChannel::Unavailable() {
  std::ifstream f("/sys/module/fuse/parameters/enable_uring");
  if (!f)
    return "this kernel has no FUSE-over-io-uring (Linux 6.14 or later, CONFIG_FUSE_IO_URING)";
  std::string v;
  f >> v;
  if (v != "Y" && v != "1") {
    return "the fuse module's enable_uring parameter is off "
           "(as root: echo Y > /sys/module/fuse/parameters/enable_uring)";
  }
  return "";
}

UringChannel::UringChannel(fuse_session* se, Options options)
    : se_(se), options_(std::move(options)), fd_(fuse_session_fd(se)) {}

Result<std::unique_ptr<UringChannel>> UringChannel::Attach(fuse_session* se, Options options) {
  if (options.depth == 0) options.depth = 1;
  if (options.workers == 0) options.workers = 1;
  std::unique_ptr<UringChannel> ch(new UringChannel(se, std::move(options)));
  UringChannel* expected = nullptr;
  if (!g_channel.compare_exchange_strong(expected, ch.get())) {
    return Status::Error(-EBUSY, "one io_uring channel per process");
  }
  static const fuse_custom_io kIo = {
      .writev = &UringChannel::HookWritev,
      .read = &UringChannel::HookRead,
      .splice_receive = nullptr,
      .splice_send = &UringChannel::HookSpliceSend,
  };
  if (int rc = fuse_session_custom_io(se, &kIo, ch->fd_); rc != 0) {
    g_channel.store(nullptr);
    return Status::Error(rc < 0 ? rc : -EIO, "cannot hook the FUSE session's device I/O");
  }
  const long cpus = PossibleCpus();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (long i = 0; i < cpus; ++i) {
    auto q = std::make_unique<Queue>();
    q->qid = static_cast<unsigned>(i);
    q->event_fd = ::eventfd(0, EFD_CLOEXEC);
    if (q->event_fd < 0) {
      const int err = errno;
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return Status::Error(-err, "eventfd for an io_uring queue");  // ~UringChannel cleans up
    }
    ch->queues_.push_back(std::move(q));
  }
  for (auto& q : ch->queues_) q->thread = std::thread(&UringChannel::RunQueue, ch.get(), q.get());
  for (unsigned i = 0; i < ch->options_.workers; ++i)
    ch->workers_.emplace_back(&UringChannel::Worker, ch.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ch;
}

UringChannel::~UringChannel() {
  Stop();
  for (auto& q : queues_) {
    for (Entry& e : q->entries) {
      if (e.hdr) ::munmap(e.hdr, kPage);
      if (e.mem) ::munmap(e.mem, kFront + payload_size_);
    }
    if (q->event_fd >= 0) ::close(q->event_fd);
  }
  UringChannel* self = this;
  g_channel.compare_exchange_strong(self, nullptr);
}

void UringChannel::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  for (auto& q : queues_) {
    const uint64_t one = 1;
    if (q->event_fd >= 0) [[maybe_unused]]
      ssize_t n = ::write(q->event_fd, &one, sizeof one);
    if (q->thread.joinable()) q->thread.join();
  }
}

UringChannel::State UringChannel::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::string UringChannel::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void UringChannel::Fail(const std::string& why) {
  bool first = false;  // on_ready(false) not called yet (it may have said true)
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kFailed) {
      first = true;
      state_ = State::kFailed;
      failure_ = why;
    }
  }
  std::fprintf(stderr, "errseqfs: io_uring: %s%s\n", why.c_str(),
               options_.required ? "" : "; requests go through /dev/fuse");
  if (options_.required) fuse_session_exit(se_);
  if (first && options_.on_ready) options_.on_ready(false);
}

// --- the hooks ---------------------------------------------------------------------------

ssize_t UringChannel::HookRead(int fd, void* buf, size_t len, void*) {
  const ssize_t n = ::read(fd, buf, len);
  if (n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
    const auto* in = static_cast<const fuse_in_header*>(buf);
    if (in->opcode == FUSE_INIT) {
      if (UringChannel* ch = g_channel.load(std::memory_order_acquire)) ch->NoteInit(buf, n);
    }
  }
  return n;
}

void UringChannel::NoteInit(const void* msg, size_t len) {
  const auto* in = static_cast<const fuse_in_header*>(msg);
  bool offered = false;
  if (len >= sizeof(fuse_in_header) + sizeof(fuse_init_in)) {
    fuse_init_in arg;
    std::memcpy(&arg, static_cast<const char*>(msg) + sizeof(fuse_in_header), sizeof arg);
    const uint64_t flags =
        arg.flags | ((arg.flags & FUSE_INIT_EXT) ? uint64_t{arg.flags2} << 32 : 0);
    offered = (flags & kFuseOverIoUring) != 0;
  }
  offered_.store(offered, std::memory_order_relaxed);
  init_unique_.store(in->unique, std::memory_order_release);
}

ssize_t UringChannel::HookWritev(int fd, struct iovec* iov, int count, void*) {
  UringChannel* ch = g_channel.load(std::memory_order_acquire);
  if (ch != nullptr && count >= 1 && iov[0].iov_len >= sizeof(fuse_out_header)) {
    const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
    if (Entry* e = tls_entry_; e != nullptr && out->unique == e->unique) {
      size_t len = 0;
      for (int i = 1; i < count; ++i) len += iov[i].iov_len;
      if (len > ch->payload_size_) return ch->AnswerEio(e);
      char* p = e->payload;
      for (int i = 1; i < count; ++i) {
        std::memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
      }
      ch->Answer(e, out->error, len);
      return static_cast<ssize_t>(sizeof(fuse_out_header) + len);
    }
    if (out->unique != 0 && out->unique == ch->init_unique_.load(std::memory_order_acquire)) {
      return ch->WriteInitReply(fd, iov, count);
    }
  }
  return ::writev(fd, iov, count);
}

ssize_t UringChannel::HookSpliceSend(int fdin, off_t* offin, int fdout, off_t* offout, size_t len,
                                     unsigned int flags, void*) {
  UringChannel* ch = g_channel.load(std::memory_order_acquire);
  Entry* e = tls_entry_;
  if (ch == nullptr || e == nullptr) return ::splice(fdin, offin, fdout, offout, len, flags);
  // The pipe holds this entry's reply, its header first: read it into the ring's buffers.
  fuse_out_header out{};
  size_t got = 0;
  while (got < sizeof out) {
    const ssize_t n = ::read(fdin, reinterpret_cast<char*>(&out) + got, sizeof out - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  const size_t want = len >= sizeof out ? len - sizeof out : 0;
  if (got != sizeof out || out.unique != e->unique || want > ch->payload_size_) {
    return ch->AnswerEio(e);
  }
  size_t have = 0;
  while (have < want) {
    const ssize_t n = ::read(fdin, e->payload + have, want - have);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  if (have != want) return ch->AnswerEio(e);
  ch->Answer(e, out.error, want);
  return static_cast<ssize_t>(len);
}

ssize_t UringChannel::WriteInitReply(int fd, struct iovec* iov, int count) {
  const bool offered = offered_.load(std::memory_order_relaxed);
  fuse_init_out arg{};
  const bool full = count == 2 && iov[1].iov_len >= sizeof arg;
  if (!offered || !full) {
    const ssize_t res = ::writev(fd, iov, count);
    {
      std::lock_guard lock(mu_);
      if (state_ == State::kWaitingForInit) state_ = State::kNotOffered;
    }
    if (options_.required) {
      Fail(!offered ? "the kernel did not offer io_uring at FUSE_INIT (" + Unavailable() + ")"
                    : "libfuse's FUSE_INIT reply has no flags2");
    } else if (options_.on_ready) {
      options_.on_ready(false);
    }
    return res;
  }
  std::memcpy(&arg, iov[1].iov_base, sizeof arg);
  arg.flags |= FUSE_INIT_EXT;
  arg.flags2 |= static_cast<uint32_t>(kFuseOverIoUring >> 32);
  iovec v[2] = {iov[0], {&arg, iov[1].iov_len}};
  std::vector<char> copy;  // the rest of a longer reply, unchanged
  if (iov[1].iov_len > sizeof arg) {
    copy.assign(static_cast<const char*>(iov[1].iov_base),
                static_cast<const char*>(iov[1].iov_base) + iov[1].iov_len);
    std::memcpy(copy.data(), &arg, sizeof arg);
    v[1].iov_base = copy.data();
  }
  const ssize_t res = ::writev(fd, v, 2);
  if (res < 0) {
    const int err = errno;
    Fail(fmt::format("writing the FUSE_INIT reply: {}", std::strerror(err)));
    errno = err;
    return res;
  }
  // What the kernel sizes each payload buffer against: the largest WRITE or READ.
  const size_t pages = (arg.flags & FUSE_MAX_PAGES) ? arg.max_pages : 32;
  size_t payload = std::max<size_t>({8192, arg.max_write, pages * kPage});
  payload = (payload + kPage - 1) & ~(kPage - 1);
  Start(payload);
  return res;
}

// --- the rings -----------------------------------------------------------------------------

void UringChannel::Start(size_t payload_size) {
  {
    std::lock_guard lock(mu_);
    payload_size_ = payload_size;
    started_ = true;
  }
  cv_.notify_all();
}

namespace {

io_uring_sqe* NextSqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {  // cannot happen: each entry has one command at a time
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  if (sqe != nullptr) std::memset(sqe, 0, 128);  // an SQE128
  return sqe;
}

}  // namespace

void UringChannel::RunQueue(Queue* q) {
  ServeQueue(q);
  {
    std::lock_guard lock(q->mu);
    q->closed = true;  // no answer is sent from now on: no worker waits for one
  }
  q->sent_cv.notify_all();
}

void UringChannel::ServeQueue(Queue* q) {
  tls_queue_ = q;
  {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(q->qid, &set);
    ::sched_setaffinity(0, sizeof set, &set);  // best effort: the queue is this CPU's
    SetPolicy(q, true);                        // best effort too
  }
  size_t payload_size;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ || stopping_; });
    if (stopping_) return;
    payload_size = payload_size_;
  }
  const unsigned depth = options_.depth;
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
  params.cq_entries = 2 * (depth + 2);
  if (int rc = io_uring_queue_init_params(depth + 2, &q->ring, &params); rc < 0) {
    return Fail(fmt::format("queue {}: io_uring_setup: {}", q->qid, std::strerror(-rc)));
  }
  auto cleanup = [&] { io_uring_queue_exit(&q->ring); };
  q->entries.resize(depth);
  for (Entry& e : q->entries) {
    e.q = q;
    void* h = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* m = ::mmap(nullptr, kFront + payload_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED || m == MAP_FAILED) {
      if (h != MAP_FAILED) ::munmap(h, kPage);
      if (m != MAP_FAILED) ::munmap(m, kFront + payload_size);
      cleanup();
      return Fail(fmt::format("queue {}: no memory for its buffers", q->qid));
    }
    e.hdr = static_cast<UringReqHeader*>(h);
    e.mem = static_cast<char*>(m);
    e.payload = e.mem + kFront;
    e.iov[0] = {e.hdr, sizeof(UringReqHeader)};
    e.iov[1] = {e.payload, payload_size};
  }
  auto arm_event = [&] {
    io_uring_sqe* sqe = NextSqe(&q->ring);
    io_uring_prep_read(sqe, q->event_fd, &q->event_buf, sizeof q->event_buf, 0);
    io_uring_sqe_set_data64(sqe, kEventTag);
  };
  arm_event();
  for (Entry& e : q->entries) PrepCmd(q, &e, kCmdRegister);
  if (int rc = io_uring_submit(&q->ring); rc < 0) {
    cleanup();
    return Fail(fmt::format("queue {}: registering its entries: {}", q->qid, std::strerror(-rc)));
  }
  bool ready_now = false;
  {
    std::lock_guard lock(mu_);
    if (++queues_ready_ == queues_.size() && state_ == State::kWaitingForInit) {
      state_ = State::kActive;
      ready_now = true;
    }
  }
  if (ready_now && options_.on_ready) options_.on_ready(true);

  bool stop = false;
  std::vector<Entry*> done;
  CpuContention load(static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))));
  while (!stop && q->gone < q->entries.size()) {
    const int rc = io_uring_submit_and_wait(&q->ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      Fail(fmt::format("queue {}: io_uring_enter: {}", q->qid, std::strerror(-rc)));
      break;
    }
    // Next to other programs' runnable threads a SCHED_IDLE one all but stops (a test's
    // requests took 4.6 times as long with four CPU spinners beside them): while no CPU is
    // free, or while this thread is kept waiting long to run (one busy thread on its own CPU
    // is enough, with the other CPUs free), it runs at normal priority. It samples when it
    // gets to run at all. (`load` is made on this thread: it reads this thread's schedstat.)
    if (options_.idle_policy && load.Update() != q->cpus_busy) {
      q->cpus_busy = load.busy();
      SetPolicy(q, q->at_workers == 0);
    }
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&q->ring, head, cqe) {
      ++seen;
      if (cqe->user_data == kEventTag) {
        {
          std::lock_guard lock(mu_);
          stop = stopping_;
        }
        if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -EAGAIN) {
          Fail(fmt::format("queue {}: reading its eventfd: {}", q->qid, std::strerror(-cqe->res)));
          stop = true;
        }
        {
          std::lock_guard lock(q->mu);
          done.swap(q->done);
        }
        if (!done.empty()) {
          for (Entry* e : done) PrepCmd(q, e, kCmdCommitAndFetch);
          io_uring_submit(&q->ring);  // the kernel takes the answers now: the workers go on
          {
            std::lock_guard lock(q->mu);
            q->sent += done.size();
          }
          q->sent_cv.notify_all();
          q->at_workers -= static_cast<unsigned>(done.size());
          if (q->at_workers == 0) SetPolicy(q, true);
          done.clear();
        }
        if (!stop) arm_event();
        continue;
      }
      Entry* e = static_cast<Entry*>(io_uring_cqe_get_data(cqe));
      if (cqe->res == 0) {
        Serve(q, e);
      } else if (cqe->res == -EAGAIN || cqe->res == -EINTR) {
        PrepCmd(q, e, e->last_cmd);
      } else {
        // -ENOTCONN: the connection ended (unmount); anything else refused the entry.
        if (!e->gone) ++q->gone;
        e->gone = true;
        if (cqe->res != -ENOTCONN && cqe->res != -ECANCELED) {
          Fail(fmt::format("queue {}: the kernel refused {}: {}", q->qid,
                           e->last_cmd == kCmdRegister ? "an entry" : "a reply",
                           std::strerror(-cqe->res)));
        }
      }
    }
    io_uring_cq_advance(&q->ring, seen);
  }
  cleanup();
}

void UringChannel::Serve(Queue* q, Entry* e) {
  fuse_in_header in;
  std::memcpy(&in, e->hdr->in_out, sizeof in);
  const size_t payload = e->hdr->ent.payload_sz;
  e->unique = e->hdr->ent.commit_id;
  if (in.len < sizeof in + payload || in.len - sizeof in - payload > kOpInSize ||
      payload > payload_size_) {
    return Answer(e, -EIO, 0);
  }
  const size_t arg0 = in.len - sizeof in - payload;
  char* msg = e->payload - sizeof in - arg0;
  std::memcpy(msg, &in, sizeof in);
  std::memcpy(msg + sizeof in, e->hdr->op_in, arg0);
  e->buf = fuse_buf{};
  e->buf.mem = msg;
  e->buf.size = in.len;
  served_.fetch_add(1, std::memory_order_relaxed);
  if (Inline(in.opcode, msg + sizeof in, arg0) &&
      !(options_.requests_may_wait && options_.requests_may_wait())) {
    // A large request (a 1 MiB WRITE) keeps the CPU for a while: under SCHED_IDLE any other
    // runnable thread there would all but stop it, so it runs at normal priority.
    const bool large = payload >= kLarge;
    if (large) SetPolicy(q, false);
    Process(e);
    if (large && q->at_workers == 0) SetPolicy(q, true);
    return;
  }
  if (q->at_workers++ == 0) SetPolicy(q, false);
  {
    std::lock_guard lock(mu_);
    work_.push_back(e);
  }
  cv_.notify_one();
}

void UringChannel::SetPolicy(Queue* q, bool idle) {
  idle = idle && !q->cpus_busy;
  if (!options_.idle_policy || q->idle == idle) return;
  sched_param sp{};
  if (::sched_setscheduler(0, idle ? SCHED_IDLE : SCHED_OTHER, &sp) == 0) q->idle = idle;
}

bool UringChannel::Inline(uint32_t opcode, const char* arg, size_t arg_size) {
  if (!SessionLoop::Quick(opcode)) return false;
  if (opcode == FUSE_READ && arg_size >= sizeof(fuse_read_in)) {
    // Readahead sends several large READs at once, all to the reader's CPU: on workers they
    // are read from the source in parallel instead of one after another.
    fuse_read_in r;
    std::memcpy(&r, arg, sizeof r);
    return r.size < kLarge;
  }
  return true;
}

void UringChannel::Process(Entry* e) {
  tls_entry_ = e;
  fuse_session_process_buf(se_, &e->buf);
  if (tls_entry_ == e) {  // libfuse sent no reply: free the entry for the next request
    tls_entry_ = nullptr;
    Answer(e, -EIO, 0);
  }
}

void UringChannel::Answer(Entry* e, int error, size_t payload_len) {
  if (tls_entry_ == e) tls_entry_ = nullptr;
  fuse_out_header out{};
  out.len = static_cast<uint32_t>(sizeof out + (error == 0 ? payload_len : 0));
  out.error = error;
  out.unique = e->unique;
  std::memcpy(e->hdr->in_out, &out, sizeof out);
  e->hdr->ent.payload_sz = error == 0 ? static_cast<uint32_t>(payload_len) : 0;
  Commit(e);
}

ssize_t UringChannel::AnswerEio(Entry* e) {
  Answer(e, -EIO, 0);
  errno = EIO;
  return -1;
}

void UringChannel::Commit(Entry* e) {
  Queue* q = e->q;
  if (tls_queue_ == q) {  // inside q's completion loop
    PrepCmd(q, e, kCmdCommitAndFetch);
    io_uring_submit(&q->ring);
    return;
  }
  uint64_t mine;
  {
    std::lock_guard lock(q->mu);
    q->done.push_back(e);
    mine = ++q->queued;
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(q->event_fd, &one, sizeof one);
  std::unique_lock lock(q->mu);
  q->sent_cv.wait(lock, [&] { return q->sent >= mine || q->closed; });
}

void UringChannel::PrepCmd(Queue* q, Entry* e, uint32_t cmd) {
  io_uring_sqe* sqe = NextSqe(&q->ring);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = cmd;
  if (cmd == kCmdRegister) {
    sqe->addr = reinterpret_cast<uint64_t>(e->iov);
    sqe->len = 2;
  }
  auto* req = reinterpret_cast<UringCmdReq*>(sqe->cmd);
  req->commit_id = cmd == kCmdRegister ? 0 : e->unique;  // a fetch has none
  req->qid = static_cast<uint16_t>(q->qid);
  io_uring_sqe_set_data(sqe, e);
  e->last_cmd = cmd;
}

void UringChannel::Worker() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !work_.empty(); });
    if (work_.empty()) break;  // stopping
    Entry* e = work_.front();
    work_.pop_front();
    lock.unlock();
    Process(e);
    lock.lock();
  }
}

}  // namespace errseq::fuse

// UringChannel: carries a FUSE session's requests over io_uring (FUSE-over-io-uring, Linux 6.14
// and later, module parameter fuse.enable_uring) instead of read(2) and writev(2) on /dev/fuse.
// Through /dev/fuse every synchronous request wakes a server thread on another CPU and the
// reply wakes the caller back; on a virtual machine those two cross-CPU wake-ups are most of a
// 4 KiB write's cost (docs/benchmarks.md). With io_uring the kernel keeps one queue per CPU:
// a request goes to the queue of the CPU its caller runs on, whose thread here is pinned to
// that CPU, so caller and server take turns on one CPU.
//
// libfuse 3.14 has no io_uring support; this class works under it through the public
// fuse_session_custom_io hooks. It reads the FUSE_INIT request as it passes, and when the kernel
// offers io_uring it adds FUSE_OVER_IO_URING to libfuse's reply. Once that reply is written
// each queue's thread registers its entries (a header and a payload buffer each). The kernel
// then sends every request but FORGET and INTERRUPT through the rings; those, and the replies
// and notifications of requests read from /dev/fuse, still use the device, served by the
// session's ordinary loop. A request taken from a ring is rebuilt in place as the contiguous
// message libfuse expects (header and per-opcode argument copied in front of the payload, no
// copy of the payload) and handed to fuse_session_process_buf; the reply libfuse writes (a
// writev, or a splice of a READ's data) is caught in the hooks and committed to the ring.
//
// Each queue's thread runs under SCHED_IDLE (idle_policy). When it answers, the caller wakes
// while the thread is still on the CPU; the scheduler looks for an idle CPU for the caller and
// would move it to the other one, waking that CPU (on a virtual machine, the costly part), and
// the caller's next request would go to that CPU's queue. A CPU whose only runnable thread is
// SCHED_IDLE counts as idle, so the caller stays where it was. Measured on this 2-CPU machine
// (docs/errseqfs.md): 4 KiB writes through errseqfs about 30% faster than with the queue
// threads at normal priority, and with both CPUs kept busy by other programs the requests were
// not starved (faster than through /dev/fuse under the same load). But a request with much
// work in it (a 1 MiB WRITE) would, with another program runnable on that CPU, get almost none
// of it, and a caller that does not wait (readahead) keeps its CPU busy, so that a SCHED_IDLE
// thread would commit the workers' answers only in the gaps: the thread runs at normal
// priority while it serves a request of 128 KiB or more, while any of its requests is at a
// worker, and while no CPU is free or the thread itself is kept waiting long to run
// (CpuContention: other programs' threads keep every CPU busy, or one keeps its own CPU busy,
// and would all but stop a SCHED_IDLE one).
//
// Quick requests (SessionLoop::Quick) are served on the queue's thread itself, except READs of
// 128 KiB or more (readahead sends several at once, all to the reader's CPU; on workers they
// are read from the source in parallel). Any other (fsync, setattr, ...) goes to a pool of
// workers, so that a request that waits (for writeback, or for another request the kernel
// sends meanwhile) never holds up its queue. A quick request that waits does hold up the next
// requests of callers on the same CPU until it returns: unlike SessionLoop's, a queue's
// requests reach only its own thread, so there is no watchdog to hand them to another. Where
// the owner knows that quick requests may wait long (a fault table that delays I/O, dirty
// memory near the limit where writers are throttled), it says so through `requests_may_wait`,
// and meanwhile every request goes to the workers. A
// worker's answer is committed by the queue's thread (an eventfd wakes it): only that thread
// touches its ring.
//
// As through /dev/fuse, an answer has reached the kernel when fuse_reply_* returns (the syncfs
// mirror relies on it: an error it hands over must be in the kernel's errseq before the FSYNC
// that waits for it returns). So the queue's thread submits each commit at once, not with its
// next wait, and a worker waits until the queue's thread has submitted its answer.
//
// One per process (the hooks find it through a global). Attach after fuse_session_mount and
// before the loop reads FUSE_INIT; Stop after the loop has ended.
//
// Thread-safety: each Queue's ring, entries, counters and policy are its thread's alone (an
// entry is a worker's while the worker serves it); `Queue::mu` guards its list of answers from
// workers; `mu_` guards the worker queue, the start signal, `state_` and `failure_`;
// `payload_size_` is written under `mu_` before the start and never after; the FUSE_INIT facts
// are atomics, written by the thread that reads FUSE_INIT before its reply is written.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errseq/core/status.h"

struct fuse_session;
struct iovec;

namespace errseq::fuse {

class UringChannel {
 public:
  struct Options {
    unsigned depth = 8;       // ring entries per CPU: requests a CPU's callers can have in flight
    unsigned workers = 8;     // threads for requests that are not quick
    bool required = false;    // the kernel must take io_uring, else the session ends with an error
    bool idle_policy = true;  // queue threads under SCHED_IDLE (above)
    // Called when the rings are registered (true; from a queue's thread), and when io_uring
    // will not be used (false; from the thread that wrote the FUSE_INIT reply or met the
    // failure). At most twice: true then false when a queue fails after all were registered
    // (the requests stay on /dev/fuse, whose reader must poll again).
    std::function<void(bool active)> on_ready;
    // Asked before a quick request is answered on its queue's thread: while it returns true,
    // every request goes to the workers instead (a quick one may wait long, and would hold up
    // the requests behind it on that CPU). Called from the queue threads; must not block.
    std::function<bool()> requests_may_wait;
  };

  enum class State { kWaitingForInit, kActive, kNotOffered, kFailed };

  // Whether this kernel can carry FUSE over io_uring: "" if so, else why not (a missing or off
  // module parameter). Read before mounting.
  static std::string Unavailable();

  // Hooks `se`'s device I/O. EBUSY if a channel exists in this process.
  static Result<std::unique_ptr<UringChannel>> Attach(fuse_session* se, Options options);

  UringChannel(const UringChannel&) = delete;
  UringChannel& operator=(const UringChannel&) = delete;
  ~UringChannel();

  // Ends the ring threads and workers. REQUIRES: the session loop has ended.
  void Stop();

  State state() const;
  std::string failure() const;  // why kFailed

  // Requests served through the rings so far (for tests and stats).
  uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  struct Entry;
  struct Queue;
  UringChannel(fuse_session* se, Options options);

  // The hooks (fuse_custom_io).
  static ssize_t HookRead(int fd, void* buf, size_t len, void* userdata);
  static ssize_t HookWritev(int fd, struct iovec* iov, int count, void* userdata);
  static ssize_t HookSpliceSend(int fdin, off_t* offin, int fdout, off_t* offout, size_t len,
                                unsigned int flags, void* userdata);

  void NoteInit(const void* msg, size_t len);
  ssize_t WriteInitReply(int fd, struct iovec* iov, int count);
  void Start(size_t payload_size);
  void Fail(const std::string& why);
  void RunQueue(Queue* q);  // a queue's thread: ServeQueue, then lets waiting workers go
  void ServeQueue(Queue* q);
  void Serve(Queue* q, Entry* e);
  // The calling queue thread's scheduling policy: SCHED_IDLE or normal (always normal while
  // no CPU is free). REQUIRES: on q's thread
  void SetPolicy(Queue* q, bool idle);
  // Whether the queue's thread answers this request itself (else a worker does).
  static bool Inline(uint32_t opcode, const char* arg, size_t arg_size);
  void Process(Entry* e);
  void Answer(Entry* e, int error, size_t payload_len);
  // A reply that cannot be carried: the caller gets EIO; -1 with errno EIO for libfuse.
  ssize_t AnswerEio(Entry* e);
  void Commit(Entry* e);
  void PrepCmd(Queue* q, Entry* e, uint32_t cmd);  // REQUIRES: on q's thread
  void Worker();

  // The entry whose request this thread is serving (its reply goes to the ring), and the
  // queue whose ring this thread owns.
  static thread_local Entry* tls_entry_;
  static thread_local Queue* tls_queue_;

  fuse_session* const se_;
  const Options options_;
  const int fd_;

  // Set while reading FUSE_INIT (loop thread), read after it by the thread writing its reply.
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> offered_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;            // workers wait here; ring threads wait for the start
  State state_ = State::kWaitingForInit;  // GUARDED_BY(mu_)
  std::string failure_;                   // GUARDED_BY(mu_)
  bool started_ = false;                  // GUARDED_BY(mu_)
  bool stopping_ = false;                 // GUARDED_BY(mu_)
  size_t payload_size_ = 0;               // GUARDED_BY(mu_) until started_, then immutable
  unsigned queues_ready_ = 0;             // GUARDED_BY(mu_)
  std::deque<Entry*> work_;               // GUARDED_BY(mu_)

  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> served_{0};
};

}  // namespace errseq::fuse

// UringChannel on a real FUSE mount served by this test process: requests arrive through the
// rings, replies of every kind (data, errors, a READ libfuse splices, a 1 MiB READ) get back,
// an FSYNC that waits does not hold up its CPU's queue, nor does a READ while the owner says
// requests may wait, many threads' requests are each answered once, and without the kernel's
// offer everything still goes through /dev/fuse.
// Needs root, /dev/fuse and fuse.enable_uring=Y (ctest runs it through
// tests/with_enable_uring.sh, which sets the parameter and restores it); skips otherwise.
// Also run under ThreadSanitizer.
#define FUSE_USE_VERSION 312
#include "errseq/fuse/uring_channel.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "errseq/fuse/cpu_contention.h"
#include "loop_mount.h"

namespace errseq::fuse {
namespace {

using namespace std::chrono_literals;
using ::errseq::testing::EnableUringParam;

constexpr fuse_ino_t kData = 2, kFast = 3, kSlow = 4, kSpliced = 5, kBad = 6;
constexpr size_t kDataSize = 4 << 20;
const char* const kNames[] = {"", "", "data", "fast", "slow", "spliced", "bad"};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  bool fast_seen = false;  // GUARDED_BY(mu)
  std::vector<char> data;  // GUARDED_BY(mu)
  int spliced_fd = -1;     // a host file READs of "spliced" are answered from
  size_t spliced_size = 0;
  std::atomic<int> waits_timed_out{0};
};
State* g_state = nullptr;

struct stat Attr(fuse_ino_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st.st_nlink = 1;
  st.st_size = ino == kData ? kDataSize : ino == kSpliced ? g_state->spliced_size : 4096;
  return st;
}

void SawFast() {
  std::lock_guard lock(g_state->mu);
  g_state->fast_seen = true;
  g_state->cv.notify_all();
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_ino_t ino = 0;
  for (fuse_ino_t i = kData; i <= kBad; ++i) {
    if (parent == FUSE_ROOT_ID && std::strcmp(name, kNames[i]) == 0) ino = i;
  }
  if (ino == 0) return (void)fuse_reply_err(req, ENOENT);
  fuse_entry_param e{};  // timeouts 0: every stat reaches us
  e.ino = ino;
  e.generation = 1;
  e.attr = Attr(ino);
  fuse_reply_entry(req, &e);
  if (ino == kFast) SawFast();
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st = Attr(ino);
  fuse_reply_attr(req, &st, 0);
}

void Open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fi->direct_io = 1;  // every read and write reaches us, in the caller's sizes
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino == kSpliced) {  // a range of a host file: libfuse splices it (FUSE_CAP_SPLICE_WRITE)
    fuse_bufvec bv = FUSE_BUFVEC_INIT(
        std::min(size, g_state->spliced_size - std::min<size_t>(off, g_state->spliced_size)));
    bv.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    bv.buf[0].fd = g_state->spliced_fd;
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, static_cast<fuse_buf_copy_flags>(0));
    return;
  }
  if (ino == kSlow) {  // waits (at most 10 s) until a LOOKUP of "fast" has been answered
    std::unique_lock lock(g_state->mu);
    if (!g_state->cv.wait_for(lock, 10s, [] { return g_state->fast_seen; })) {
      ++g_state->waits_timed_out;
    }
    lock.unlock();
    return (void)fuse_reply_buf(req, "slow", 4);
  }
  if (ino != kData) return (void)fuse_reply_err(req, EIO);
  std::vector<char> out;
  {
    std::lock_guard lock(g_state->mu);
    const size_t begin = std::min<size_t>(off, kDataSize);
    const size_t end = std::min(begin + size, kDataSize);
    out.assign(g_state->data.begin() + begin, g_state->data.begin() + end);
  }
  fuse_reply_buf(req, out.data(), out.size());
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info*) {
  if (ino == kBad) return (void)fuse_reply_err(req, EIO);
  if (ino != kData || off + size > kDataSize) return (void)fuse_reply_err(req, EFBIG);
  {
    std::lock_guard lock(g_state->mu);
    std::memcpy(g_state->data.data() + off, buf, size);
  }
  fuse_reply_write(req, size);
}

// FSYNC of "slow" waits (at most 10 s) until a LOOKUP of "fast" has been answered.
void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  if (ino == kSlow) {
    std::unique_lock lock(g_state->mu);
    if (!g_state->cv.wait_for(lock, 10s, [] { return g_state->fast_seen; })) {
      ++g_state->waits_timed_out;
    }
  }
  fuse_reply_err(req, 0);
}

void Ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void Init(void*, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  conn->max_write = 1 << 20;
  conn->max_read = 1 << 20;  // as given to fuse_session_new
}

fuse_lowlevel_ops Ops() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = Getattr;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.fsync = Fsync;
  ops.flush = Ok;
  ops.release = Ok;
  return ops;
}

// One mount of the file system above: a UringChannel over a SessionLoop on its own thread.
class UringMount {
 public:
  // `may_wait`: what the channel's requests_may_wait says (unset when false).
  explicit UringMount(bool may_wait = false)
      : may_wait_(may_wait),
        mount_(Ops(), {.args = {"-o", "max_read=1048576"},
                       .loop = {.threads = 2, .spin_us = 0},
                       .before_loop = [this](fuse_session* se) { Attach(se); }}) {}
  ~UringMount() {
    mount_.End();
    if (channel_) channel_->Stop();
  }
  bool ok() const { return mount_.mounted() && channel_ != nullptr; }
  const std::string& attach_error() const { return attach_error_; }
  UringChannel& channel() { return *channel_; }
  std::string Path(const std::string& name) const { return mount_.Path(name); }
  void Unmount() { mount_.Unmount(); }
  // What on_ready said (1 active, 0 not), or -1 if it has not been called within 5 s.
  int Ready() {
    std::unique_lock lock(ready_mu_);
    ready_cv_.wait_for(lock, 5s, [&] { return ready_ >= 0; });
    return ready_;
  }
  std::optional<int> Result(std::chrono::milliseconds wait) { return mount_.Result(wait); }

 private:
  // Before the loop reads FUSE_INIT: the channel must see the kernel's offer in it.
  void Attach(fuse_session* se) {
    UringChannel::Options uo;
    uo.depth = 4;
    uo.workers = 2;
    if (may_wait_) uo.requests_may_wait = [] { return true; };
    uo.on_ready = [this](bool active) {
      std::lock_guard lock(ready_mu_);
      ready_ = active ? 1 : 0;
      ready_cv_.notify_all();
    };
    auto ch = UringChannel::Attach(se, std::move(uo));
    if (!ch.ok()) {
      attach_error_ = ch.status().ToString();
    } else {
      channel_ = std::move(*ch);
    }
  }

  const bool may_wait_;
  std::unique_ptr<UringChannel> channel_;
  std::string attach_error_;
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  int ready_ = -1;  // GUARDED_BY(ready_mu_)
  LoopMount mount_;  // last: built after what Attach fills in, destroyed first
};

class UringChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_FUSE();
    if (std::string why = UringChannel::Unavailable(); !why.empty()) GTEST_SKIP() << why;
    state_.data.assign(kDataSize, 0);
    state_.spliced_fd = ::open(tmp_.path().c_str(), O_TMPFILE | O_RDWR, 0600);
    ASSERT_GE(state_.spliced_fd, 0);
    std::string text;
    for (int i = 0; text.size() < 3 * 4096 + 100; ++i) text += "line " + std::to_string(i) + "\n";
    ASSERT_EQ(::pwrite(state_.spliced_fd, text.data(), text.size(), 0),
              static_cast<ssize_t>(text.size()));
    state_.spliced_size = text.size();
    spliced_text_ = text;
    g_state = &state_;
  }
  void TearDown() override {
    g_state = nullptr;
    if (state_.spliced_fd >= 0) ::close(state_.spliced_fd);
  }
  State state_;
  ::errseq::testing::TempDir tmp_;
  std::string spliced_text_;
};

TEST_F(UringChannelTest, RequestsAndEveryKindOfReplyGoThroughTheRings) {
  UringMount m;
  ASSERT_TRUE(m.ok()) << m.attach_error();
  struct stat st;
  ASSERT_EQ(::stat(m.Path("fast").c_str(), &st), 0);  // FUSE_INIT is done by now
  ASSERT_EQ(m.Ready(), 1);
  EXPECT_EQ(m.channel().state(), UringChannel::State::kActive);
  const uint64_t before = m.channel().served();
  EXPECT_EQ(::stat(m.Path("data").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kDataSize));
  EXPECT_GT(m.channel().served(), before) << "the LOOKUP did not come through a ring";
  EXPECT_NE(::stat(m.Path("missing").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);

  // A 1 MiB WRITE and READ (the whole payload buffer), a 4 KiB one, an error, a spliced READ.
  int fd = ::open(m.Path("data").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::vector<char> big(1 << 20), back(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  EXPECT_EQ(::pwrite(fd, big.data(), big.size(), 4096), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(::pread(fd, back.data(), back.size(), 4096), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, big);
  EXPECT_EQ(::pwrite(fd, "abcd", 4, 0), 4);
  char small[4] = {};
  EXPECT_EQ(::pread(fd, small, 4, 0), 4);
  EXPECT_EQ(std::string(small, 4), "abcd");
  EXPECT_EQ(::fsync(fd), 0);  // not quick: a worker answers, the queue's thread commits
  ::close(fd);
  fd = ::open(m.Path("bad").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::write(fd, "x", 1), -1);
  EXPECT_EQ(errno, EIO);
  ::close(fd);
  fd = ::open(m.Path("spliced").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got(spliced_text_.size(), '\0');
  EXPECT_EQ(::pread(fd, got.data(), got.size(), 0), static_cast<ssize_t>(got.size()));
  EXPECT_EQ(got, spliced_text_);
  ::close(fd);
  EXPECT_EQ(m.channel().state(), UringChannel::State::kActive) << m.channel().failure();
}

// On CPU 0, `waiter` makes a request of "slow" whose handler waits (at most 10 s) until a
// LOOKUP of "fast" has been answered; then, from CPU 0 too, that LOOKUP: both reach the same
// queue, so the LOOKUP is answered only if the waiting request is not holding the queue's
// thread. `waiter` returns what its call returned; `expected` is that.
void ExpectAWaitDoesNotHoldUpItsCpusQueue(UringMount& m, State& state,
                                          ssize_t (*waiter)(int fd), ssize_t expected) {
  struct stat st;
  ASSERT_EQ(::stat(m.Path("data").c_str(), &st), 0);
  ASSERT_EQ(m.Ready(), 1);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  int fd = ::open(m.Path("slow").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto waiting = std::async(std::launch::async, [fd, one, waiter] {
    ::sched_setaffinity(0, sizeof one, &one);
    return waiter(fd);
  });
  std::this_thread::sleep_for(20ms);  // the request is waiting in its handler
  const auto t0 = std::chrono::steady_clock::now();
  auto looker = std::async(std::launch::async, [&, one] {
    ::sched_setaffinity(0, sizeof one, &one);
    struct stat s;
    return ::stat(m.Path("fast").c_str(), &s);
  });
  EXPECT_EQ(looker.get(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(waiting.get(), expected);
  EXPECT_EQ(state.waits_timed_out.load(), 0) << "the request waited until its 10 s timeout";
  ::close(fd);
}

// An FSYNC is not quick: a worker answers it.
TEST_F(UringChannelTest, AnFsyncThatWaitsDoesNotHoldUpItsCpusQueue) {
  UringMount m;
  ASSERT_TRUE(m.ok()) << m.attach_error();
  ExpectAWaitDoesNotHoldUpItsCpusQueue(
      m, state_, [](int fd) -> ssize_t { return ::fsync(fd); }, 0);
}

// A READ is quick and is answered on its queue's thread, unless the owner says requests may
// wait (a fault table that delays I/O): then a worker answers it.
TEST_F(UringChannelTest, WhileRequestsMayWaitAQuickOneDoesNotHoldUpItsCpusQueue) {
  UringMount m(/*may_wait=*/true);
  ASSERT_TRUE(m.ok()) << m.attach_error();
  ExpectAWaitDoesNotHoldUpItsCpusQueue(
      m, state_,
      [](int fd) -> ssize_t {
        char buf[4096];
        return ::pread(fd, buf, sizeof buf, 0);
      },
      4);
}

// Many threads on every CPU at once; each request is answered exactly once, with its own data.
TEST_F(UringChannelTest, ConcurrentRequestsAreEachAnsweredOnce) {
  UringMount m;
  ASSERT_TRUE(m.ok()) << m.attach_error();
  SawFast();
  constexpr int kThreads = 6, kEach = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      int fd = ::open(m.Path("data").c_str(), O_RDWR);
      if (fd < 0) {
        ++failures;
        return;
      }
      std::vector<char> mine(4096), back(4096);
      for (int i = 0; i < kEach; ++i) {
        std::memset(mine.data(), 'a' + (t + i) % 26, mine.size());
        const off_t off = static_cast<off_t>(t * 160 + i % 160) * 4096;  // this thread's pages
        if (::pwrite(fd, mine.data(), mine.size(), off) != 4096) ++failures;
        if (::pread(fd, back.data(), back.size(), off) != 4096 || back != mine) ++failures;
        struct stat st;
        if (::stat(m.Path(i % 2 ? "fast" : "data").c_str(), &st) != 0) ++failures;
        if (i % 20 == 0 && ::fsync(fd) != 0) ++failures;
      }
      ::close(fd);
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(m.channel().served(), static_cast<uint64_t>(kThreads * kEach * 3));
  EXPECT_EQ(m.channel().state(), UringChannel::State::kActive) << m.channel().failure();
}

// How many of this process's threads run under SCHED_IDLE (/proc/self/task/*/stat, field 41).
int IdleThreads() {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');  // the name may hold spaces
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    std::string field;
    for (int i = 3; i <= 41 && rest >> field; ++i) {
      if (i == 41 && field == std::to_string(SCHED_IDLE)) ++n;
    }
  }
  return n;
}

// From a thread on each CPU in turn, a LOOKUP every few ms (so that each queue's thread runs
// and looks at the machine) until `done` says so, or `limit` has passed.
bool RequestsFromEveryCpuUntil(UringMount& m, const std::function<bool()>& done,
                               std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  while (std::chrono::steady_clock::now() < end) {
    for (long cpu = 0; cpu < cpus; ++cpu) {
      std::thread([&, cpu] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(static_cast<int>(cpu), &one);
        ::sched_setaffinity(0, sizeof one, &one);
        struct stat st;
        for (int i = 0; i < 5; ++i) {
          ::stat(m.Path("fast").c_str(), &st);
          std::this_thread::sleep_for(3ms);
        }
      }).join();
    }
    if (done()) return true;
  }
  return false;
}

// Next to other programs' runnable threads a SCHED_IDLE thread all but stops: while every CPU
// is busy the queue threads run at normal priority, and under SCHED_IDLE again once one is
// free.
TEST_F(UringChannelTest, QueueThreadsLeaveSchedIdleWhileEveryCpuIsBusy) {
  UringMount m;
  ASSERT_TRUE(m.ok()) << m.attach_error();
  SawFast();
  ASSERT_EQ(m.Ready(), 1);
  const int idle = IdleThreads();
  ASSERT_GE(idle, 1) << "the queue threads start under SCHED_IDLE";
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  for (long i = 0; i < cpus + 2; ++i) {
    spinners.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  const bool left = RequestsFromEveryCpuUntil(m, [] { return IdleThreads() == 0; }, 10s);
  stop = true;
  for (auto& t : spinners) t.join();
  EXPECT_TRUE(left) << IdleThreads() << " threads still under SCHED_IDLE";
  // Back under SCHED_IDLE once a CPU is free; other programs (a build, other tests) may keep
  // them busy meanwhile, which this test's own sampler would see.
  CpuContention here(static_cast<unsigned>(cpus), 1ms, 1);
  bool busy_seen = false;
  const bool back = RequestsFromEveryCpuUntil(m, [&] {
    busy_seen = here.Update() || busy_seen;
    return IdleThreads() >= idle;
  }, 10s);
  EXPECT_TRUE(back || busy_seen) << IdleThreads() << " of " << idle
                                 << " threads back under SCHED_IDLE, every CPU seen free";
  if (!back) std::printf("the CPUs were busy: the queue threads stayed at normal priority\n");
  EXPECT_EQ(m.channel().state(), UringChannel::State::kActive) << m.channel().failure();
}

TEST_F(UringChannelTest, EndsWhenUnmounted) {
  UringMount m;
  ASSERT_TRUE(m.ok()) << m.attach_error();
  struct stat st;
  EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
  m.Unmount();
  EXPECT_EQ(m.Result(5s), std::optional<int>(0));
  m.channel().Stop();  // the queue threads saw the connection end; returns at once
}

// With the module parameter off the kernel does not offer io_uring at FUSE_INIT: on_ready says
// so and every request goes through /dev/fuse.
TEST_F(UringChannelTest, WithoutTheKernelsOfferRequestsGoThroughTheDevice) {
  EnableUringParam off("N");
  if (!off.ok()) GTEST_SKIP() << "cannot change " << EnableUringParam::kPath;
  const std::string old = off.old();
  {
    UringMount m;
    off.Restore();  // the connection took the value at FUSE_INIT
    ASSERT_TRUE(m.ok()) << m.attach_error();
    struct stat st;
    EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
    EXPECT_EQ(m.Ready(), 0);
    EXPECT_EQ(m.channel().state(), UringChannel::State::kNotOffered);
    int fd = ::open(m.Path("data").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::pwrite(fd, "hello", 5, 0), 5);
    char b[5];
    EXPECT_EQ(::pread(fd, b, 5, 0), 5);
    EXPECT_EQ(std::string(b, 5), "hello");
    ::close(fd);
    EXPECT_EQ(m.channel().served(), 0u);
  }
  EXPECT_EQ(EnableUringParam::Value(), old);
}

}  // namespace
}  // namespace errseq::fuse

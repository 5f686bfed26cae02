// SessionLoop on a real FUSE mount served by this test process: a tiny file system with a file
// "slow" whose READ and FSYNC wait until a request about the file "fast" has been answered.
// Such a wait completes only if another thread reads the device meanwhile: after the leader
// hands the lead on (FSYNC is not quick) or after the watchdog takes it away (READ is quick).
// Also: many processes' worth of concurrent requests, and the ways the loop ends. Needs root
// and /dev/fuse (skips otherwise); also run under ThreadSanitizer.
#define FUSE_USE_VERSION 312
#include "errseq/fuse/session_loop.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loop_mount.h"

namespace errseq::fuse {
namespace {

using namespace std::chrono_literals;

constexpr fuse_ino_t kSlow = 2, kFast = 3;

struct State {
  std::mutex mu;
  std::condition_variable cv;
  bool fast_seen = false;     // GUARDED_BY(mu)
  std::atomic<int> waits_timed_out{0};
  std::atomic<int> requests{0};
};
State* g_state = nullptr;

void SawFast() {
  std::lock_guard lock(g_state->mu);
  g_state->fast_seen = true;
  g_state->cv.notify_all();
}

// Waits (at most 10 s) until a request about "fast" was answered.
void WaitForFast() {
  std::unique_lock lock(g_state->mu);
  if (!g_state->cv.wait_for(lock, 10s, [] { return g_state->fast_seen; })) {
    ++g_state->waits_timed_out;
  }
}

struct stat Attr(fuse_ino_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st.st_nlink = 1;
  st.st_size = ino == FUSE_ROOT_ID ? 0 : 4096;
  return st;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ++g_state->requests;
  fuse_ino_t ino = 0;
  if (parent == FUSE_ROOT_ID && std::strcmp(name, "slow") == 0) ino = kSlow;
  if (parent == FUSE_ROOT_ID && std::strcmp(name, "fast") == 0) ino = kFast;
  if (ino == 0) return (void)fuse_reply_err(req, ENOENT);
  fuse_entry_param e{};  // timeouts 0: every stat reaches us
  e.ino = ino;
  e.generation = 1;
  e.attr = Attr(ino);
  fuse_reply_entry(req, &e);
  if (ino == kFast) SawFast();
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ++g_state->requests;
  struct stat st = Attr(ino);
  fuse_reply_attr(req, &st, 0);
  if (ino == kFast) SawFast();
}

void Open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fi->direct_io = 1;  // every read reaches us
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t, fuse_file_info*) {
  if (ino == kSlow) WaitForFast();
  std::vector<char> zeros(size);
  fuse_reply_buf(req, zeros.data(), zeros.size());
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  if (ino == kSlow) WaitForFast();
  fuse_reply_err(req, 0);
}

void Ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

fuse_lowlevel_ops Ops() {
  fuse_lowlevel_ops ops{};
  ops.lookup = Lookup;
  ops.getattr = Getattr;
  ops.open = Open;
  ops.read = Read;
  ops.fsync = Fsync;
  ops.flush = Ok;
  ops.release = Ok;
  return ops;
}

// One mount of the file system above, served by a SessionLoop with `options`.
struct Mount : LoopMount {
  explicit Mount(SessionLoop::Options options) : LoopMount(Ops(), {.args = {}, .loop = options, .before_loop = nullptr}) {}
  bool ok() const { return mounted(); }
};

class SessionLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_FUSE();
    g_state = &state_;
  }
  void TearDown() override { g_state = nullptr; }
  State state_;
};

TEST(SessionLoopQuick, QuickRequestsAreThoseThatDoNotWaitForLong) {
  EXPECT_TRUE(SessionLoop::Quick(FUSE_WRITE));
  EXPECT_TRUE(SessionLoop::Quick(FUSE_READ));
  EXPECT_TRUE(SessionLoop::Quick(FUSE_LOOKUP));
  EXPECT_TRUE(SessionLoop::Quick(FUSE_CREATE));
  EXPECT_FALSE(SessionLoop::Quick(FUSE_FSYNC));
  EXPECT_FALSE(SessionLoop::Quick(FUSE_FSYNCDIR));
  EXPECT_FALSE(SessionLoop::Quick(FUSE_SETATTR));
  EXPECT_FALSE(SessionLoop::Quick(FUSE_INIT));
  EXPECT_FALSE(SessionLoop::Quick(9999)) << "unknown requests are handed off";
}

// READ is quick: the leader answers it itself and waits in it. Only the watchdog taking the
// lead away lets another thread answer the LOOKUP of "fast" that the READ waits for.
TEST_F(SessionLoopTest, TheWatchdogFreesTheDeviceFromAQuickRequestThatWaits) {
  Mount m({.threads = 4, .spin_us = 50, .handoff_after = 1ms});
  ASSERT_TRUE(m.ok());
  int fd = ::open(m.Path("slow").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto reader = std::async(std::launch::async, [fd] {
    char buf[4096];
    return ::pread(fd, buf, sizeof buf, 0);
  });
  std::this_thread::sleep_for(20ms);  // the READ is waiting in its handler
  struct stat st;
  EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
  EXPECT_EQ(reader.get(), 4096);
  EXPECT_EQ(state_.waits_timed_out.load(), 0) << "the READ waited until its 10 s timeout";
  ::close(fd);
}

// FSYNC is not quick: the leader hands the lead on before answering it, even with the watchdog
// out of the picture.
TEST_F(SessionLoopTest, AnFsyncIsAnsweredOffTheReadingThread) {
  Mount m({.threads = 2, .spin_us = 0, .handoff_after = std::chrono::hours(1)});
  ASSERT_TRUE(m.ok());
  int fd = ::open(m.Path("slow").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto syncer = std::async(std::launch::async, [fd] { return ::fsync(fd); });
  std::this_thread::sleep_for(20ms);
  struct stat st;
  EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
  EXPECT_EQ(syncer.get(), 0);
  EXPECT_EQ(state_.waits_timed_out.load(), 0) << "the FSYNC waited until its 10 s timeout";
  ::close(fd);
}

// Many threads at once, each request answered exactly once (ThreadSanitizer checks the loop).
TEST_F(SessionLoopTest, ConcurrentRequestsAreAllAnswered) {
  Mount m({.threads = 3, .spin_us = 20, .handoff_after = 1ms});
  ASSERT_TRUE(m.ok());
  SawFast();  // nothing waits in this test
  constexpr int kThreads = 6, kEach = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        struct stat st;
        if (::stat(m.Path(i % 2 ? "fast" : "slow").c_str(), &st) != 0) ++failures;
        if (t % 2 == 0 && i % 10 == 0) {
          int fd = ::open(m.Path("slow").c_str(), O_RDONLY);
          char buf[512];
          if (fd < 0 || ::pread(fd, buf, sizeof buf, 0) != sizeof buf || ::fsync(fd) != 0) ++failures;
          if (fd >= 0) ::close(fd);
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(state_.requests.load(), kThreads * kEach);
}

TEST_F(SessionLoopTest, EndsWhenUnmounted) {
  Mount m({});
  ASSERT_TRUE(m.ok());
  struct stat st;
  EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
  m.Unmount();
  EXPECT_EQ(m.Result(5s), std::optional<int>(0));
}

// fuse_session_exit alone (what libfuse's signal handlers do), with no request to wake a
// reader: the loop still ends.
TEST_F(SessionLoopTest, EndsAfterFuseSessionExitWithoutARequest) {
  Mount m({});
  ASSERT_TRUE(m.ok());
  struct stat st;
  EXPECT_EQ(::stat(m.Path("fast").c_str(), &st), 0);
  std::this_thread::sleep_for(50ms);  // the leader has stopped polling and sleeps in poll(2)
  fuse_session_exit(m.session());
  EXPECT_EQ(m.Result(5s), std::optional<int>(0));
}

}  // namespace
}  // namespace errseq::fuse

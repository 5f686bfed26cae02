// DirFdCache on its own: one open per directory while its entry is young, a new open once it
// expired, Forget of a path and everything beneath it (and nothing else), the oldest entry
// going when full, errors never cached, a held descriptor outliving its entry, and Get and
// Forget from many threads at once (run under ThreadSanitizer: label concurrency).
#include "errseq/fs/dir_fd_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace errseq::fs {
namespace {

using namespace std::chrono_literals;

// Opens /dev/null for every directory and counts the opens per path.
struct CountingOpener {
  std::map<std::string, int> opens;
  std::atomic<int> total{0};
  std::string fail;  // this path fails with ENOENT

  DirFdCache::Opener Fn() {
    return [this](const std::string& dir) -> Result<int> {
      ++total;
      if (dir == fail) return Status::Error(-ENOENT);
      ++opens[dir];
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::Error(-errno);
      return fd;
    };
  }
};

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(DirFdCache, OneOpenWhileTheEntryIsYoungAndANewOneAfter) {
  CountingOpener o;
  DirFdCache cache(o.Fn(), {.ttl = 200ms, .capacity = 8});
  auto a = cache.Get("a/b");
  ASSERT_TRUE(a.ok());
  auto b = cache.Get("a/b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*a)->get(), (*b)->get());
  EXPECT_EQ(o.opens["a/b"], 1);
  std::this_thread::sleep_for(250ms);
  auto c = cache.Get("a/b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(o.opens["a/b"], 2);
  EXPECT_TRUE(IsOpen((*a)->get()));  // still held by `a`
}

TEST(DirFdCache, ForgetDropsThePathAndWhatIsBeneathItOnly) {
  CountingOpener o;
  DirFdCache cache(o.Fn(), {.ttl = 60s, .capacity = 16});
  for (const char* p : {"a", "a/b", "a/b/c", "a/bc", "ab", "x"}) ASSERT_TRUE(cache.Get(p).ok());
  cache.Forget("a/b");
  EXPECT_EQ(cache.size(), 4u);  // a, a/bc, ab, x
  for (const char* p : {"a", "a/bc", "ab", "x"}) ASSERT_TRUE(cache.Get(p).ok());
  for (const char* p : {"a", "a/bc", "ab", "x"}) EXPECT_EQ(o.opens[p], 1) << p;
  for (const char* p : {"a/b", "a/b/c"}) {
    ASSERT_TRUE(cache.Get(p).ok());
    EXPECT_EQ(o.opens[p], 2) << p;
  }
  cache.Forget("");
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DirFdCache, AHeldDescriptorOutlivesItsEntry) {
  CountingOpener o;
  DirFdCache cache(o.Fn(), {});
  auto a = cache.Get("d");
  ASSERT_TRUE(a.ok());
  const int fd = (*a)->get();
  cache.Forget("d");
  EXPECT_TRUE(IsOpen(fd));
  a = Status::Error(-EIO);  // the last holder lets go
  EXPECT_FALSE(IsOpen(fd));
}

TEST(DirFdCache, TheOldestEntryGoesWhenFull) {
  CountingOpener o;
  DirFdCache cache(o.Fn(), {.ttl = 60s, .capacity = 2});
  ASSERT_TRUE(cache.Get("one").ok());
  std::this_thread::sleep_for(2ms);
  ASSERT_TRUE(cache.Get("two").ok());
  ASSERT_TRUE(cache.Get("three").ok());
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_TRUE(cache.Get("two").ok());
  ASSERT_TRUE(cache.Get("three").ok());
  EXPECT_EQ(o.total.load(), 3);
  ASSERT_TRUE(cache.Get("one").ok());
  EXPECT_EQ(o.opens["one"], 2);
}

TEST(DirFdCache, ErrorsAreReturnedAndNeverCached) {
  CountingOpener o;
  o.fail = "gone";
  DirFdCache cache(o.Fn(), {});
  auto a = cache.Get("gone");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.err(), -ENOENT);
  EXPECT_FALSE(cache.Get("gone").ok());
  EXPECT_EQ(o.total.load(), 2);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DirFdCache, ManyThreadsGetAndForget) {
  std::atomic<int> opens{0};
  DirFdCache cache(
      [&](const std::string&) -> Result<int> {
        ++opens;
        return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      },
      {.ttl = 5ms, .capacity = 4});
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string p = "d" + std::to_string((i + t) % 6);
        auto fd = cache.Get(p);
        if (!fd.ok() || !IsOpen((*fd)->get())) ++bad;
        if (i % 97 == 0) cache.Forget(t % 2 ? p : "");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(cache.size(), 4u);
  EXPECT_GT(opens.load(), 6);
}

}  // namespace
}  // namespace errseq::fs

// DirectWriter on a real file in the test's temporary directory: many scattered runs (more than
// the ring holds at once) land with their own bytes, the host's page cache does not serve stale
// copies afterwards, runs direct I/O refuses still land, a write the file system refuses is
// that run's error and no other's, and threads writing at once each get their own ring.
#include "errseq/block/direct_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "../support/temp_dir.h"

namespace errseq::block {
namespace {

using errseq::testing::TempDir;

constexpr size_t kPage = 4096;

// 4 KiB-aligned memory for direct I/O.
struct Pages {
  explicit Pages(size_t n)
      : p(static_cast<char*>(std::aligned_alloc(kPage, n * kPage)), &std::free) {}
  char* at(size_t i) const { return p.get() + i * kPage; }
  std::unique_ptr<char, decltype(&std::free)> p;
};

struct File {
  explicit File(const TempDir& t) : fd(::open((t / "f").c_str(), O_RDWR | O_CREAT, 0644)) {}
  ~File() { ::close(fd); }
  std::string Read(uint64_t off, size_t len) const {
    std::string s(len, '\0');
    EXPECT_EQ(::pread(fd, s.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
    return s;
  }
  int fd;
};

// A file in a fresh temporary directory and its writer; skipped where that directory's file
// system has no direct I/O.
class DirectWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(f.fd, 0);
    auto r = DirectWriter::ForFile(f.fd);
    if (!r.ok()) GTEST_SKIP() << "no direct I/O for files here: " << r.status().ToString();
    w = std::move(*r);
  }
  TempDir t;
  File f{t};
  std::unique_ptr<DirectWriter> w;
};

TEST_F(DirectWriterTest, ManyScatteredRunsLandWithTheirOwnBytes) {
  ASSERT_EQ(::ftruncate(f.fd, 64 << 20), 0);
  // The host caches the old bytes of every page first: they must not be served afterwards.
  ASSERT_EQ(f.Read(0, 64 << 20), std::string(64 << 20, '\0'));
  constexpr size_t kRuns = 200;  // more than the ring takes at once
  Pages mem(kRuns * 3);
  std::vector<std::vector<iovec>> iovs(kRuns);
  std::vector<DirectRun> runs;
  for (size_t r = 0; r < kRuns; ++r) {
    const size_t pages = 1 + r % 3;
    for (size_t k = 0; k < pages; ++k) {
      char* p = mem.at(r * 3 + k);
      std::memset(p, 'A' + static_cast<int>((r + k) % 26), kPage);
      iovs[r].push_back({p, kPage});
    }
    runs.push_back({(r * 77 % 16000) * kPage * 4, iovs[r], Status::Error(-EIO)});
  }
  w->WriteAll(runs);
  for (size_t r = 0; r < kRuns; ++r) {
    ASSERT_TRUE(runs[r].result.ok()) << "run " << r << ": " << runs[r].result.ToString();
    for (size_t k = 0; k < iovs[r].size(); ++k) {
      ASSERT_EQ(f.Read(runs[r].offset + k * kPage, kPage),
                std::string(kPage, static_cast<char>('A' + (r + k) % 26)))
          << "run " << r << " page " << k;
    }
  }
  EXPECT_EQ(f.Read(4096, kPage), std::string(kPage, '\0')) << "nothing written between runs";
}

TEST_F(DirectWriterTest, ARunDirectIoRefusesStillLands) {
  Pages mem(2);
  std::memset(mem.at(0), 'q', kPage);
  std::memset(mem.at(1), 'r', kPage);
  iovec odd{mem.at(0), 100};  // not a whole block: EINVAL for direct I/O
  iovec whole{mem.at(1), kPage};
  DirectRun runs[2] = {{8192, {&odd, 1}, {}}, {0, {&whole, 1}, {}}};
  w->WriteAll(runs);
  EXPECT_TRUE(runs[0].result.ok()) << runs[0].result.ToString();
  EXPECT_TRUE(runs[1].result.ok()) << runs[1].result.ToString();
  EXPECT_EQ(f.Read(8192, 100), std::string(100, 'q'));
  EXPECT_EQ(f.Read(0, kPage), std::string(kPage, 'r'));
}

TEST_F(DirectWriterTest, AWriteTheFileSystemRefusesIsThatRunsErrorOnly) {
  Pages mem(2);
  std::memset(mem.at(0), 'x', 2 * kPage);
  iovec a{mem.at(0), kPage}, b{mem.at(1), kPage};
  DirectRun runs[2] = {{uint64_t{1} << 60, {&a, 1}, {}}, {kPage, {&b, 1}, {}}};  // past any limit
  w->WriteAll(runs);
  EXPECT_EQ(runs[0].result.err(), -EFBIG) << runs[0].result.ToString();
  EXPECT_TRUE(runs[1].result.ok()) << runs[1].result.ToString();
  EXPECT_EQ(f.Read(kPage, kPage), std::string(kPage, 'x'));
}

TEST_F(DirectWriterTest, ThreadsWritingAtOnceEachLand) {
  constexpr int kThreads = 4, kRounds = 50, kRuns = 16;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      Pages mem(kRuns);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<iovec> iov(kRuns);
        std::vector<DirectRun> runs(kRuns);
        for (int r = 0; r < kRuns; ++r) {
          std::memset(mem.at(r), 'a' + (th * 7 + round + r) % 26, kPage);
          iov[r] = {mem.at(r), kPage};
          runs[r] = {static_cast<uint64_t>((th * kRuns + r) * 2) * kPage, {&iov[r], 1}, {}};
        }
        w->WriteAll(runs);
        for (const DirectRun& r : runs) failures[th] += r.result.ok() ? 0 : 1;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int th = 0; th < kThreads; ++th) {
    EXPECT_EQ(failures[th], 0) << "thread " << th;
    for (int r = 0; r < kRuns; ++r) {
      EXPECT_EQ(f.Read(static_cast<uint64_t>((th * kRuns + r) * 2) * kPage, kPage),
                std::string(kPage, static_cast<char>('a' + (th * 7 + kRounds - 1 + r) % 26)))
          << "thread " << th << " run " << r;
    }
  }
}

}  // namespace
}  // namespace errseq::block

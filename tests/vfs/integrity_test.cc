// Data integrity without faults: a seeded random workload of writes, appends, truncates and
// fsyncs through several descriptions of several files, with the flusher running and a small
// cache (so pages are evicted and read back in). After every fsync the file read back equals a
// reference model; so it does after close and reopen, and after a remount (from the host files).
// ERRSEQ_SEED and ERRSEQ_INTEGRITY_OPS override.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <algorithm>
#include <cstdlib>
#include <random>

#include "../support/stack.h"

namespace errseq {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : def;
}

std::vector<std::byte> ReadAll(testing::Stack& s, int fd) {
  auto size = s.v().Fstat(fd)->size;
  std::vector<std::byte> out(size);
  auto n = s.v().Pread(fd, out, 0);
  EXPECT_TRUE(n.ok());
  EXPECT_EQ(*n, size);
  return out;
}

TEST(Integrity, RandomWorkloadMatchesReferenceModel) {
  const uint64_t seed = EnvOr("ERRSEQ_SEED", 77);
  const uint64_t ops = EnvOr("ERRSEQ_INTEGRITY_OPS", 20'000);
  auto o = vfs::MountOptions();
  o.writeback.dirty_expire_ms = 5;
  o.writeback.wakeup_ms = 2;
  o.writeback.cache_limit_bytes = 256 << 10;  // constant eviction and read-in
  testing::Stack s(o);
  constexpr int kFiles = 3;
  std::vector<std::vector<std::byte>> model(kFiles);
  std::vector<std::vector<int>> fds(kFiles);
  for (int f = 0; f < kFiles; ++f) {
    for (int k = 0; k < 2; ++k) fds[f].push_back(s.Open("f" + std::to_string(f), O_RDWR | O_CREAT));
  }
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < ops; ++i) {
    int f = static_cast<int>(rng() % kFiles);
    int fd = fds[f][rng() % 2];
    auto& m = model[f];
    int op = static_cast<int>(rng() % 100);
    if (op < 70) {
      uint64_t off = rng() % (96 << 10);
      size_t len = 1 + rng() % 12000;
      std::vector<std::byte> b(len);
      for (auto& x : b) x = std::byte(rng());
      ASSERT_EQ(*s.v().Pwrite(fd, b, off), len);
      if (m.size() < off + len) m.resize(off + len);
      std::copy(b.begin(), b.end(), m.begin() + static_cast<long>(off));
    } else if (op < 80) {
      uint64_t size = rng() % (100 << 10);
      ASSERT_EQ(s.v().Ftruncate(fd, size).err(), 0);
      m.resize(size);
    } else if (op < 95) {
      ASSERT_EQ(s.Fsync(fd), 0);
      ASSERT_EQ(ReadAll(s, fd), m) << "seed " << seed << " op " << i << " after fsync";
    } else {
      ASSERT_EQ(s.v().Close(fd).err(), 0);
      int again = s.Open("f" + std::to_string(f), O_RDWR);
      for (auto& x : fds[f]) {
        if (x == fd) x = again;
      }
      ASSERT_EQ(ReadAll(s, again), m) << "seed " << seed << " op " << i << " after reopen";
    }
  }
  for (auto& v : fds) {
    for (int fd : v) ASSERT_EQ(s.v().Close(fd).err(), 0);
  }
  ASSERT_TRUE(s.Remount().ok());
  for (int f = 0; f < kFiles; ++f) {
    int fd = s.Open("f" + std::to_string(f), O_RDONLY);
    EXPECT_EQ(ReadAll(s, fd), model[f]) << "seed " << seed << " file " << f << " after remount";
  }
}

// Long runs (the host's writeback started at once, pages next to each other in memory sent as
// one segment), short runs and a partial last page: whatever the mix, the host file read back
// holds exactly what was written.
TEST(Integrity, LongAndShortWritebackRunsGiveTheHostExactBytes) {
  testing::Stack s;
  std::mt19937_64 rng(EnvOr("ERRSEQ_SEED", 7));
  std::vector<std::byte> model;
  int fd = s.Open("big", O_RDWR | O_CREAT);
  auto write = [&](uint64_t off, size_t len) {
    std::vector<std::byte> b(len);
    for (auto& x : b) x = static_cast<std::byte>(rng());
    ASSERT_TRUE(s.v().Pwrite(fd, b, off).ok());
    if (model.size() < off + len) model.resize(off + len);
    std::copy(b.begin(), b.end(), model.begin() + static_cast<std::ptrdiff_t>(off));
  };
  auto host_equals_model = [&] {
    std::ifstream in(s.HostPath("big"), std::ios::binary);
    std::string host((std::istreambuf_iterator<char>(in)), {});
    return host.size() == model.size() &&
           std::memcmp(host.data(), model.data(), model.size()) == 0;
  };
  write(0, (3 << 20) + 1234);  // long runs and an unaligned tail
  ASSERT_EQ(s.Fsync(fd), 0);
  EXPECT_TRUE(host_equals_model());
  write(100 << 10, 300 << 10);  // one long run in the middle, unaligned at both ends
  write(5000, 10);              // a short run
  write(model.size(), 4096 * 70 + 1);  // an append past the old tail
  ASSERT_EQ(s.Fsync(fd), 0);
  EXPECT_TRUE(host_equals_model());
  ASSERT_EQ(s.v().Close(fd).err(), 0);
  ASSERT_EQ(s.Remount().err(), 0);
  fd = s.Open("big", O_RDONLY);
  EXPECT_EQ(ReadAll(s, fd), model);
}

}  // namespace
}  // namespace errseq

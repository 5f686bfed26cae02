// FileDevice on image files (and a loop device where the machine allows): round trips and the
// messages a user sees for every way opening can go wrong.
#include "errseq/block/file_device.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "../support/temp_dir.h"

namespace errseq::block {
namespace {

using errseq::testing::TempDir;

std::vector<std::byte> Bytes(size_t n, int v) { return std::vector<std::byte>(n, std::byte(v)); }

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST(FileDevice, CreateWriteFlushReopenRead) {
  TempDir t;
  {
    auto d = FileDevice::Create(t / "img", 1 << 20, {});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_TRUE((*d)->Write(4096, Bytes(8192, 0x42)).ok());
    ASSERT_TRUE((*d)->Flush().ok());
    EXPECT_EQ((*d)->Size(), 1u << 20);
    EXPECT_FALSE((*d)->IsBlockDevice());
  }
  auto d = FileDevice::Open(t / "img");
  ASSERT_TRUE(d.ok());
  auto buf = Bytes(8192, 0);
  ASSERT_TRUE((*d)->Read(4096, buf).ok());
  EXPECT_EQ(buf, Bytes(8192, 0x42));
}

TEST(FileDevice, MissingFileSaysSoWithPath) {
  TempDir t;
  auto d = FileDevice::Open(t / "nope");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.err(), -ENOENT);
  EXPECT_TRUE(Contains(d.status().message(), t / "nope")) << d.status().message();
  EXPECT_TRUE(Contains(d.status().message(), "No such file")) << d.status().message();
}

TEST(FileDevice, DirectoryIsRefused) {
  TempDir t;
  auto d = FileDevice::Open(t.path());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.err(), -EISDIR);
  EXPECT_TRUE(Contains(d.status().message(), "directory")) << d.status().message();
}

TEST(FileDevice, SizeNotMultipleOfBlockSizeIsRefused) {
  TempDir t;
  std::ofstream(t / "odd") << std::string(5000, 'x');
  auto d = FileDevice::Open(t / "odd");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.err(), -EINVAL);
  EXPECT_TRUE(Contains(d.status().message(), "5000")) << d.status().message();
  EXPECT_TRUE(Contains(d.status().message(), "4096")) << d.status().message();
  // With 1000-byte blocks? Not a power of two: its own message.
  auto e = FileDevice::Open(t / "odd", {.block_size = 1000});
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(Contains(e.status().message(), "power of two")) << e.status().message();
}

TEST(FileDevice, EmptyFileIsRefused) {
  TempDir t;
  std::ofstream(t / "empty");
  auto d = FileDevice::Open(t / "empty");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.err(), -EINVAL);
}

TEST(FileDevice, FifoIsNotADevice) {
  TempDir t;
  ASSERT_EQ(::mkfifo((t / "fifo").c_str(), 0600), 0);
  auto d = FileDevice::Open(t / "fifo");
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(Contains(d.status().message(), "not a regular file")) << d.status().message();
}

TEST(FileDevice, NoPermissionSaysSo) {
  TempDir t;
  ASSERT_TRUE(FileDevice::Create(t / "img", 1 << 16, {}).ok());
  ASSERT_EQ(::chmod((t / "img").c_str(), 0), 0);
  ASSERT_EQ(::chmod(t.path().c_str(), 0755), 0);
  // Root bypasses permission bits: check from a child that drops to an unprivileged user.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto d = FileDevice::Open(t / "img");
    bool good = !d.ok() && d.err() == -EACCES && Contains(d.status().message(), "Permission");
    ::_exit(good ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(FileDevice, ReadOnlyRefusesWrites) {
  TempDir t;
  ASSERT_TRUE(FileDevice::Create(t / "img", 1 << 16, {}).ok());
  auto d = FileDevice::Open(t / "img", {.read_only = true});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->Write(0, Bytes(4096, 1)).err(), -EROFS);
  auto buf = Bytes(4096, 1);
  EXPECT_TRUE((*d)->Read(0, buf).ok());
}

TEST(FileDevice, RangeRulesMatchTheContract) {
  TempDir t;
  auto d = FileDevice::Create(t / "img", 1 << 16, {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->Write(512, Bytes(4096, 1)).err(), -EINVAL);
  EXPECT_EQ((*d)->Write(1 << 16, Bytes(4096, 1)).err(), -EIO);
}

TEST(FileDevice, DiscardPunchesAHole) {
  TempDir t;
  auto d = FileDevice::Create(t / "img", 1 << 16, {});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE((*d)->Write(0, Bytes(8192, 9)).ok());
  ASSERT_TRUE((*d)->Discard(0, 4096).ok());
  auto buf = Bytes(8192, 1);
  ASSERT_TRUE((*d)->Read(0, buf).ok());
  EXPECT_EQ(buf[0], std::byte(0));
  EXPECT_EQ(buf[4096], std::byte(9));
}

// A real block device: a loop device over an image. Needs root and losetup.
TEST(FileDevice, RealBlockDeviceThroughLoop) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device";
  if (std::system("command -v losetup >/dev/null 2>&1") != 0) GTEST_SKIP() << "losetup missing";
  TempDir t;
  ASSERT_TRUE(FileDevice::Create(t / "img", 4 << 20, {}).ok());
  std::string cmd = "losetup -f --show " + (t / "img") + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char name[128] = {0};
  bool got = std::fgets(name, sizeof name, p) != nullptr;
  ::pclose(p);
  if (!got) GTEST_SKIP() << "no loop device available on this machine";
  std::string dev(name);
  while (!dev.empty() && dev.back() == '\n') dev.pop_back();
  {
    auto d = FileDevice::Open(dev);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE((*d)->IsBlockDevice());
    EXPECT_EQ((*d)->Size(), 4u << 20);
    EXPECT_GE((*d)->BlockSize(), 512u);
    ASSERT_TRUE((*d)->Write(0, Bytes(4096, 0x33)).ok());
    ASSERT_TRUE((*d)->Flush().ok());
    auto buf = Bytes(4096, 0);
    ASSERT_TRUE((*d)->Read(0, buf).ok());
    EXPECT_EQ(buf, Bytes(4096, 0x33));
  }
  std::string detach = "losetup -d " + dev;
  EXPECT_EQ(std::system(detach.c_str()), 0);
}

}  // namespace
}  // namespace errseq::block

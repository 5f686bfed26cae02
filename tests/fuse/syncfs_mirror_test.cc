// syncfs(2) through a real errseqfs mount (SEMANTICS.md §3 and §9): the kernel's own syncfs
// reports each super-block error once per open file description, with the mirror's hidden
// file invisible and unmounting unaffected.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "mount_support.h"

namespace errseq::testing {
namespace {

int Syncfs(int fd) { return ::syncfs(fd) == 0 ? 0 : -errno; }
int Fdatasync(int fd) { return ::fdatasync(fd) == 0 ? 0 : -errno; }

int OpenAt(const Mount& m, const std::string& rel, int flags) {
  int fd = ::open(m.Path(rel).c_str(), flags | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0) << rel << ": " << std::strerror(errno);
  return fd;
}

void PutPage(int fd, char byte) {
  std::string page(4096, byte);
  ASSERT_EQ(::pwrite(fd, page.data(), page.size(), 0), 4096);
}

// A child process that opens `path` now and, when told, reports its two syncfs results.
int ChildSyncfsTwice(const std::string& path, int go_fd) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(path.c_str(), O_RDONLY);
    char c;
    if (::read(go_fd, &c, 1) != 1 || fd < 0) ::_exit(99);
    int a = Syncfs(fd), b = Syncfs(fd);
    ::_exit((a == -EIO ? 50 : a ? 90 : 0) + (b == -EIO ? 5 : b ? 9 : 0));
  }
  return pid;
}

TEST(SyncfsMirror, EachDescriptionIsToldOnceOtherFilesFsyncUntouched) {
  SKIP_WITHOUT_FUSE();
  Mount m;
  ASSERT_TRUE(m.Start()) << m.Log();
  ASSERT_TRUE(m.WaitSyncfsMirror()) << m.Log();
  int w = OpenAt(m, "f", O_RDWR | O_CREAT);
  int other = OpenAt(m, "g", O_RDWR | O_CREAT);
  PutPage(w, 'a');
  PutPage(other, 'a');
  ASSERT_EQ(::fsync(w), 0);
  ASSERT_EQ(::fsync(other), 0);
  EXPECT_EQ(Syncfs(w), 0);

  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ChildSyncfsTwice(m.Path("f"), go[0]);
  int r1 = OpenAt(m, "f", O_RDONLY), r2 = OpenAt(m, "g", O_RDONLY);
  // The error is found by background writeback (errseqctl sync): no fsync tells anyone.
  ASSERT_EQ(m.Ctl({"fail", "write", "data", "f"}), 0);
  PutPage(w, 'b');
  PutPage(other, 'b');
  ASSERT_EQ(m.Ctl({"sync"}), 0);
  ASSERT_EQ(m.Ctl({"heal"}), 0);
  EXPECT_EQ(Fdatasync(other), 0) << "an error in f reached fsync of g";
  EXPECT_EQ(Syncfs(r1), -EIO);
  EXPECT_EQ(Syncfs(r1), 0);
  EXPECT_EQ(Syncfs(r2), -EIO) << "syncfs reports the super block's error through any file";
  EXPECT_EQ(Syncfs(r2), 0);
  ASSERT_EQ(::write(go[1], "gg", 1), 1);
  int st;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_EQ(WEXITSTATUS(st), 50) << "another process's description: EIO once, then 0";
  int late = OpenAt(m, "g", O_RDONLY);  // opened after the error was seen
  EXPECT_EQ(Syncfs(late), 0);
  EXPECT_EQ(Fdatasync(w), -EIO);  // fsync's own cursor is independent of syncfs's
  EXPECT_EQ(Syncfs(w), -EIO);
  EXPECT_EQ(Syncfs(w), 0);
  for (int fd : {w, other, r1, r2, late, go[0], go[1]}) ::close(fd);
  EXPECT_EQ(m.Unmount(), 0) << m.Log();
  EXPECT_FALSE(IsMounted(m.mnt()));
}

TEST(SyncfsMirror, AnErrorAnFsyncReportedIsInTheKernelBeforeThatFsyncReturns) {
  SKIP_WITHOUT_FUSE();
  Mount m;
  ASSERT_TRUE(m.Start()) << m.Log();
  ASSERT_TRUE(m.WaitSyncfsMirror()) << m.Log();
  int w = OpenAt(m, "f", O_RDWR | O_CREAT);
  int o = OpenAt(m, "o", O_RDWR | O_CREAT);
  ASSERT_EQ(m.Ctl({"fail", "write", "data", "f"}), 0);
  int mismatches = 0;
  for (int i = 0; i < 300; ++i) {
    PutPage(w, static_cast<char>(i));
    int f = Fdatasync(w);
    int a = Syncfs(o), b = Syncfs(o);
    if (f != -EIO || a != -EIO || b != 0) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0);
  ASSERT_EQ(m.Ctl({"heal"}), 0);
  ::close(w);
  ::close(o);
  EXPECT_EQ(m.Unmount(), 0) << m.Log();
}

TEST(SyncfsMirror, TheHiddenFileCannotBeSeenOrOpened) {
  SKIP_WITHOUT_FUSE();
  Mount m;
  ASSERT_TRUE(m.Start()) << m.Log();
  ASSERT_TRUE(m.WaitSyncfsMirror()) << m.Log();
  // Its name, from the server's own descriptor table.
  std::string name;
  for (const auto& e : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(m.pid()) + "/fd")) {
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.find(".errseqfs-syncfs-") != std::string::npos) {
      name = target.substr(target.rfind('/') + 1);
    }
  }
  ASSERT_FALSE(name.empty()) << "the server holds no hidden file";
  struct stat st;
  EXPECT_EQ(::stat(m.Path(name).c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::open(m.Path(name).c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
  DIR* d = ::opendir(m.mnt().c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d)) EXPECT_EQ(std::string(e->d_name).find(".errseqfs"), std::string::npos);
  ::closedir(d);
  EXPECT_FALSE(std::filesystem::exists(m.src() + "/" + name)) << "it must not reach the source";
  EXPECT_EQ(m.Unmount(), 0) << m.Log();  // and it does not make the unmount EBUSY
  EXPECT_FALSE(IsMounted(m.mnt()));
}

// The mirror keeps a file of the mount mapped. A shared mapping is written back when it is
// torn down, before a dying process's /dev/fuse is closed: were its page dirty, a SIGKILLed
// errseqfs would wait for itself forever.
TEST(SyncfsMirror, SigkillAfterErrorsWereHandedOverStillKills) {
  SKIP_WITHOUT_FUSE();
  for (int round = 0; round < 3; ++round) {
    Mount m;
    ASSERT_TRUE(m.Start()) << m.Log();
    ASSERT_TRUE(m.WaitSyncfsMirror()) << m.Log();
    int w = OpenAt(m, "f", O_RDWR | O_CREAT);
    ASSERT_EQ(m.Ctl({"fail", "write", "data", "f"}), 0);
    for (int i = 0; i < 20; ++i) {
      PutPage(w, 'k');
      EXPECT_EQ(Fdatasync(w), -EIO);
    }
    ::close(w);
    EXPECT_TRUE(m.Kill()) << "round " << round;
    EXPECT_FALSE(IsMounted(m.mnt()));
  }
}

TEST(SyncfsMirror, OffMeansSyncfsReportsNothing) {
  SKIP_WITHOUT_FUSE();
  Mount m({"syncfs_mirror=off"});
  ASSERT_TRUE(m.Start()) << m.Log();
  int w = OpenAt(m, "f", O_RDWR | O_CREAT);
  ASSERT_EQ(m.Ctl({"fail", "write", "data", "f"}), 0);
  PutPage(w, 'x');
  EXPECT_EQ(Fdatasync(w), -EIO);
  EXPECT_EQ(Syncfs(w), 0);
  std::string out;
  ASSERT_EQ(m.Ctl({"stats"}, &out), 0);
  EXPECT_NE(out.find("syncfs_mirror: false"), std::string::npos) << out;
  ASSERT_EQ(m.Ctl({"heal"}), 0);
  ::close(w);
  EXPECT_EQ(m.Unmount(), 0) << m.Log();
}

TEST(SyncfsMirror, BadOptionValueIsRefused) {
  SKIP_WITHOUT_FUSE();
  Mount m({"syncfs_mirror=maybe"});
  EXPECT_FALSE(m.Start());
  EXPECT_NE(m.Log().find("syncfs_mirror= must be on or off"), std::string::npos) << m.Log();
  EXPECT_FALSE(IsMounted(m.mnt()));
}

}  // namespace
}  // namespace errseq::testing

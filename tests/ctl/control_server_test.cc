// The control protocol on a real stack, without a socket: every path spelling that names a file
// arms a rule that fires on that file (a rule that says "armed" and never fires would hide
// exactly the errors a user is testing for), and bad requests get an error reply.
#include "errseq/ctl/control_server.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "../support/stack.h"

namespace errseq {
namespace {

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(s_.sb().Mkdir("db").err(), 0);
    fd_ = s_.Open("db/app.db", O_RDWR | O_CREAT);
  }
  nlohmann::json Call(const nlohmann::json& req) {
    return nlohmann::json::parse(ctl_.Handle(req.dump()));
  }
  // Arms a write fault by `path`, writes a page and returns what fsync says.
  int FsyncAfterFaultOn(const std::string& path) {
    auto r = Call({{"cmd", "fail"}, {"op", "write"}, {"what", "data"}, {"path", path}});
    EXPECT_TRUE(r["ok"].get<bool>()) << r.dump();
    EXPECT_EQ(s_.Write(fd_, 0, 4096, 1), 0);
    int e = s_.Fsync(fd_);
    Call({{"cmd", "heal"}});
    return e;
  }

  testing::Stack s_;
  std::shared_ptr<block::FaultInjector> faults_ = s_.faults();
  ctl::ControlServer ctl_{s_.sb(), faults_, s_.dir() + "/mnt", {}};
  int fd_ = -1;
};

TEST_F(ControlServerTest, EverySpellingOfAPathArmsARuleThatFires) {
  for (const char* p : {"db/app.db", "/db/app.db", "./db/app.db", "db//app.db",
                        "db/../db/./app.db"}) {
    EXPECT_EQ(FsyncAfterFaultOn(p), -EIO) << p;
  }
}

TEST_F(ControlServerTest, RuleIsShownInCanonicalForm) {
  auto r = Call({{"cmd", "fail"}, {"op", "write"}, {"what", "data"}, {"path", "./db/../db/app.db"}});
  ASSERT_TRUE(r["ok"].get<bool>());
  EXPECT_EQ(r["rule"], "0 * write error EIO path=db/app.db");
}

TEST_F(ControlServerTest, BadRequestsGetAnErrorReply) {
  EXPECT_FALSE(Call({{"cmd", "fail"}, {"op", "write"}, {"what", "data"}, {"path", "nope"}})["ok"]);
  EXPECT_FALSE(Call({{"cmd", "fail"}, {"op", "sideways"}})["ok"]);
  EXPECT_FALSE(Call({{"cmd", "fail"}, {"errno", "EWHAT"}})["ok"]);
  EXPECT_FALSE(Call({{"cmd", "load"}, {"text", "0 * write"}})["ok"]);
  EXPECT_FALSE(Call({{"cmd", "frobnicate"}})["ok"]);
  EXPECT_EQ(ctl_.Handle("not json"), R"({"error":"not a JSON object","ok":false})");
  const auto stats = Call({{"cmd", "stats"}});
  EXPECT_TRUE(stats["ok"]);
  EXPECT_EQ(stats["throttled_writes"], 0) << stats.dump();
}

// The socket is 0600. A directory the server makes for it is 0700; one that exists (the user
// named it with -o ctl=) keeps its mode: a socket in /tmp must not make /tmp private.
TEST_F(ControlServerTest, StartLeavesAnExistingDirectoryAloneAndMakesANewOnePrivate) {
  const std::string shared = s_.dir() + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  ASSERT_TRUE(ctl_.Start(shared + "/ctl.sock").ok());
  struct stat st;
  ASSERT_EQ(::stat(shared.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(::stat((shared + "/ctl.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ctl_.Stop();
  ctl::ControlServer other{s_.sb(), faults_, s_.dir() + "/mnt", {}};
  const std::string made = s_.dir() + "/new/dir";
  ASSERT_TRUE(other.Start(made + "/ctl.sock").ok());
  ASSERT_EQ(::stat(made.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  other.Stop();
}

}  // namespace
}  // namespace errseq

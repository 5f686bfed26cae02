// The control protocol on a real stack, without a socket: every path spelling that names a file
// arms a rule that fires on that file (a rule that says "armed" and never fires would hide
// exactly the errors a user is testing for), and bad requests get an error reply.
#include "errseq/ctl/control_server.h"

#include <fcntl.h>

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
  EXPECT_TRUE(Call({{"cmd", "stats"}})["ok"]);
}

}  // namespace
}  // namespace errseq

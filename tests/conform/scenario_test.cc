// The scenario parser (file:line messages for every mistake) and the runner's verdicts on a
// tiny target-independent check: a wrong expectation is reported with its line.
#include "scenario.h"

#include <gtest/gtest.h>

#include "lib_target.h"
#include "runner.h"

namespace errseq::conform {
namespace {

// The one run of a scenario that lists no profiles or policies (the test fails if there are
// more or none; none gives a skipped result, which no test here expects).
RunResult RunOnce(const Scenario& sc, Target& target) {
  auto results = RunScenario(sc, target);
  EXPECT_EQ(results.size(), 1u);
  if (!results.empty()) return results[0];
  RunResult none;
  none.outcome = RunResult::Outcome::kSkip;
  return none;
}

std::string Error(const std::string& text) {
  auto r = ParseScenario(text, "t.scn");
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? "" : r.status().message();
}

TEST(Scenario, ParsesHeaderCommandsAndOverrides) {
  auto r = ParseScenario(
      "name x\nabout some words here\nprofiles errseq legacy\npolicies clean revert\n"
      "kernel no\nneeds evict\n\nopen a f rdwr creat   # comment\n"
      "fsync a => EIO legacy:0 revert:ERR\nread a 4k 4k 0x78 revert:0x62\n",
      "t.scn");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "x");
  EXPECT_EQ(r->about, "some words here");
  EXPECT_EQ(r->profiles.size(), 2u);
  EXPECT_FALSE(r->kernel);
  ASSERT_EQ(r->commands.size(), 3u);
  EXPECT_EQ(r->commands[1].line, 9);
  EXPECT_EQ(r->commands[1].result.For("errseq", "clean"), "EIO");
  EXPECT_EQ(r->commands[1].result.For("legacy", "clean"), "0");
  EXPECT_EQ(r->commands[1].result.For("legacy", "revert"), "ERR");  // the last override wins
  EXPECT_EQ(r->commands[2].byte.For("errseq", "revert"), "0x62");
  EXPECT_EQ(r->commands[2].byte.For("errseq", "clean"), "0x78");
}

TEST(Scenario, MistakesNameFileAndLine) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"name x\nfrobnicate a", "t.scn:2: unknown command 'frobnicate'"},
      {"name x\nopen a", "t.scn:2: 'open' takes 2+ arguments, got 1"},
      {"name x\nopen a f rdwr sideways", "t.scn:2: unknown open flag 'sideways'"},
      {"name x\nfsync a =>", "t.scn:2: '=>' needs a result"},
      {"name x\nfsync a => EWHAT", "t.scn:2: unknown result 'EWHAT'"},
      {"name x\nfsync a => EIO nosuch:0", "t.scn:2: bad override 'nosuch:0'"},
      {"name x\nwrite a 1q 4k 1", "t.scn:2: offset and length must be numbers"},
      {"name x\nwrite a 0 4k 0x100", "t.scn:2: bad byte '0x100'"},
      {"name x\nfail write disk", "t.scn:2: fail: expected 'data PATH' or 'device'"},
      {"name x\nfail write device EWHAT", "t.scn:2: fail: unknown errno 'EWHAT'"},
      {"name x\nsync_file_range a 0 0 write|later", "unknown sync_file_range flag 'later'"},
      {"name x\nprofiles errseq modern", "t.scn:2: unknown profile 'modern'"},
      {"name x\nsync\nname y", "t.scn:3: header line 'name' after the first command"},
      {"sync", "t.scn:1: missing 'name' header"},
  };
  for (const auto& c : cases) {
    std::string m = Error(c.text);
    EXPECT_NE(m.find(c.want), std::string::npos) << c.text << "\n-> " << m;
  }
}

TEST(Runner, WrongExpectationIsReportedWithItsLine) {
  auto sc = ParseScenario("name wrong\nopen a f rdwr creat\nwrite a 0 4k 1\nfsync a => EIO\n"
                          "read a 0 4k 2\n", "t.scn");
  ASSERT_TRUE(sc.ok());
  LibTarget t;
  const RunResult r = RunOnce(*sc, t);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kFail);
  ASSERT_EQ(r.mismatches.size(), 2u);
  EXPECT_EQ(r.mismatches[0].line, 4);
  EXPECT_EQ(r.mismatches[0].actual, "0");
  EXPECT_EQ(r.mismatches[1].line, 5);
  EXPECT_EQ(r.mismatches[1].actual, "byte at +0 is 0x01");
}

// The kernel loses an error nobody was told of when it evicts the inode; errseq keeps the inode
// in core until somebody is told. A LibTarget made with EvictMode::kLinux must answer as the
// kernel does (errseq-conform --evict linux, which scripts/scn_fuzz.py uses), the default one
// as errseq does. The same scenario, expecting the kernel's answers, runs on both.
TEST(Runner, EvictLinuxLosesAnUnseenErrorAsTheKernelDoes) {
  auto sc = ParseScenario("name evicted\nopen w f rdwr creat\nwrite w 0 4k 1\nfsync w\n"
                          "fail write data f\nwrite w 0 4k 2\nclose w\nsync\nheal\nevict f\n"
                          "open n f rdwr\nfsync n\n", "t.scn");
  ASSERT_TRUE(sc.ok());
  LibTarget linux_like(vfs::EvictMode::kLinux);
  EXPECT_EQ(RunOnce(*sc, linux_like).outcome, RunResult::Outcome::kPass);
  LibTarget pinning;
  const RunResult r = RunOnce(*sc, pinning);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kFail);
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_EQ(r.mismatches[0].line, 12);
  EXPECT_EQ(r.mismatches[0].actual, "EIO");
}

}  // namespace
}  // namespace errseq::conform

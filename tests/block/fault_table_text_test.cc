// The fault-table text format: the documented examples parse to the intended rules, every kind
// of mistake gets "line N: what", and formatting round-trips.
#include "errseq/block/fault_table_text.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>

#include "../support/temp_dir.h"

namespace errseq::block {
namespace {

FaultRule One(const std::string& line) {
  auto r = ParseFaultTable(line);
  EXPECT_TRUE(r.ok()) << line << ": " << r.status().ToString();
  if (!r.ok() || r->size() != 1) return {};
  return (*r)[0];
}

std::string Error(const std::string& text) {
  auto r = ParseFaultTable(text);
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
  if (!r.ok()) {
    EXPECT_EQ(r.err(), -EINVAL);
  }
  return r.ok() ? "" : r.status().message();
}

TEST(FaultTableText, DocumentedExamplesParse) {
  const char* doc = R"(# every write fails with EIO
0    *     write   error EIO
# the third read in the first MiB fails with ENOSPC
0    1m    read    error ENOSPC  nth=3

64k  64k   write,discard  drop   from=5
0    *     all     delay 20ms    prob=0.25 seed=7
0    *     flush   error         # EIO is the default
0    *     write   error EDQUOT  path=db/data.db
2048s 8s   write   error 28
)";
  auto r = ParseFaultTable(doc);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 7u);
  const auto& v = *r;
  EXPECT_EQ(v[0].ops, static_cast<uint32_t>(IoOp::kWrite));
  EXPECT_EQ(v[0].err, -EIO);
  EXPECT_EQ(v[0].length, FaultRule::kToEnd);
  EXPECT_EQ(v[0].line, 2);
  EXPECT_EQ(v[1].length, 1u << 20);
  EXPECT_EQ(v[1].when, FaultRule::When::kNth);
  EXPECT_EQ(v[1].n, 3u);
  EXPECT_EQ(v[1].err, -ENOSPC);
  EXPECT_EQ(v[2].start, 65536u);
  EXPECT_EQ(v[2].ops, static_cast<uint32_t>(IoOp::kWrite) | static_cast<uint32_t>(IoOp::kDiscard));
  EXPECT_EQ(v[2].action, FaultRule::Action::kDrop);
  EXPECT_EQ(v[2].when, FaultRule::When::kFrom);
  EXPECT_EQ(v[3].action, FaultRule::Action::kDelay);
  EXPECT_EQ(v[3].delay_ms, 20u);
  EXPECT_DOUBLE_EQ(v[3].probability, 0.25);
  EXPECT_EQ(v[3].seed, 7u);
  EXPECT_EQ(v[4].err, -EIO);
  EXPECT_EQ(v[5].path, "db/data.db");
  EXPECT_EQ(v[6].start, 2048u * 512);
  EXPECT_EQ(v[6].length, 8u * 512);
  EXPECT_EQ(v[6].err, -ENOSPC);
}

TEST(FaultTableText, EmptyAndCommentOnlyTablesAreEmpty) {
  for (const char* t : {"", "\n\n", "# nothing\n   \t\n", "\r\n"}) {
    auto r = ParseFaultTable(t);
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_TRUE(r->empty());
  }
}

TEST(FaultTableText, DelayUnits) {
  EXPECT_EQ(One("0 * all delay 15").delay_ms, 15u);
  EXPECT_EQ(One("0 * all delay 15ms").delay_ms, 15u);
  EXPECT_EQ(One("0 * all delay 2s").delay_ms, 2000u);
}

TEST(FaultTableText, DropOnAllLeavesReadsAlone) {
  EXPECT_EQ(One("0 * all drop").ops, kAllOps & ~static_cast<uint32_t>(IoOp::kRead));
}

TEST(FaultTableText, MessagesNameTheLineAndTheProblem) {
  struct Case {
    std::string text;
    const char* want;
  } cases[] = {
      {"0 * write", "line 1: expected START LENGTH OP ACTION"},
      {"\n\nx * write error", "line 3: bad start 'x'"},
      {"0 12q write error", "line 1: bad length '12q'"},
      {"0 * wirte error", "unknown operation 'wirte'"},
      {"0 * write,, error", "unknown operation ''"},
      {"0 * write explode", "unknown action 'explode'"},
      {"0 * write error EFOO", "unknown errno 'EFOO'"},
      {"0 * write error 0", "unknown errno '0'"},
      {"0 * write error 4096", "unknown errno '4096'"},
      {"0 * read drop", "drop applies to write, flush and discard"},
      {"0 * write delay", "delay needs a duration"},
      {"0 * write delay soon", "bad delay 'soon'"},
      {"0 * write delay 99999999s", "bad delay"},
      {"0 * write error nth=0", "nth= needs a whole number >= 1"},
      {"0 * write error nth=2 from=3", "nth= and from= cannot be combined"},
      {"0 * write error nth=2 nth=3", "option 'nth' given twice"},
      {"0 * write error prob=1.5", "prob= needs a number in (0, 1]"},
      {"0 * write error prob=0", "prob= needs a number in (0, 1]"},
      {"0 * write error prob=nan", "prob= needs a number in (0, 1]"},
      {"0 * write error seed=4", "seed= only makes sense with prob="},
      {"0 * write error color=red", "unknown option 'color'"},
      {"0 * write error =x", "expected key=value"},
      {"0 * write error path=", "path= needs a path"},
      {"0 0 write error", "length 0 matches nothing"},
      {"99999999999999999999 * write error", "bad start"},
      {"16777216t * write error", "start '16777216t' is too large"},
      {"18446744073709551615 1 write error", "start + length overflows"},
      {"0 * write error\x01", "control character 0x01"},
      {std::string("0 * write\0 error", 16), "control character 0x00"},
  };
  for (const auto& c : cases) {
    std::string m = Error(c.text);
    EXPECT_NE(m.find(c.want), std::string::npos) << "input: " << c.text << "\nmessage: " << m;
    EXPECT_EQ(m.rfind("line ", 0), 0u) << m;
  }
}

TEST(FaultTableText, NulByteIsAControlCharacter) {
  std::string t("0 * write error EIO\n0 * write\0error", 35);
  std::string m = Error(t);
  EXPECT_NE(m.find("line 2: control character 0x00"), std::string::npos) << m;
}

TEST(FaultTableText, TooManyRules) {
  std::string t;
  for (size_t i = 0; i <= kMaxFaultRules; ++i) t += "0 * write error\n";
  std::string m = Error(t);
  EXPECT_NE(m.find("line 4097: too many rules"), std::string::npos) << m;
}

TEST(FaultTableText, FormatRoundTrips) {
  const char* lines[] = {
      "0 * write error EIO",          "4096 8192 read error ENOSPC nth=3",
      "0 * all drop",                 "0 * write,flush delay 20ms from=2",
      "0 1 discard error 4000",       "0 * all error EROFS prob=0.125 seed=99 path=a/b",
  };
  for (const char* l : lines) {
    FaultRule r = One(l);
    FaultRule again = One(FormatFaultRule(r));
    EXPECT_EQ(r, again) << l << " -> " << FormatFaultRule(r);
  }
}

TEST(FaultTableText, LoadFileNamesTheFile) {
  errseq::testing::TempDir t;
  std::ofstream(t / "bad.table") << "0 * write error EIO\nbroken\n";
  auto r = LoadFaultTableFile(t / "bad.table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), (t / "bad.table") + ": line 2: expected START LENGTH OP ACTION "
                                                      "[ARG] [OPTIONS], got 1 field");
  auto missing = LoadFaultTableFile(t / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read: No such file"), std::string::npos)
      << missing.status().message();
}

}  // namespace
}  // namespace errseq::block

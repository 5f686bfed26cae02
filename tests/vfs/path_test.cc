// NormalizePath and ParentOf: the canonical relative form every FileSystem and every `path=`
// fault rule uses, and the errno Linux gives for each kind of bad path.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "errseq/vfs/path.h"

namespace errseq::vfs {
namespace {

std::string Norm(std::string_view p) {
  auto r = NormalizePath(p);
  EXPECT_TRUE(r.ok()) << "path: " << p;
  return r.ok() ? *r : "<error>";
}

int NormErr(std::string_view p) {
  auto r = NormalizePath(p);
  return r.ok() ? 0 : r.status().err();
}

TEST(NormalizePath, CanonicalForms) {
  EXPECT_EQ(Norm("/"), "");
  EXPECT_EQ(Norm("."), "");
  EXPECT_EQ(Norm("a"), "a");
  EXPECT_EQ(Norm("/a/b"), "a/b");
  EXPECT_EQ(Norm("a//b/"), "a/b");
  EXPECT_EQ(Norm("./a/./b/."), "a/b");
  EXPECT_EQ(Norm("a/b/../c"), "a/c");
  EXPECT_EQ(Norm("a/.../b"), "a/.../b") << "'...' is an ordinary name";
}

TEST(NormalizePath, DotDotStopsAtTheRoot) {
  EXPECT_EQ(Norm(".."), "");
  EXPECT_EQ(Norm("/../../etc/passwd"), "etc/passwd");
  EXPECT_EQ(Norm("a/../../b"), "b");
}

TEST(NormalizePath, BadPathsGetLinuxErrnos) {
  EXPECT_EQ(NormErr(""), -ENOENT);
  EXPECT_EQ(NormErr(std::string_view("a\0b", 3)), -EINVAL);
  EXPECT_EQ(NormErr(std::string(256, 'x')), -ENAMETOOLONG);
  EXPECT_EQ(NormErr(std::string(255, 'x')), 0);
  std::string longpath;
  while (longpath.size() <= 4095) longpath += "abcdefg/";
  EXPECT_EQ(NormErr(longpath), -ENAMETOOLONG);
}

TEST(ParentOf, Components) {
  EXPECT_EQ(ParentOf("a/b/c"), "a/b");
  EXPECT_EQ(ParentOf("c"), "");
  EXPECT_EQ(ParentOf(""), "");
}

std::string Moved(std::string p, const std::string& from, const std::string& to, bool swap) {
  MovePath(p, from, to, swap);
  return p;
}

TEST(MovePath, RenameMovesTheNameAndWhatIsBeneathItOnly) {
  EXPECT_EQ(Moved("a", "a", "b", false), "b");
  EXPECT_EQ(Moved("a/x/y", "a", "d/b", false), "d/b/x/y");
  EXPECT_EQ(Moved("ab", "a", "b", false), "ab") << "a sibling sharing a prefix stays";
  EXPECT_EQ(Moved("b/x", "a", "b", false), "b/x") << "without swap, `to` is not moved";
  std::string p = "c";
  EXPECT_FALSE(MovePath(p, "a", "b", false));
}

TEST(MovePath, ExchangeSwapsBothWays) {
  EXPECT_EQ(Moved("a/x", "a", "b", true), "b/x");
  EXPECT_EQ(Moved("b/x", "a", "b", true), "a/x");
  EXPECT_EQ(Moved("b", "a", "b", true), "a");
  EXPECT_EQ(Moved("bc", "a", "b", true), "bc");
}

}  // namespace
}  // namespace errseq::vfs

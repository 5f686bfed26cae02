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

}  // namespace
}  // namespace errseq::vfs

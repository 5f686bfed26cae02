// BlockdevFs on its own: a device shown as one fixed-size file in a fixed namespace. Bad
// devices and names are refused with a message; every namespace change gets the errno the
// kernel gives for a block device node's directory; the data path is the device's.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "errseq/block/memory_device.h"
#include "errseq/fs/blockdev_fs.h"

namespace errseq::fs {
namespace {

std::unique_ptr<BlockdevFs> Make(std::shared_ptr<block::BlockDevice> dev) {
  auto r = BlockdevFs::Open(std::move(dev), "disk");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(*r) : nullptr;
}

TEST(BlockdevFs, OpenRefusesBadSizesAndNames) {
  auto odd = BlockdevFs::Open(std::make_shared<block::MemoryDevice>(4096 + 512, 512), "disk");
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.err(), -EINVAL);
  EXPECT_NE(odd.status().message().find("4608"), std::string::npos) << odd.status().message();
  auto big_blocks = BlockdevFs::Open(std::make_shared<block::MemoryDevice>(65536, 8192), "disk");
  EXPECT_EQ(big_blocks.err(), -EINVAL);
  auto dev = std::make_shared<block::MemoryDevice>(65536);
  for (const char* bad : {"", "a/b", ".", ".."}) {
    EXPECT_EQ(BlockdevFs::Open(dev, bad).err(), -EINVAL) << "'" << bad << "'";
  }
}

TEST(BlockdevFs, OneFixedSizeFileInAFixedNamespace) {
  auto fs = Make(std::make_shared<block::MemoryDevice>(1 << 20));
  ASSERT_TRUE(fs);
  EXPECT_TRUE(S_ISDIR(fs->GetAttr("")->mode));
  auto file = fs->GetAttr("disk");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(S_ISREG(file->mode));
  EXPECT_EQ(file->size, 1u << 20);
  EXPECT_TRUE(file->fixed_size);
  EXPECT_EQ(fs->GetAttr("other").err(), -ENOENT);

  auto entries = fs->ReadDir("");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "disk");
  EXPECT_EQ(fs->ReadDir("disk").err(), -ENOTDIR);

  EXPECT_EQ(fs->Create("disk", 0644, true).err(), -EEXIST);
  EXPECT_TRUE(fs->Create("disk", 0644, false).ok());
  EXPECT_EQ(fs->Create("new", 0644, false).err(), -EROFS);
  EXPECT_EQ(fs->Mkdir("d", 0755).err(), -EROFS);
  EXPECT_EQ(fs->Unlink("disk").err(), -EROFS);
  EXPECT_EQ(fs->Rename("disk", "x").err(), -EROFS);
  EXPECT_EQ(fs->Link("disk", "x").err(), -EPERM);
  EXPECT_EQ(fs->Truncate("disk", 0).err(), -EINVAL);
  EXPECT_EQ(fs->Symlink("disk", "l").err(), -EPERM);
  EXPECT_EQ(fs->Readlink("disk").err(), -EINVAL);
  vfs::AttrChange mode;
  mode.mode = 0600;
  EXPECT_EQ(fs->SetAttr("disk", mode).err(), -EPERM);
  vfs::AttrChange times;
  times.mtime = timespec{1, 0};
  EXPECT_TRUE(fs->SetAttr("disk", times).ok());
}

TEST(BlockdevFs, DataPathIsTheDevice) {
  auto dev = std::make_shared<block::MemoryDevice>(1 << 20);
  auto fs = Make(dev);
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->OpenData("other", {}).err(), -ENOENT);
  auto data = fs->OpenData("disk", *fs->GetAttr("disk"));
  ASSERT_TRUE(data.ok());
  std::vector<char> page(mm::kPageSize, 'q');
  iovec iov{page.data(), page.size()};
  ASSERT_TRUE((*data)->WritePages(3, {&iov, 1}, 1 << 20).ok());
  std::vector<char> back(mm::kPageSize);
  iovec riov{back.data(), back.size()};
  ASSERT_TRUE(dev->ReadV(3 * mm::kPageSize, {&riov, 1}).ok());
  EXPECT_EQ(back, page);
  const uint64_t flushes = dev->FlushCount();
  ASSERT_TRUE((*data)->Sync(true).ok());
  ASSERT_TRUE(fs->SyncFs().ok());
  EXPECT_EQ(dev->FlushCount(), flushes + 2);
  EXPECT_EQ(*(*data)->BackingSize(), 1u << 20);
}

}  // namespace
}  // namespace errseq::fs

// MemoryDevice: the BlockDevice contract (whole blocks, bounds, vectored I/O, discard).
#include "errseq/block/memory_device.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

namespace errseq::block {
namespace {

std::vector<std::byte> Bytes(size_t n, int v) { return std::vector<std::byte>(n, std::byte(v)); }

TEST(MemoryDevice, StartsZeroAndRoundTrips) {
  MemoryDevice d(64 * 1024);
  auto buf = Bytes(4096, 0xff);
  ASSERT_TRUE(d.Read(8192, buf).ok());
  EXPECT_EQ(buf, Bytes(4096, 0));
  ASSERT_TRUE(d.Write(8192, Bytes(4096, 0x5a)).ok());
  ASSERT_TRUE(d.Read(8192, buf).ok());
  EXPECT_EQ(buf, Bytes(4096, 0x5a));
  EXPECT_EQ(d.Size(), 64u * 1024);
  EXPECT_EQ(d.BlockSize(), 4096u);
}

TEST(MemoryDevice, MisalignedIoIsEinval) {
  MemoryDevice d(64 * 1024);
  EXPECT_EQ(d.Write(100, Bytes(4096, 1)).err(), -EINVAL);
  EXPECT_EQ(d.Write(0, Bytes(100, 1)).err(), -EINVAL);
  auto buf = Bytes(4096, 0);
  EXPECT_EQ(d.Read(1, buf).err(), -EINVAL);
}

TEST(MemoryDevice, IoPastTheEndIsEio) {
  MemoryDevice d(64 * 1024);
  EXPECT_EQ(d.Write(64 * 1024, Bytes(4096, 1)).err(), -EIO);
  EXPECT_EQ(d.Write(60 * 1024, Bytes(8192, 1)).err(), -EIO);
  EXPECT_EQ(d.Discard(UINT64_MAX - 4095, 4096).err(), -EIO);  // aligned, far past the end
}

TEST(MemoryDevice, VectoredWriteLandsContiguously) {
  MemoryDevice d(64 * 1024);
  auto a = Bytes(4096, 1), b = Bytes(4096, 2);
  iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  ASSERT_TRUE(d.WriteV(4096, v).ok());
  auto buf = Bytes(8192, 0);
  ASSERT_TRUE(d.Read(4096, buf).ok());
  EXPECT_EQ(buf[0], std::byte(1));
  EXPECT_EQ(buf[4096], std::byte(2));
}

TEST(MemoryDevice, DiscardZeroesAndFlushCounts) {
  MemoryDevice d(64 * 1024);
  ASSERT_TRUE(d.Write(0, Bytes(8192, 7)).ok());
  ASSERT_TRUE(d.Discard(0, 4096).ok());
  auto buf = Bytes(8192, 0);
  ASSERT_TRUE(d.Read(0, buf).ok());
  EXPECT_EQ(buf[0], std::byte(0));
  EXPECT_EQ(buf[4096], std::byte(7));
  ASSERT_TRUE(d.Flush().ok());
  EXPECT_EQ(d.FlushCount(), 1u);
}

}  // namespace
}  // namespace errseq::block

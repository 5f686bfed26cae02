// Write throughput of FileDevice against raw pwrite on the same file, and of a FaultDevice with
// an empty table against the FileDevice it wraps. Sequential writes over a 256 MiB image that
// wraps around, so the figures are the write path's cost (syscall + copy into the host's page
// cache), not the disk's. ERRSEQ_BENCH_DIR chooses where the image lives (default: /var/tmp).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "errseq/block/fault_device.h"
#include "errseq/block/file_device.h"

namespace {

using errseq::block::BlockDevice;
using errseq::block::FaultDevice;
using errseq::block::FileDevice;

constexpr uint64_t kImage = 256ull << 20;

std::string ImagePath() {
  const char* d = std::getenv("ERRSEQ_BENCH_DIR");
  return std::string(d ? d : "/var/tmp") + "/errseq-block-bench.img";
}

std::shared_ptr<FileDevice> Image() {
  static std::shared_ptr<FileDevice> dev = [] {
    auto d = FileDevice::Create(ImagePath(), kImage, {});
    if (!d.ok()) {
      std::fprintf(stderr, "cannot create bench image: %s\n", d.status().ToString().c_str());
      std::exit(1);
    }
    std::shared_ptr<FileDevice> p = std::move(*d);
    return p;
  }();
  return dev;
}

void Run(benchmark::State& state, BlockDevice& dev) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<std::byte> buf(n, std::byte(0x5a));
  uint64_t off = 0;
  for (auto _ : state) {
    if (!dev.Write(off, buf).ok()) state.SkipWithError("write failed");
    off = (off + n) % kImage;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_RawPwrite(benchmark::State& state) {
  Image();
  int fd = ::open(ImagePath().c_str(), O_RDWR | O_CLOEXEC);
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<std::byte> buf(n, std::byte(0x5a));
  uint64_t off = 0;
  for (auto _ : state) {
    if (::pwrite(fd, buf.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
      state.SkipWithError("pwrite failed");
    }
    off = (off + n) % kImage;
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RawPwrite)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20);

void BM_FileDeviceWrite(benchmark::State& state) { Run(state, *Image()); }
BENCHMARK(BM_FileDeviceWrite)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20);

void BM_FaultDeviceEmptyWrite(benchmark::State& state) {
  FaultDevice dev(Image());
  Run(state, dev);
}
BENCHMARK(BM_FaultDeviceEmptyWrite)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20);

// An armed table whose only rule never matches these writes (reads only): the cost of
// evaluating a table on the data path.
void BM_FaultDeviceNonMatchingRuleWrite(benchmark::State& state) {
  FaultDevice dev(Image());
  errseq::block::FaultRule r;
  r.ops = static_cast<uint32_t>(errseq::block::IoOp::kRead);
  dev.faults().Load({r});
  Run(state, dev);
}
BENCHMARK(BM_FaultDeviceNonMatchingRuleWrite)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();

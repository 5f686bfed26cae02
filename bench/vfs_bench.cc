// The library's data path against its limits, measured in one run:
//  - buffered writes (4 KiB and 64 KiB, 1 GiB in all) through the library (passthrough fs),
//    against memcpy of the same bytes and against kernel write() to a file on the same disk;
//  - fsync of N dirty MiB through the library against raw pwrite+fdatasync of the same bytes;
//  - error fan-out: recording a writeback error and the next fsync, with 1, 1,000 and 100,000
//    open descriptions on the file (errseq makes this O(1)).
// Files live under ERRSEQ_BENCH_DIR (default /var/tmp).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "errseq/block/fault_table_text.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/vfs/super_block.h"

namespace {

using namespace errseq;

constexpr uint64_t kTotal = 1ull << 30;

std::string BenchDir() {
  const char* d = std::getenv("ERRSEQ_BENCH_DIR");
  std::string dir = std::string(d ? d : "/var/tmp") + "/errseq-vfs-bench";
  std::filesystem::create_directories(dir);
  return dir;
}

struct Lib {
  explicit Lib(vfs::MountOptions o = {}) {
    faults = std::make_shared<block::FaultInjector>();
    auto fs = fs::PassthroughFs::Open(BenchDir(), faults);
    if (!fs.ok()) std::abort();
    sb = std::move(*vfs::SuperBlock::Mount(std::move(*fs), o));
  }
  ~Lib() { sb->Unmount().IgnoreError(); }
  std::shared_ptr<block::FaultInjector> faults;
  std::unique_ptr<vfs::SuperBlock> sb;
};

void BM_Memcpy(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<char> src(n, 'x');
  std::vector<char> dst(256 << 20);  // a cache-busting destination, like a page cache
  for (auto _ : state) {
    for (uint64_t off = 0; off < kTotal; off += n) {
      std::memcpy(dst.data() + off % dst.size(), src.data(), n);
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}
BENCHMARK(BM_Memcpy)->Arg(4096)->Arg(64 << 10)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KernelWrite(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<char> src(n, 'x');
  std::string path = BenchDir() + "/kernel-write";
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    for (uint64_t off = 0; off < kTotal; off += n) {
      if (::write(fd, src.data(), n) != static_cast<ssize_t>(n)) state.SkipWithError("write");
    }
    ::close(fd);
  }
  ::unlink(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}
BENCHMARK(BM_KernelWrite)->Arg(4096)->Arg(64 << 10)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LibBufferedWrite(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<std::byte> src(n, std::byte('x'));
  for (auto _ : state) {
    // Only the write loop is timed (manual time): mounting, the final writeback and tearing
    // down the cache are not part of "buffered write throughput".
    Lib lib;
    auto f = *lib.sb->Open("lib-write", O_WRONLY | O_CREAT | O_TRUNC);
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < kTotal; off += n) {
      if (!lib.sb->Write(*f, src).ok()) state.SkipWithError("write");
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    f.reset();
    lib.sb->Unmount().IgnoreError();
    ::unlink((BenchDir() + "/lib-write").c_str());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}
BENCHMARK(BM_LibBufferedWrite)->Arg(4096)->Arg(64 << 10)->Unit(benchmark::kMillisecond)->UseManualTime();

// fsync of N dirty MiB: the write of the dirty data is outside the timing; the fsync is timed.
void BM_LibFsyncDirty(benchmark::State& state) {
  const size_t mib = static_cast<size_t>(state.range(0));
  std::vector<std::byte> src(1 << 20, std::byte('y'));
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 600'000;  // no background writeback during the test
  o.writeback.dirty_background_bytes = 4ull << 30;
  o.writeback.dirty_limit_bytes = 4ull << 30;
  Lib lib(o);
  auto f = *lib.sb->Open("lib-fsync", O_WRONLY | O_CREAT | O_TRUNC);
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < mib; ++i) (void)lib.sb->Pwrite(*f, src, i << 20);
    state.ResumeTiming();
    if (!lib.sb->Fsync(*f).ok()) state.SkipWithError("fsync");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (mib << 20)));
}
BENCHMARK(BM_LibFsyncDirty)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RawPwriteFdatasync(benchmark::State& state) {
  const size_t mib = static_cast<size_t>(state.range(0));
  std::vector<char> src(1 << 20, 'y');
  std::string path = BenchDir() + "/raw-fsync";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  for (auto _ : state) {
    for (size_t i = 0; i < mib; ++i) {
      if (::pwrite(fd, src.data(), src.size(), static_cast<off_t>(i << 20)) != 1 << 20) {
        state.SkipWithError("pwrite");
      }
    }
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (mib << 20)));
}
BENCHMARK(BM_RawPwriteFdatasync)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// Record one writeback error on a file with N open descriptions, then one fsync.
void BM_ErrorFanOut(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  vfs::MountOptions o;
  o.writeback.start_flusher = false;
  Lib lib(o);
  std::vector<std::shared_ptr<vfs::File>> files;
  files.reserve(n);
  for (size_t i = 0; i < n; ++i) files.push_back(*lib.sb->Open("fanout", O_RDWR | O_CREAT));
  lib.faults->Load(*block::ParseFaultTable("0 * write error EIO path=fanout"));
  std::vector<std::byte> page(4096, std::byte(1));
  for (auto _ : state) {
    (void)lib.sb->Pwrite(*files[0], page, 0);
    if (lib.sb->Fsync(*files[0]).err() != -EIO) state.SkipWithError("expected EIO");
  }
  lib.faults->Clear();
  files.clear();
}
BENCHMARK(BM_ErrorFanOut)->Arg(1)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

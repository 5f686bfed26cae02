// The library's data path against its limits, measured in one run:
//  - buffered writes (4 KiB and 64 KiB, 1 GiB in all) through the library (passthrough fs),
//    against memcpy of the same bytes and against kernel write() to a file on the same disk;
//  - fsync of N dirty MiB through the library against raw pwrite+fdatasync of the same bytes;
//  - error fan-out: recording a writeback error and the next fsync, with 1, 1,000 and 100,000
//    open descriptions on the file (errseq makes this O(1));
//  - W3's pattern without FUSE: 64 random 4 KiB overwrites of a 256 MiB file, then fsync,
//    through the library against raw pwrite+fsync of the same offsets (the same file);
//  - a cold sequential read of a 256 MiB file through the library against read().
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

// W3's batch: 64 random page-aligned 4 KiB writes into a 256 MiB file, then fsync. One batch
// per iteration; the offsets repeat from one run to the next (fixed seed). Each run writes the
// file afresh (untimed) and removes it. Arg 1: through the
// library (its writes land in the cache, its fsync writes them back and syncs); arg 0: raw
// pwrite + fsync on the same host file.
constexpr uint64_t kRandFile = 256ull << 20;

std::string RandFile() {
  std::string path = BenchDir() + "/rand-256m";
  std::vector<char> mib(1 << 20, 'r');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::abort();
  for (uint64_t off = 0; off < kRandFile; off += mib.size()) {
    if (::pwrite(fd, mib.data(), mib.size(), static_cast<off_t>(off)) < 0) std::abort();
  }
  ::fsync(fd);
  ::close(fd);
  return path;
}

void BM_RandomWritesThenFsync(benchmark::State& state) {
  const bool lib_path = state.range(0) != 0;
  const std::string path = RandFile();
  std::vector<std::byte> page(4096, std::byte('w'));
  uint64_t rng = 88172645463325252ull;
  auto next_off = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (rng % (kRandFile / 4096)) * 4096;
  };
  std::unique_ptr<Lib> lib;
  std::shared_ptr<vfs::File> f;
  int fd = -1;
  if (lib_path) {
    vfs::MountOptions o;
    o.writeback.dirty_expire_ms = 600'000;  // only the fsync writes back
    lib = std::make_unique<Lib>(o);
    f = *lib->sb->Open("rand-256m", O_RDWR);
  } else {
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) {
      const uint64_t off = next_off();
      if (lib_path) {
        if (!lib->sb->Pwrite(*f, page, off).ok()) state.SkipWithError("pwrite");
      } else if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(off)) != 4096) {
        state.SkipWithError("pwrite");
      }
    }
    const bool ok = lib_path ? lib->sb->Fsync(*f).ok() : ::fsync(fd) == 0;
    if (!ok) state.SkipWithError("fsync");
  }
  if (fd >= 0) ::close(fd);
  f.reset();
  lib.reset();
  ::unlink(path.c_str());  // made again by the next run: no 256 MiB left behind
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 64));
  state.SetLabel(lib_path ? "library" : "raw pwrite+fsync");
}
BENCHMARK(BM_RandomWritesThenFsync)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// A cold sequential read of a 256 MiB file in 4 KiB or 128 KiB reads: through the library
// (cache_reads on, the library's default: every page goes through its cache, read in by its
// readahead) against read() of the same host file. Before each run the host's cached pages of
// the file are dropped (POSIX_FADV_DONTNEED) and the library starts with an empty cache.
void BM_ColdSequentialRead(benchmark::State& state) {
  const bool lib_path = state.range(0) != 0;
  const size_t n = static_cast<size_t>(state.range(1));
  const std::string path = RandFile();
  std::vector<std::byte> buf(n);
  for (auto _ : state) {
    state.PauseTiming();
    int hfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ::posix_fadvise(hfd, 0, 0, POSIX_FADV_DONTNEED);
    std::unique_ptr<Lib> lib;
    std::shared_ptr<vfs::File> f;
    if (lib_path) {
      lib = std::make_unique<Lib>();
      f = *lib->sb->Open("rand-256m", O_RDONLY);
    }
    state.ResumeTiming();
    uint64_t total = 0;
    for (;;) {
      size_t got = 0;
      if (lib_path) {
        auto r = lib->sb->Read(*f, buf);
        if (!r.ok()) state.SkipWithError("read");
        got = r.ok() ? *r : 0;
      } else {
        ssize_t r = ::read(hfd, buf.data(), n);
        got = r > 0 ? static_cast<size_t>(r) : 0;
      }
      if (got == 0) break;
      total += got;
    }
    if (total != kRandFile) state.SkipWithError("short read");
    state.PauseTiming();
    f.reset();
    lib.reset();
    ::close(hfd);
    state.ResumeTiming();
  }
  ::unlink(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRandFile));
  state.SetLabel(lib_path ? "library" : "kernel read()");
}
BENCHMARK(BM_ColdSequentialRead)
    ->Args({0, 4096})->Args({1, 4096})->Args({0, 128 << 10})->Args({1, 128 << 10})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

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

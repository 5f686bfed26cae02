// Cost of the errseq core against the bare atomics it is built from: the no-error check against
// one atomic load, set and check_and_advance against a CAS; uncontended and on 2 threads
// sharing one value (each thread owns its cursor).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>

#include "errseq/core/errseq.h"

namespace {

using errseq::Errseq;
using errseq::errseq_t;

std::atomic<uint32_t> g_word{0};
Errseq g_errseq;

void BM_BareAtomicLoadCompare(benchmark::State& state) {
  const uint32_t since = 0;
  for (auto _ : state) {
    bool same = g_word.load(std::memory_order_acquire) == since;
    benchmark::DoNotOptimize(same);
  }
}
BENCHMARK(BM_BareAtomicLoadCompare)->Threads(1)->Threads(2);

void BM_ErrseqCheckNoError(benchmark::State& state) {
  const errseq_t since = g_errseq.Sample();
  for (auto _ : state) {
    int e = g_errseq.Check(since);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_ErrseqCheckNoError)->Threads(1)->Threads(2);

void BM_BareCas(benchmark::State& state) {
  uint32_t v = g_word.load();
  for (auto _ : state) {
    uint32_t next = v + 1;
    if (!g_word.compare_exchange_strong(v, next, std::memory_order_acq_rel)) continue;
    v = next;
  }
}
BENCHMARK(BM_BareCas)->Threads(1)->Threads(2);

// A CAS loop that retries until its store lands: the fair baseline for Set under contention,
// which also retries until its value is stored.
void BM_BareCasLoop(benchmark::State& state) {
  for (auto _ : state) {
    uint32_t v = g_word.load(std::memory_order_acquire);
    while (!g_word.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
    }
  }
}
BENCHMARK(BM_BareCasLoop)->Threads(1)->Threads(2);

// Each iteration records a new error (the previous one was seen, so the counter moves: one
// successful CAS) and checks-and-advances this thread's cursor (one CAS).
void BM_ErrseqSetThenCheckAndAdvance(benchmark::State& state) {
  static Errseq e;
  errseq_t cursor = e.Sample();
  for (auto _ : state) {
    e.Set(-EIO);
    int r = e.CheckAndAdvance(&cursor);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ErrseqSetThenCheckAndAdvance)->Threads(1)->Threads(2);

// The same pair of bare CAS operations, for comparison.
void BM_BareCasPair(benchmark::State& state) {
  uint32_t v = g_word.load();
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      uint32_t next = v + 1;
      if (g_word.compare_exchange_strong(v, next, std::memory_order_acq_rel)) v = next;
    }
  }
}
BENCHMARK(BM_BareCasPair)->Threads(1)->Threads(2);

void BM_ErrseqSetUnseen(benchmark::State& state) {
  static Errseq e;
  int i = 0;
  for (auto _ : state) {
    errseq_t v = e.Set((++i & 1) ? -EIO : -ENOSPC);  // errno replaced, one CAS
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_ErrseqSetUnseen)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();

// The diagnostic sink (see include/errseq/core/diagnostic.h).
#include "errseq/core/diagnostic.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace errseq {
namespace {

void StderrSink(std::string_view message) {
  std::string line(message);
  line.push_back('\n');
  // One write(2) so concurrent diagnostics do not interleave; a failure has nowhere to go.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

std::atomic<DiagnosticSink> g_sink{&StderrSink};
std::atomic<uint64_t> g_count{0};

}  // namespace

DiagnosticSink SetDiagnosticSink(DiagnosticSink sink) {
  return g_sink.exchange(sink ? sink : &StderrSink, std::memory_order_acq_rel);
}

void Diagnose(std::string_view message) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  g_sink.load(std::memory_order_acquire)(message);
}

uint64_t DiagnosticCount() { return g_count.load(std::memory_order_relaxed); }

}  // namespace errseq

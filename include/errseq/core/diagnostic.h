// Diagnostics: where errseq says "that call was wrong" without failing it (the kernel's WARN).
// The errseq core refuses an invalid errno with a diagnostic and no state change; this file
// is where that diagnostic goes. The default sink writes one line to stderr; tests and
// front ends install their own. The sink is an atomic function pointer: safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace errseq {

using DiagnosticSink = void (*)(std::string_view message);

// Installs `sink` (nullptr restores the stderr default) and returns the previous one.
DiagnosticSink SetDiagnosticSink(DiagnosticSink sink);

// Sends one diagnostic line to the current sink and counts it.
void Diagnose(std::string_view message);

// How many diagnostics were issued since the process started.
uint64_t DiagnosticCount();

}  // namespace errseq

// A seeded random sequence of operations drives the real Errseq and a plain reference model
// written from SEMANTICS.md §1 in a different shape (fields, not bits); every result and every
// stored value must agree. Prints the seed and step on the first disagreement.
// ERRSEQ_SEED=<n> reruns one seed; ERRSEQ_MODEL_STEPS=<n> changes the length.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "errseq/core/diagnostic.h"
#include "errseq/core/errseq.h"

namespace errseq {
namespace {

// The reference: an errno, a seen flag and a counter, each a plain field.
struct Model {
  int err = 0;  // magnitude, 0 = nothing ever recorded
  bool seen = false;
  uint32_t ctr = 0;  // 19 bits

  uint32_t Value() const { return (ctr << 13) | (seen ? 0x1000u : 0u) | static_cast<uint32_t>(err); }
  void Load(uint32_t v) {
    err = static_cast<int>(v & 0xfff);
    seen = (v & 0x1000) != 0;
    ctr = v >> 13;
  }

  // "set(err): err must be in [-4095, -1]; anything else is refused and changes nothing.
  //  unseen + other errno -> errno replaced, counter kept; unseen + same errno -> no change;
  //  seen + any errno -> counter+1, unseen."
  uint32_t Set(int e) {
    if (e < -4095 || e > -1) return Value();
    if (seen) ctr = (ctr + 1) & ((1u << 19) - 1);
    err = -e;
    seen = false;
    return Value();
  }
  uint32_t Sample() const { return seen ? Value() : 0; }
  uint32_t SampleV413() {
    if (Value() == 0) return 0;
    seen = true;
    return Value();
  }
  int Check(uint32_t since) const { return Value() == since ? 0 : -err; }
  int CheckAndAdvance(uint32_t* since) {
    if (Value() == *since) return 0;
    seen = true;
    *since = Value();
    return -err;
  }
};

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : def;
}

void NullSink(std::string_view) {}

void RunModel(uint64_t seed, uint64_t steps, uint32_t start) {
  std::mt19937_64 rng(seed);
  Errseq real(start);
  Model model;
  model.Load(start);
  constexpr int kCursors = 5;
  errseq_t cur_real[kCursors];
  uint32_t cur_model[kCursors];
  for (int i = 0; i < kCursors; ++i) cur_real[i] = cur_model[i] = real.Sample();
  const int errs[] = {-EIO, -ENOSPC, -EROFS, -EDQUOT, -1, -4095, 0, 5, -4096};

  for (uint64_t step = 0; step < steps; ++step) {
    int op = static_cast<int>(rng() % 100);
    int i = static_cast<int>(rng() % kCursors);
    std::string what;
    int r_real = 0, r_model = 0;
    if (op < 30) {
      int e = errs[rng() % (op < 28 ? 6 : 9)];  // invalid errnos now and then
      r_real = static_cast<int>(real.Set(e));
      r_model = static_cast<int>(model.Set(e));
      what = "set " + std::to_string(e);
    } else if (op < 40) {
      cur_real[i] = real.Sample();
      cur_model[i] = model.Sample();
      r_real = static_cast<int>(cur_real[i]);
      r_model = static_cast<int>(cur_model[i]);
      what = "sample";
    } else if (op < 45) {
      cur_real[i] = real.SampleV4_13();
      cur_model[i] = model.SampleV413();
      r_real = static_cast<int>(cur_real[i]);
      r_model = static_cast<int>(cur_model[i]);
      what = "sample-4.13";
    } else if (op < 60) {
      r_real = real.Check(cur_real[i]);
      r_model = model.Check(cur_model[i]);
      what = "check";
    } else if (op < 65) {
      uint32_t arbitrary = static_cast<uint32_t>(rng());
      r_real = real.Check(arbitrary);
      r_model = model.Check(arbitrary);
      what = "check arbitrary";
    } else {
      r_real = real.CheckAndAdvance(&cur_real[i]);
      r_model = model.CheckAndAdvance(&cur_model[i]);
      what = "check_and_advance";
    }
    if (r_real != r_model || real.Load() != model.Value() || cur_real[i] != cur_model[i]) {
      FAIL() << "seed " << seed << " step " << step << " (" << what << " on cursor " << i
             << "): result real=" << r_real << " model=" << r_model << ", value real=0x"
             << std::hex << real.Load() << " model=0x" << model.Value() << ", cursor real=0x"
             << cur_real[i] << " model=0x" << cur_model[i];
    }
  }
}

TEST(ErrseqModel, MillionRandomStepsAgreeWithReferenceModel) {
  DiagnosticSink prev = SetDiagnosticSink(&NullSink);
  uint64_t seed = EnvOr("ERRSEQ_SEED", 20261125);
  uint64_t steps = EnvOr("ERRSEQ_MODEL_STEPS", 1'000'000);
  RunModel(seed, steps, 0);
  SetDiagnosticSink(prev);
}

TEST(ErrseqModel, RandomStepsAgreeStartingJustBeforeCounterWrap) {
  DiagnosticSink prev = SetDiagnosticSink(&NullSink);
  uint64_t seed = EnvOr("ERRSEQ_SEED", 7);
  // Counter at its maximum, EIO seen: the next set wraps the counter to 0.
  uint32_t start = (((1u << 19) - 1) << 13) | Errseq::kSeen | EIO;
  for (uint64_t s = seed; s < seed + 20; ++s) RunModel(s, 20'000, start);
  SetDiagnosticSink(prev);
}

}  // namespace
}  // namespace errseq

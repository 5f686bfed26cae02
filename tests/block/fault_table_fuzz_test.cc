// Seeded random-input test of the fault-table parser (run under ASan+UBSan): random bytes and
// mutations of valid tables. The parser must never crash, and must either accept the input or
// reject it with "line N: ..." where N is a line of the input.
// ERRSEQ_SEED and ERRSEQ_FUZZ_CASES override the seed and the number of inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>

#include "errseq/block/fault_table_text.h"

namespace errseq::block {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : def;
}

const char* kTokens[] = {"0", "*", "max", "4k", "1m", "8s", "18446744073709551615", "99999t",
                         "read", "write", "flush", "discard", "all", "read,write", ",",
                         "error", "drop", "delay", "EIO", "ENOSPC", "EFOO", "20ms", "3s", "-1",
                         "nth=", "nth=2", "from=1", "prob=0.5", "prob=", "seed=3", "path=a/b",
                         "=", "#", "\t", "\r", "\n", "\x01", std::string("\0", 1).c_str(), "\xff",
                         "1e309", "0x10", "nan"};

std::string RandomInput(std::mt19937_64& rng) {
  std::string s;
  switch (rng() % 3) {
    case 0: {  // raw bytes
      size_t n = rng() % 200;
      for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() & 0xff));
      break;
    }
    case 1: {  // token soup
      size_t n = rng() % 20;
      for (size_t i = 0; i < n; ++i) {
        s += kTokens[rng() % std::size(kTokens)];
        s += (rng() % 4) ? " " : "\n";
      }
      break;
    }
    default: {  // a valid line, mutated
      s = "0 * write error EIO nth=3\n64k 64k read delay 5ms prob=0.5 seed=1\n";
      size_t muts = 1 + rng() % 4;
      for (size_t i = 0; i < muts && !s.empty(); ++i) {
        size_t pos = rng() % s.size();
        switch (rng() % 3) {
          case 0: s.erase(pos, 1 + rng() % 5); break;
          case 1: s.insert(pos, kTokens[rng() % std::size(kTokens)]); break;
          default: s[pos] = static_cast<char>(rng() & 0xff); break;
        }
      }
    }
  }
  return s;
}

TEST(FaultTableFuzz, RandomInputsNeverCrashAndErrorsNameALine) {
  const uint64_t seed = EnvOr("ERRSEQ_SEED", 1234);
  const uint64_t cases = EnvOr("ERRSEQ_FUZZ_CASES", 200'000);
  std::mt19937_64 rng(seed);
  uint64_t rejected = 0;
  for (uint64_t i = 0; i < cases; ++i) {
    std::string in = RandomInput(rng);
    auto r = ParseFaultTable(in);
    if (r.ok()) {
      // Whatever was accepted formats to text that parses to the same rules.
      auto again = ParseFaultTable(FormatFaultTable(*r));
      ASSERT_TRUE(again.ok()) << "seed " << seed << " case " << i;
      ASSERT_EQ(again->size(), r->size()) << "seed " << seed << " case " << i;
      continue;
    }
    ++rejected;
    const std::string& m = r.status().message();
    int line = 0;
    ASSERT_EQ(std::sscanf(m.c_str(), "line %d:", &line), 1)
        << "seed " << seed << " case " << i << ": " << m;
    int lines = 1 + static_cast<int>(std::count(in.begin(), in.end(), '\n'));
    ASSERT_GE(line, 1) << "seed " << seed << " case " << i;
    ASSERT_LE(line, lines) << "seed " << seed << " case " << i << ": " << m;
  }
  EXPECT_GT(rejected, cases / 2);
}

}  // namespace
}  // namespace errseq::block

// errno <-> name, from glibc's own table (strerrorname_np), built once.
#include "errseq/core/errno_name.h"

#include <cstring>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

namespace errseq {
namespace {

const std::unordered_map<std::string, int>& NameTable() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string, int>();
    for (int e = 1; e <= 4095; ++e) {
      if (const char* n = strerrorname_np(e)) t->emplace(n, e);  // first (canonical) wins
    }
    return t;
  }();
  return *table;
}

}  // namespace

std::string ErrnoName(int err) {
  int e = err < 0 ? -err : err;
  if (e == 0) return "0";
  if (const char* n = strerrorname_np(e)) return n;
  return fmt::format("E{}", e);
}

int ErrnoFromName(std::string_view name) {
  if (name.empty()) return 0;
  if (name.front() >= '0' && name.front() <= '9') {
    if (name.size() > 4) return 0;
    int v = 0;
    for (char c : name) {
      if (c < '0' || c > '9') return 0;
      v = v * 10 + (c - '0');
    }
    return v >= 1 && v <= 4095 ? v : 0;
  }
  const auto& t = NameTable();
  auto it = t.find(std::string(name));
  return it == t.end() ? 0 : it->second;
}

}  // namespace errseq

// Path normalisation (see path.h).
#include "errseq/vfs/path.h"

#include <cerrno>
#include <vector>

namespace errseq::vfs {

Result<std::string> NormalizePath(std::string_view path) {
  if (path.empty()) return Status::Error(-ENOENT);
  if (path.size() > 4095) return Status::Error(-ENAMETOOLONG);
  if (path.find('\0') != std::string_view::npos) return Status::Error(-EINVAL);
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".") continue;
    if (c.size() > 255) return Status::Error(-ENAMETOOLONG);
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (std::string_view c : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(c);
  }
  return out;
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

namespace {
// `p` is `dir` or lies beneath it: replace that leading part by `with`.
bool Replace(std::string& p, const std::string& dir, const std::string& with) {
  if (p.compare(0, dir.size(), dir) != 0) return false;
  if (p.size() != dir.size() && p[dir.size()] != '/') return false;
  p = with + p.substr(dir.size());
  return true;
}
}  // namespace

bool MovePath(std::string& p, const std::string& from, const std::string& to, bool swap) {
  if (Replace(p, from, to)) return true;
  return swap && Replace(p, to, from);
}

}  // namespace errseq::vfs

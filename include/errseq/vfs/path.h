// Path normalisation for the VFS: every path a caller gives is turned into the canonical
// relative form a FileSystem expects ("" is the root), or refused with the errno Linux gives.
// Public because fault rules name files by the same canonical path the file systems present
// to the fault injector: whoever builds a `path=` rule must normalise it here.
#pragma once

#include <string>
#include <string_view>

#include "errseq/core/status.h"

namespace errseq::vfs {

// Leading '/' is ignored (paths are relative to the mount's root either way); "." and empty
// components are dropped; ".." removes the previous component and stays at the root when
// there is none (as at "/"). -ENOENT for "", -EINVAL for a NUL byte, -ENAMETOOLONG for a
// component over 255 bytes or a path over 4095.
Result<std::string> NormalizePath(std::string_view path);

// "a/b/c" -> "a/b"; "c" -> "".
std::string ParentOf(const std::string& path);

// What rename(from, to) makes of the canonical path `p`: `from` itself or anything beneath it
// moves to `to`. With `swap` (RENAME_EXCHANGE) `to` and what lies beneath it also move to
// `from`. Returns whether `p` changed.
bool MovePath(std::string& p, const std::string& from, const std::string& to, bool swap);

}  // namespace errseq::vfs

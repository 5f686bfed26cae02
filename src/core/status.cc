// Status rendering (see include/errseq/core/status.h).
#include "errseq/core/status.h"

#include <cstring>

#include "errseq/core/errno_name.h"

namespace errseq {

const std::string& Status::message() const {
  static const std::string kEmpty;
  return msg_ ? *msg_ : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = ErrnoName(err_);
  s += ": ";
  if (msg_) {
    s += *msg_;
  } else {
    s += strerror(-err_);
  }
  return s;
}

}  // namespace errseq

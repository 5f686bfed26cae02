// Status and Result: the one error type used at every layer boundary of errseq.
//
// An error is an errno-style negative int (as in the kernel), optionally with a human message
// for the user (a path, a line number). The OK path carries no allocation: a Status is an int
// and a null pointer. Result<T> holds either a value or a non-OK Status. Both are
// [[nodiscard]], so an ignored error is a compile-time warning (an error under -Werror).
// errno converts into a Status in exactly one place per boundary (the block layer on the way in,
// the FUSE front end on the way out).
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace errseq {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // REQUIRES: -4095 <= err < 0.
  static Status Error(int err) { return Status(err, nullptr); }
  static Status Error(int err, std::string message) {
    return Status(err, std::make_shared<const std::string>(std::move(message)));
  }
  // From a positive errno value such as the global errno after a failed syscall.
  static Status FromErrno(int positive_errno, std::string message) {
    return Error(-positive_errno, std::move(message));
  }

  bool ok() const { return err_ == 0; }
  // 0 when OK, else a negative errno.
  int err() const { return err_; }
  // The message given at construction, or "" (never the errno text).
  const std::string& message() const;
  // "ENOENT: cannot open 'x': No such file or directory" or "OK".
  std::string ToString() const;

  // Explicitly drop a status whose failure does not matter (a best-effort cleanup).
  void IgnoreError() const {}

 private:
  Status(int err, std::shared_ptr<const std::string> msg) : err_(err), msg_(std::move(msg)) {
    assert(err < 0 && err >= -4095);
  }
  int err_ = 0;
  std::shared_ptr<const std::string> msg_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // REQUIRES: !status.ok()
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  int err() const { return ok() ? 0 : std::get<Status>(v_).err(); }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace errseq

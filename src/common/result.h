// Errors as values. Status carries an errno-style code and a message; Result<T> is a Status or a T, with the
// parts of the std::expected interface we use (has_value, value, error, operator bool, *, ->).
// Not thread-safe per object; cheap to move. No exceptions anywhere.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace uvpn {

class Status {
 public:
  Status() = default;  // ok
  Status(int code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status Ok() { return {}; }
  // Error from errno value `err` with a context prefix: "context: strerror(err)".
  static Status Errno(int err, const std::string& context);
  static Status Invalid(std::string msg) { return {22 /*EINVAL*/, std::move(msg)}; }
  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const { return ok() ? "ok" : msg_; }

 private:
  int code_ = 0;
  std::string msg_;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {      // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& error() const { assert(!has_value()); return std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace uvpn

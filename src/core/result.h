// Result<T>: the return type of every recoverable failure (files, configs, requests).
// Holds either a value or a one-line error message ("file: field: what is wrong").
#pragma once
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace r1 {

/// A recoverable error: one line naming the file/field and what is wrong.
struct Error {
  std::string message;
};

/// Makes an Error from a fmt format string.
template <typename... Args>
Error make_error(fmt::format_string<Args...> f, Args&&... args) {
  return Error{fmt::format(f, std::forward<Args>(args)...)};
}

/// Either a T or an Error. Access the value only after checking ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error err) : v_(std::move(err)) {}           // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

/// Result without a value.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  const std::string& message() const { return err_.message; }

 private:
  Error err_;
  bool ok_ = true;
};

inline Result<void> ok_result() { return {}; }

}  // namespace r1

/// Propagates an error from an expression returning Result<...>.
#define R1_TRY(expr)                                \
  do {                                              \
    auto&& r1_try_tmp_ = (expr);                    \
    if (!r1_try_tmp_.ok()) return r1_try_tmp_.error(); \
  } while (0)

/// Declares `var` from a Result expression, returning its error on failure.
#define R1_ASSIGN_OR_RETURN(var, expr)              \
  auto var##_result_ = (expr);                      \
  if (!var##_result_.ok()) return var##_result_.error(); \
  auto var = std::move(var##_result_).value()

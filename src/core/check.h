// R1_CHECK: broken invariants (a shape mismatch inside an op) throw r1::CheckError with the
// location and a message; the CLI catches it and prints one line, so nothing aborts the process.
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace r1 {

/// Thrown when an internal invariant fails (a bug or a shape mismatch), never for bad user input.
struct CheckError : std::logic_error {
  using std::logic_error::logic_error;
};

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace r1

#define R1_CHECK(cond, ...)                                                              \
  do {                                                                                   \
    if (!(cond)) [[unlikely]]                                                            \
      ::r1::check_failed(__FILE__, __LINE__, #cond, ::fmt::format("" __VA_ARGS__));      \
  } while (0)

// Helpers shared by the CLI integration tests (tests/*_cli_test.cpp): where the built r1 binary,
// the source tree and the shared data are, shell quoting, and running r1 with stdout, stderr and
// the exit code captured. Per-test temporary folders and shared_dir() are in core/test_util.h.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/test_util.h"

namespace r1::test::cli {

/// The built r1 binary: $R1_BIN, else the one this build made (R1_BIN_DEFAULT). Never a skip: a
/// missing binary fails the test that runs it.
inline std::string r1_bin() {
  const char* b = std::getenv("R1_BIN");
  return b && *b ? b : R1_BIN_DEFAULT;
}

/// Fails the test (a missing binary is never a skip) when the r1 binary does not exist.
#define R1_REQUIRE_BIN()                                                             \
  ASSERT_TRUE(std::filesystem::exists(::r1::test::cli::r1_bin()))                    \
      << "no r1 binary at " << ::r1::test::cli::r1_bin() << " (build the r1 target)"

/// The source tree: $R1_SOURCE_DIR, else the R1_SOURCE_DIR compile definition.
inline std::string source_dir() {
  if (const char* s = std::getenv("R1_SOURCE_DIR"); s && *s) return s;
  return R1_SOURCE_DIR;
}

/// The shared data folder: $R1_SHARED, else $R1_SOURCE_DIR/../shared, else shared_dir().
inline std::string shared_root() {
  if (const char* s = std::getenv("R1_SHARED"); s && *s) return s;
  if (const char* s = std::getenv("R1_SOURCE_DIR"); s && *s) return std::string(s) + "/../shared";
  return r1::test::shared_dir();
}

/// The folder of the stories260K test model (GGUF and its llama.cpp reference outputs).
inline std::string stories_dir() { return shared_root() + "/models/stories260K"; }

/// `s` as one POSIX shell word: in single quotes, each ' written as '\''.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

/// The exit code in a wait status from system()/pclose(); -1 when the process did not exit
/// (killed by a signal).
inline int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

/// Runs a shell command line; its exit code, or -1 when it did not exit.
inline int sh(const std::string& cmd) { return exit_code(std::system(cmd.c_str())); }

/// The whole content of a file, as bytes; "" when it cannot be read.
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// What one r1 process did: exit code (-1 when it did not exit), stdout, stderr.
struct CliRun {
  int rc = -1;
  std::string out, err;
};

/// Runs `r1 ARGS...` (each argument quoted, so any bytes pass), stdin from `stdin_text` or
/// /dev/null when null; stdout read through a pipe, stderr through a temporary file.
inline CliRun run_r1(const std::vector<std::string>& args, const std::string* stdin_text = nullptr) {
  r1::test::TempDir tmp;
  std::string cmd = quote(r1_bin());
  for (const auto& a : args) cmd.append(" ").append(quote(a));
  if (stdin_text) {
    std::ofstream(tmp.file("in"), std::ios::binary) << *stdin_text;
    cmd.append(" < ").append(quote(tmp.file("in")));
  } else {
    cmd.append(" < /dev/null");
  }
  cmd.append(" 2> ").append(quote(tmp.file("err")));
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.rc = exit_code(pclose(p));
  r.err = slurp(tmp.file("err"));
  return r;
}

/// Runs `r1 ARGS` where `args` is already a shell fragment (the caller quotes), with
/// `stdin_text` on stdin; stdin, stdout and stderr go through files in `dir`.
inline CliRun run_r1(const std::string& args, const std::string& stdin_text,
                     const r1::test::TempDir& dir) {
  const std::string in = dir.file("stdin.txt"), out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  std::ofstream(in, std::ios::binary) << stdin_text;
  CliRun r;
  r.rc = sh(quote(r1_bin()) + " " + args + " < " + quote(in) + " > " + quote(out) + " 2> " + quote(err));
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace r1::test::cli

// Helpers for tests: where ../shared lives, and per-test temporary directories.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace r1::test {

/// The whole file at `path` as bytes ("" when it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
/// Writes `bytes` to `path`, replacing it.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// The shared read-only data folder: $R1_SHARED, else R1_SOURCE_DIR/../shared.
/// Tests that need it start with R1_SKIP_UNLESS_SHARED(rel).
inline std::string shared_dir() {
  if (const char* s = std::getenv("R1_SHARED"); s && *s) return s;
#ifdef R1_SOURCE_DIR
  return std::string(R1_SOURCE_DIR) + "/../shared";
#else
  return "../shared";
#endif
}
/// Path of `rel` inside the shared folder.
inline std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }
inline bool has_shared() { return std::filesystem::is_directory(shared_dir()); }

/// Whether /usr/bin/python3 can import numpy (the independent GGUF writers of ../shared/bench).
inline bool has_numpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

}  // namespace r1::test

// Skips. A test may skip only through these macros: each message starts with "[needs TAG]" and
// scripts/test.sh checks every TAG's prerequisite itself; `make test` fails when a test skipped
// for a prerequisite that is present, or skipped without a known tag (a bare GTEST_SKIP() does).
// Tags: shared (the R1_SHARED folder: optional), numpy (python3-numpy: scripts/install-deps.sh
// installs it, so such a skip always fails `make test`), npm (node >= 18 and npm: likewise),
// npm-registry (the npm registry, for the first `npm ci` of tests/node).

/// Skips with "[needs TAG] why..." (TAG a string literal); `why` may be a `<<` chain.
#define R1_SKIP_NEEDS(tag, why) GTEST_SKIP() << "[needs " tag "] " << why

/// Skips when the shared data folder is absent; when it is present, FAILS if `rel` (a file or
/// folder inside it, "" for none) is missing: a lost fixture must not read as a skip.
#define R1_SKIP_UNLESS_SHARED(rel)                                                              \
  do {                                                                                         \
    if (!::r1::test::has_shared())                                                             \
      R1_SKIP_NEEDS("shared", "no shared data folder at " << ::r1::test::shared_dir()          \
                                                          << " (set R1_SHARED)");              \
    const std::string r1_rel_ = (rel);                                                         \
    ASSERT_TRUE(r1_rel_.empty() || std::filesystem::exists(::r1::test::shared_path(r1_rel_)))  \
        << "the shared data folder " << ::r1::test::shared_dir() << " lacks " << r1_rel_;      \
  } while (0)

/// Skips unless /usr/bin/python3 has numpy.
#define R1_SKIP_UNLESS_NUMPY()                                                                  \
  do {                                                                                         \
    if (!::r1::test::has_numpy())                                                              \
      R1_SKIP_NEEDS("numpy", "/usr/bin/python3 with numpy (scripts/install-deps.sh installs "  \
                             "python3-numpy)");                                                \
  } while (0)

namespace r1::test {

/// A fresh temporary directory removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "r1test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace r1::test

// Helpers for tests: where ../shared lives, and per-test temporary directories.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace r1::test {

/// The shared read-only data folder: $R1_SHARED, else R1_SOURCE_DIR/../shared.
/// Tests that need it call GTEST_SKIP() when !has_shared().
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

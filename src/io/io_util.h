// Small helpers shared by the checkpoint readers and writers: overflow-checked size arithmetic,
// strict JSON parsing (duplicate keys and absurd nesting are errors), streaming atomic file output.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace r1::io {

/// a * b and a + b on uint64_t; false on overflow.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

/// True when every stride of a contiguous tensor of `dims` (any order) fits in int64 bytes, even
/// if some dim is 0 (a [huge, 0] tensor is empty but its row stride must still be representable),
/// also after conversion to F32: the element count, zeros counted as 1, is capped at 2^56.
inline bool strides_fit(const std::vector<int64_t>& dims, uint64_t block_size, uint64_t type_size) {
  uint64_t n = 1;
  for (int64_t d : dims)
    if (d < 0 || !checked_mul(n, d == 0 ? 1 : uint64_t(d), &n) || n > (uint64_t(1) << 56)) return false;
  uint64_t bytes = 0;
  return checked_mul(n / block_size + 1, type_size, &bytes) && bytes <= uint64_t(INT64_MAX);
}

/// Parses `text` as JSON. Errors ("LABEL: ..."): syntax errors (with the byte position),
/// duplicate keys in any object, nesting deeper than 64. Never throws.
Result<nlohmann::json> parse_json_strict(std::string_view text, const std::string& label);

/// Reads and parses a JSON file with parse_json_strict. Errors: missing/unreadable file, bad JSON.
Result<nlohmann::json> read_json_file(const std::string& path);

/// A file written through a temporary (PATH.tmp.PID) and renamed into place by commit(), so that
/// readers never see a half-written checkpoint. Destroying it uncommitted removes the temporary.
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();
  /// Appends bytes. Errors: write failure (disk full, ...).
  Result<void> write(const void* data, size_t size);
  /// Appends `n` zero bytes.
  Result<void> pad(size_t n);
  uint64_t bytes_written() const { return written_; }
  /// Flushes, fsyncs and renames the temporary onto the final path.
  Result<void> commit();

 private:
  AtomicFile() = default;
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
};

}  // namespace r1::io

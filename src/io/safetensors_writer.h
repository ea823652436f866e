// Writer for safetensors files (layout in io/safetensors.h): tensors in F32/F16/BF16 (and the
// other plain dtypes as they are) plus string __metadata__, written atomically (temp + rename).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"

namespace r1::io {

class SafetensorsWriter {
 public:
  /// Sets a "__metadata__" entry (string to string, as the format requires).
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  /// Adds tensor `name` from F32 `data` (row-major, `shape` in PyTorch order, 0..4 dims), stored
  /// as `target` (F32, F16 or BF16). Copies the data. Errors: duplicate or reserved name, bad
  /// shape, unsupported target.
  Result<void> add_tensor(const std::string& name, const float* data,
                          const std::vector<int64_t>& shape, DType target = DType::F32);
  /// Adds a contiguous tensor; stored as its own dtype when `target` is nullopt (F32, F16, BF16,
  /// F8_E4M3, I32, I64, U8, I8), else converted through F32 to `target` (F32/F16/BF16) at write
  /// time. Keeps a reference to t's storage until write(). Errors: Q8_0/Q4_0 (no safetensors
  /// dtype), duplicate names, non-contiguous tensors.
  Result<void> add_tensor(const std::string& name, const Tensor& t,
                          std::optional<DType> target = std::nullopt);

  size_t n_tensors() const { return tensors_.size(); }
  /// Writes the file atomically (header padded with spaces to a multiple of 8 bytes, tensors in
  /// the order added). Errors: I/O failures naming the path.
  Result<void> write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    Tensor source;
    DType target;
  };
  std::map<std::string, std::string> metadata_;
  std::vector<Entry> tensors_;
};

}  // namespace r1::io

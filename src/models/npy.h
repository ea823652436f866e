// NumPy .npy files of float32 arrays (format v1.0/2.0, '<f4', C order): the exchange format of
// `r1 logits` and of the reference logits in ../shared/fixtures.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace r1::models {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major (C order), numel(shape) values
};

/// Reads a float32 .npy file. Errors ("PATH: ..."): unreadable, bad magic/version, a header
/// without descr/fortran_order/shape, dtype other than '<f4', Fortran order, size mismatch.
Result<NpyArray> read_npy_f32(const std::string& path);

/// The bytes of a v1.0 .npy file holding `data` with `shape` ('<f4', C order).
std::string npy_f32_bytes(const float* data, const std::vector<int64_t>& shape);

/// Writes `data` [shape] as a v1.0 '<f4' C-order .npy atomically (temp file + rename).
Result<void> write_npy_f32(const std::string& path, const float* data,
                           const std::vector<int64_t>& shape);

}  // namespace r1::models

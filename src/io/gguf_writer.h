// Writer for GGUF v3 files (layout in io/gguf.h): metadata of every value type and tensors in
// F32/F16/BF16/Q8_0/Q4_0 (quantised with the reference codecs of quant/quantize.h), written
// through a temporary file and renamed into place, so a crash never leaves a half-written model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"
#include "io/gguf.h"

namespace r1::io {

class GgufWriter {
 public:
  /// `alignment`: data alignment in bytes (a power of two); written as general.alignment when
  /// it is not the default 32.
  explicit GgufWriter(uint32_t alignment = 32);

  /// Sets metadata `key` (replacing an earlier value of the same key; file order = first set).
  void set(const std::string& key, GgufValue value);
  void set_u8(const std::string& key, uint8_t v) { set(key, GgufValue::u8(v)); }
  void set_i8(const std::string& key, int8_t v) { set(key, GgufValue::i8(v)); }
  void set_u16(const std::string& key, uint16_t v) { set(key, GgufValue::u16(v)); }
  void set_i16(const std::string& key, int16_t v) { set(key, GgufValue::i16(v)); }
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufValue::i32(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, GgufValue::u64(v)); }
  void set_i64(const std::string& key, int64_t v) { set(key, GgufValue::i64(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufValue::f32(v)); }
  void set_f64(const std::string& key, double v) { set(key, GgufValue::f64(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufValue::boolean(v)); }
  void set_string(const std::string& key, std::string v) { set(key, GgufValue::string(std::move(v))); }
  void set_string_array(const std::string& key, std::vector<std::string> v) {
    set(key, GgufValue::array_strings(std::move(v)));
  }
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);

  /// Adds tensor `name` from `data` (F32, row-major, `shape` in PyTorch order, 1..4 dims),
  /// stored as `target` (F32, F16, BF16, Q8_0, Q4_0 or a type of quant::quantize_row_k). Copies
  /// the data. Errors: duplicate name, bad shape, unsupported target, a last dim that is not
  /// whole blocks of the target.
  Result<void> add_tensor(const std::string& name, const float* data,
                          const std::vector<int64_t>& shape, DType target);
  /// Adds a contiguous tensor; stored as its own dtype when `target` is nullopt (bytes copied as
  /// they are, incl. Q8_0/Q4_0 blocks), else converted (through F32) to `target`. Keeps a
  /// reference to t's storage until write(); conversion happens at write time, row by row.
  /// quant_weights (optional): per-column importance for the quantiser (quant::quantize_row),
  /// row_len floats per matrix: one matrix for 1-D/2-D tensors, dim(0) of a 3-D tensor (experts).
  /// Errors also: quant_weights of another size.
  Result<void> add_tensor(const std::string& name, const Tensor& t,
                          std::optional<DType> target = std::nullopt,
                          std::shared_ptr<const std::vector<float>> quant_weights = nullptr);

  size_t n_tensors() const { return tensors_.size(); }
  /// Writes the file (GGUF v3) to `path` atomically. Errors: I/O failures naming the path.
  Result<void> write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    Tensor source;
    DType target;
    uint64_t nbytes;
    std::shared_ptr<const std::vector<float>> quant_weights;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Entry> tensors_;
};

}  // namespace r1::io

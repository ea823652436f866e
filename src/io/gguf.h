// Reader for GGUF v2/v3 (ggml's single-file model format; spec: ggml/docs/gguf.md):
//   "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv x (string key, u32 type, value)
//   | n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
//   | padding to general.alignment (default 32) | tensor data (offsets relative to its start).
// Strings are u64 length + UTF-8 bytes. ne[0] is the fastest-varying dimension, so a PyTorch
// [out, in] weight has ne = [in, out]; tensor() returns shapes in PyTorch order.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "core/storage.h"
#include "core/tensor.h"

namespace r1::io {

/// GGUF metadata value types (gguf_type).
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
/// "u8", "i32", "f32", "string", "array", ... ("type#N" for an unknown code).
std::string gguf_type_name(GgufType t);

/// One metadata value: a scalar, a string, or an array (of scalars, strings or arrays).
/// Numeric arrays are stored packed (little-endian, as in the file) to keep big arrays compact.
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(uint8_t v) { return scalar(GgufType::U8, uint64_t(v)); }
  static GgufValue i8(int8_t v) { return scalar(GgufType::I8, int64_t(v)); }
  static GgufValue u16(uint16_t v) { return scalar(GgufType::U16, uint64_t(v)); }
  static GgufValue i16(int16_t v) { return scalar(GgufType::I16, int64_t(v)); }
  static GgufValue u32(uint32_t v) { return scalar(GgufType::U32, uint64_t(v)); }
  static GgufValue i32(int32_t v) { return scalar(GgufType::I32, int64_t(v)); }
  static GgufValue u64(uint64_t v) { return scalar(GgufType::U64, v); }
  static GgufValue i64(int64_t v) { return scalar(GgufType::I64, v); }
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  /// An array of numbers of element type `elem` (U8..I64, F32, F64, Bool), converted from doubles
  /// or int64s. Throws CheckError for String/Array element types (use the overloads below).
  static GgufValue array_i64(GgufType elem, const std::vector<int64_t>& v);
  static GgufValue array_f64(GgufType elem, const std::vector<double>& v);
  static GgufValue array_strings(std::vector<std::string> v);
  static GgufValue array_arrays(std::vector<GgufValue> v);
  /// An array of `elem` from packed little-endian bytes (size a multiple of the element size).
  static GgufValue array_raw(GgufType elem, std::vector<uint8_t> bytes);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::Array; }
  bool is_integer() const;  // U8..I64 (not Bool)
  bool is_float() const { return type_ == GgufType::F32 || type_ == GgufType::F64; }
  /// Scalars (no range checks; call only for the matching kind).
  uint64_t as_u64() const { return u_; }
  int64_t as_i64() const { return i_; }
  double as_f64() const { return f_; }
  bool as_bool() const { return u_ != 0; }
  const std::string& as_string() const { return s_; }

  /// Arrays: element type and count.
  GgufType elem_type() const { return elem_; }
  size_t size() const;
  /// Element i of a numeric array, as int64 / uint64 / double (precondition: numeric elements).
  int64_t int_at(size_t i) const;
  uint64_t uint_at(size_t i) const;
  double float_at(size_t i) const;
  const std::vector<std::string>& strings() const { return strings_; }  // String arrays
  const std::vector<GgufValue>& arrays() const { return arrays_; }      // nested arrays
  const std::vector<uint8_t>& raw() const { return raw_; }              // numeric arrays, packed

  /// Short human form: "42", "\"llama\"", "[string x 512]", "[f32 x 512]".
  std::string summary() const;

 private:
  static GgufValue scalar(GgufType t, uint64_t u);
  static GgufValue scalar(GgufType t, int64_t i);
  GgufType type_ = GgufType::U8;
  GgufType elem_ = GgufType::U8;
  uint64_t u_ = 0;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
  std::vector<GgufValue> arrays_;
};

/// Size in bytes of one scalar of type `t` (0 for String/Array/unknown).
size_t gguf_scalar_size(GgufType t);

/// Layout of a ggml tensor type: `block_size` elements take `type_size` bytes. Every type ggml
/// defines is listed (so files can be listed and bounds-checked), even those r1 cannot compute
/// with; `dtype` is set for the ones it can.
struct GgmlTypeInfo {
  const char* name;
  int64_t block_size;
  int64_t type_size;
  std::optional<DType> dtype;
};
/// Info of ggml type id `type`, or nullptr when the id is unknown or retired.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
/// The ggml type id used for `dtype` in GGUF (F32 0, F16 1, Q4_0 2, Q8_0 8, I8 24, I32 26,
/// I64 27, BF16 30), or nullopt (F8_E4M3, U8 have none).
std::optional<uint32_t> ggml_type_of(DType dtype);

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<int64_t> ne;  // GGUF order: ne[0] fastest
  uint64_t offset = 0;      // relative to the data section
  uint64_t nbytes = 0;
  /// Shape in PyTorch order (ne reversed).
  std::vector<int64_t> shape() const { return {ne.rbegin(), ne.rend()}; }
  const char* type_name() const;
};

/// A parsed, validated GGUF file. Cheap to copy (shares the mapping and parsed metadata).
class GgufFile {
 public:
  /// Memory-maps and validates `path`. Errors (one line, "PATH: ..."): missing/truncated file,
  /// wrong magic, unsupported version (1 or > 3; also catches big-endian files), counts or string
  /// lengths larger than the file, unknown value types, nesting deeper than 8, duplicate keys or
  /// tensor names, bad general.alignment (must be a u32 power of two), unknown ggml types, n_dims
  /// outside 1..4, rows not whole blocks, size overflow, tensor data misaligned, past the end of
  /// the file or overlapping another tensor.
  static Result<GgufFile> open(const std::string& path);
  /// Same over bytes in memory (the whole file; fuzz harness). `label` names it in errors.
  static Result<GgufFile> parse(std::shared_ptr<Storage> bytes, const std::string& label);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  /// File offset of the tensor data section.
  uint64_t data_offset() const { return data_offset_; }

  // ---- metadata ----
  /// Keys in file order.
  const std::vector<std::string>& keys() const { return keys_; }
  bool has(const std::string& key) const { return kv_ && kv_->count(key) != 0; }
  /// Value of `key` or nullptr.
  const GgufValue* get(const std::string& key) const;
  /// Typed getters. Integers of any width are accepted when the value fits; floats accept F32/F64.
  /// Errors: "PATH: metadata KEY missing" / "PATH: metadata KEY: expected u32, found string".
  Result<uint32_t> get_u32(const std::string& key) const;
  Result<int64_t> get_i64(const std::string& key) const;
  Result<float> get_f32(const std::string& key) const;
  Result<bool> get_bool(const std::string& key) const;
  Result<std::string> get_string(const std::string& key) const;
  Result<std::vector<std::string>> get_string_array(const std::string& key) const;
  /// Float arrays (F32/F64 elements; integer elements converted).
  Result<std::vector<float>> get_f32_array(const std::string& key) const;
  /// Integer arrays whose values fit in int32.
  Result<std::vector<int32_t>> get_i32_array(const std::string& key) const;

  // ---- tensors ----
  /// Tensor infos in file order.
  const std::vector<GgufTensorInfo>& tensor_infos() const { return tensors_; }
  std::vector<std::string> names() const;
  bool has_tensor(const std::string& name) const { return tindex_.count(name) != 0; }
  const GgufTensorInfo* tensor_info(const std::string& name) const;
  /// A view of tensor `name` (no copy; copied into aligned memory only when general.alignment < the
  /// type's alignment leaves its data misaligned), shape in PyTorch order. Errors: not found; "unsupported
  /// tensor type Q4_K" for types r1 cannot compute with (listing them still works).
  Result<Tensor> tensor(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<Storage> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  // Shared so that copies of a GgufFile do not copy big vocabularies.
  std::shared_ptr<const std::unordered_map<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tindex_;
};

}  // namespace r1::io

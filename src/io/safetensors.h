// Reader for the safetensors format (huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {...}},
// then the raw tensor bytes. Tensors view the memory-mapped file; nothing is copied.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/storage.h"
#include "core/tensor.h"

namespace r1::io {

/// One tensor entry of a safetensors header, validated against the file.
struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;       // as written ("F32", "BF16", "F8_E4M3", "F64", ...)
  std::optional<DType> dtype;   // nullopt: a valid safetensors dtype that r1 cannot compute with
  std::vector<int64_t> shape;   // file order (PyTorch order: outermost first)
  uint64_t begin = 0;           // byte offsets relative to the start of the data section
  uint64_t end = 0;
};

/// A parsed, validated safetensors file. Cheap to copy (shares the mapping).
class SafetensorsFile {
 public:
  /// Memory-maps and validates `path`. Errors (one line, "PATH: ..."): missing/unreadable file,
  /// truncated header, header length past the end (or over 100 MB), bad JSON, duplicate names,
  /// unknown dtype, bad shape, data_offsets reversed/past the end/overlapping, byte size not equal
  /// to numel * element size, more than 4 dims.
  static Result<SafetensorsFile> open(const std::string& path);
  /// Same, over bytes already in memory (`bytes` holds the whole file; used by the fuzz harness).
  /// `label` names the source in error messages.
  static Result<SafetensorsFile> parse(std::shared_ptr<Storage> bytes, const std::string& label);

  /// Tensor names in data order (by start offset).
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  /// The validated entries, in data order.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  /// Entry of `name` or nullptr.
  const SafetensorsEntry* entry(const std::string& name) const;

  /// A view of tensor `name` (no copy; shape in file order; copied into aligned memory only when
  /// the file leaves its data misaligned for the dtype). Errors: missing name, or a dtype r1
  /// does not support (F64, BOOL, U16, ...), each naming the file and tensor.
  Result<Tensor> tensor(const std::string& name) const;

  /// The "__metadata__" object (string -> string by the spec); an empty object when absent.
  const nlohmann::json& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  /// Byte offset of the data section in the file (8 + header length).
  uint64_t data_offset() const { return data_offset_; }

 private:
  std::string path_;
  std::shared_ptr<Storage> bytes_;  // the whole file
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

/// Element size in bytes of a safetensors dtype name (incl. ones r1 does not compute with:
/// F64, I16, U16, U32, U64, BOOL, F8_E5M2), or 0 when the name is not a safetensors dtype.
int safetensors_dtype_size(const std::string& name);

}  // namespace r1::io

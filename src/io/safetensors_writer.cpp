#include "io/safetensors_writer.h"
#include "quant/dequantize.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "io/io_util.h"
#include "quant/quantize.h"

namespace r1::io {

namespace {
bool plain_dtype(DType t) { return !dtype_traits(t).quantized; }
bool float_target(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
}  // namespace

Result<void> SafetensorsWriter::add_tensor(const std::string& name, const float* data,
                                           const std::vector<int64_t>& shape, DType target) {
  if (shape.size() > size_t(kMaxDims))
    return make_error("safetensors writer: tensor {}: {} dims, at most {}", name, shape.size(), kMaxDims);
  for (int64_t d : shape)
    if (d < 0) return make_error("safetensors writer: tensor {}: negative dimension", name);
  if (!float_target(target))
    return make_error("safetensors writer: tensor {}: cannot store F32 data as {} (use F32, F16 or "
                      "BF16)", name, dtype_name(target));
  Tensor t = Tensor::zeros(DType::F32, shape.data(), int(shape.size()));
  if (t.nbytes() > 0) std::memcpy(t.mutable_bytes(), data, t.nbytes());
  return add_tensor(name, t, target);
}

Result<void> SafetensorsWriter::add_tensor(const std::string& name, const Tensor& t,
                                           std::optional<DType> target) {
  if (name.empty() || name == "__metadata__")
    return make_error("safetensors writer: tensor name \"{}\" is reserved or empty", name);
  for (const auto& e : tensors_)
    if (e.name == name) return make_error("safetensors writer: tensor {}: duplicate name", name);
  if (!t.defined()) return make_error("safetensors writer: tensor {}: undefined tensor", name);
  if (!t.is_contiguous()) return make_error("safetensors writer: tensor {}: not contiguous", name);
  if (!plain_dtype(t.dtype()))
    return make_error("safetensors writer: tensor {}: {} has no safetensors dtype", name,
                      dtype_name(t.dtype()));
  const DType to = target.value_or(t.dtype());
  if (to != t.dtype()) {
    if (!float_target(to))
      return make_error("safetensors writer: tensor {}: cannot convert to {} (use F32, F16 or BF16)",
                        name, dtype_name(to));
    if (!float_target(t.dtype()) && t.dtype() != DType::F8_E4M3)
      return make_error("safetensors writer: tensor {}: cannot convert {} to {}", name,
                        dtype_name(t.dtype()), dtype_name(to));
  }
  tensors_.push_back({name, t, to});
  return {};
}

Result<void> SafetensorsWriter::write(const std::string& path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const auto& e : tensors_) {
    const uint64_t nbytes = uint64_t(dtype_bytes(e.target, e.source.numel()));
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int d = 0; d < e.source.ndim(); ++d) shape.push_back(e.source.dim(d));
    header[e.name] = {{"dtype", std::string(dtype_name(e.target))},
                      {"shape", shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section 8-byte aligned, as the spec advises
  R1_ASSIGN_OR_RETURN(f, AtomicFile::create(path));
  const uint64_t n = text.size();
  R1_TRY(f.write(&n, 8));
  R1_TRY(f.write(text.data(), text.size()));
  std::vector<float> row_f32;
  std::vector<uint8_t> row_out;
  for (const auto& e : tensors_) {
    const Tensor& t = e.source;
    if (e.target == t.dtype()) {
      R1_TRY(f.write(t.bytes(), t.nbytes()));
      continue;
    }
    const int64_t len = t.row_len();
    row_f32.resize(size_t(len));
    row_out.resize(size_t(dtype_bytes(e.target, len)));
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      quant::dequantize_row(t.dtype(), t.row(r), row_f32.data(), len);
      quant::quantize_row(e.target, row_f32.data(), row_out.data(), len);
      R1_TRY(f.write(row_out.data(), row_out.size()));
    }
  }
  return f.commit();
}

}  // namespace r1::io

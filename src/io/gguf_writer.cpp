#include "io/gguf_writer.h"

#include "quant/dequantize.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "io/io_util.h"
#include "quant/quantize.h"

namespace r1::io {

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  R1_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment {} not a power of two",
           alignment);
  if (alignment != 32) set_u32("general.alignment", alignment);
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  std::vector<uint8_t> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  set(key, GgufValue::array_raw(GgufType::F32, std::move(raw)));
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  std::vector<uint8_t> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  set(key, GgufValue::array_raw(GgufType::I32, std::move(raw)));
}

namespace {
bool writable_target(DType t) { return t != DType::F8_E4M3 && quant::can_quantize(t); }
}  // namespace

Result<void> GgufWriter::add_tensor(const std::string& name, const float* data,
                                    const std::vector<int64_t>& shape, DType target) {
  if (shape.empty() || shape.size() > size_t(kMaxDims))
    return make_error("gguf writer: tensor {}: {} dims, GGUF needs 1..4", name, shape.size());
  for (int64_t d : shape)
    if (d < 0) return make_error("gguf writer: tensor {}: negative dimension", name);
  Tensor t = Tensor::zeros(DType::F32, shape.data(), int(shape.size()));
  if (t.nbytes() > 0) std::memcpy(t.mutable_bytes(), data, t.nbytes());
  if (!writable_target(target))
    return make_error("gguf writer: tensor {}: cannot store as {} (no quantiser for it)",
                      name, dtype_name(target));
  return add_tensor(name, t, target);
}

Result<void> GgufWriter::add_tensor(const std::string& name, const Tensor& t,
                                    std::optional<DType> target,
                                    std::shared_ptr<const std::vector<float>> quant_weights) {
  for (const auto& e : tensors_)
    if (e.name == name) return make_error("gguf writer: tensor {}: duplicate name", name);
  if (!t.defined()) return make_error("gguf writer: tensor {}: undefined tensor", name);
  if (!t.is_contiguous()) return make_error("gguf writer: tensor {}: not contiguous", name);
  if (t.ndim() < 1) return make_error("gguf writer: tensor {}: GGUF needs at least one dim", name);
  const DType to = target.value_or(t.dtype());
  if (target && !writable_target(to))
    return make_error("gguf writer: tensor {}: cannot store as {} (no quantiser for it)",
                      name, dtype_name(to));
  if (!ggml_type_of(to))
    return make_error("gguf writer: tensor {}: dtype {} has no GGUF type", name, dtype_name(to));
  if (!is_whole_blocks(to, t.row_len()))
    return make_error("gguf writer: tensor {}: row of {} elements is not whole {} blocks of {}", name,
                      t.row_len(), dtype_name(to), dtype_traits(to).block_size);
  if (to != t.dtype() && dtype_traits(t.dtype()).quantized == false && t.dtype() != DType::F32 &&
      t.dtype() != DType::F16 && t.dtype() != DType::BF16 && t.dtype() != DType::F8_E4M3)
    return make_error("gguf writer: tensor {}: cannot convert {} to {}", name, dtype_name(t.dtype()),
                      dtype_name(to));
  if (quant_weights) {
    const int64_t n_mat = t.ndim() >= 3 ? t.dim(0) : 1;
    if (int64_t(quant_weights->size()) != n_mat * t.row_len())
      return make_error("gguf writer: tensor {}: {} importance weights, expected {} x {}", name,
                        quant_weights->size(), n_mat, t.row_len());
  }
  tensors_.push_back({name, t, to, uint64_t(dtype_bytes(to, t.numel())), std::move(quant_weights)});
  return {};
}

namespace {
Result<void> write_string(AtomicFile& f, const std::string& s) {
  const uint64_t n = s.size();
  R1_TRY(f.write(&n, 8));
  return f.write(s.data(), s.size());
}
template <typename T>
Result<void> write_pod(AtomicFile& f, T v) {
  return f.write(&v, sizeof(T));
}

Result<void> write_value_body(AtomicFile& f, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::String: return write_string(f, v.as_string());
    case GgufType::Array: {
      R1_TRY(write_pod<uint32_t>(f, static_cast<uint32_t>(v.elem_type())));
      R1_TRY(write_pod<uint64_t>(f, v.size()));
      if (v.elem_type() == GgufType::String) {
        for (const auto& s : v.strings()) R1_TRY(write_string(f, s));
      } else if (v.elem_type() == GgufType::Array) {
        for (const auto& a : v.arrays()) R1_TRY(write_value_body(f, a));
      } else {
        R1_TRY(f.write(v.raw().data(), v.raw().size()));
      }
      return {};
    }
    case GgufType::F32: return write_pod<float>(f, float(v.as_f64()));
    case GgufType::F64: return write_pod<double>(f, v.as_f64());
    default: {
      const uint64_t u = v.as_u64();  // two's complement; low bytes = little-endian value
      return f.write(&u, gguf_scalar_size(v.type()));
    }
  }
}
}  // namespace

Result<void> GgufWriter::write(const std::string& path) const {
  R1_ASSIGN_OR_RETURN(f, AtomicFile::create(path));
  R1_TRY(f.write("GGUF", 4));
  R1_TRY(write_pod<uint32_t>(f, 3));
  R1_TRY(write_pod<uint64_t>(f, tensors_.size()));
  R1_TRY(write_pod<uint64_t>(f, kv_.size()));
  for (const auto& [k, v] : kv_) {
    R1_TRY(write_string(f, k));
    R1_TRY(write_pod<uint32_t>(f, static_cast<uint32_t>(v.type())));
    R1_TRY(write_value_body(f, v));
  }
  auto pad_to = [&](uint64_t pos) { return (alignment_ - pos % alignment_) % alignment_; };
  uint64_t offset = 0;
  for (const auto& e : tensors_) {
    R1_TRY(write_string(f, e.name));
    const int nd = e.source.ndim();
    R1_TRY(write_pod<uint32_t>(f, uint32_t(nd)));
    for (int d = nd - 1; d >= 0; --d) R1_TRY(write_pod<uint64_t>(f, uint64_t(e.source.dim(d))));
    R1_TRY(write_pod<uint32_t>(f, *ggml_type_of(e.target)));
    R1_TRY(write_pod<uint64_t>(f, offset));
    offset += e.nbytes + pad_to(e.nbytes);
  }
  R1_TRY(f.pad(pad_to(f.bytes_written())));
  std::vector<float> row_f32;
  std::vector<uint8_t> row_out;
  for (const auto& e : tensors_) {
    const Tensor& t = e.source;
    if (e.target == t.dtype()) {
      R1_TRY(f.write(t.bytes(), t.nbytes()));
    } else {
      const int64_t len = t.row_len();
      row_f32.resize(size_t(len));
      row_out.resize(size_t(dtype_bytes(e.target, len)));
      const int64_t n_mat = t.ndim() >= 3 ? t.dim(0) : 1;
      const int64_t rows_per_mat = std::max<int64_t>(1, t.n_rows() / n_mat);
      for (int64_t r = 0; r < t.n_rows(); ++r) {
        quant::dequantize_row(t.dtype(), t.row(r), row_f32.data(), len);
        const float* qw = e.quant_weights ? e.quant_weights->data() + (r / rows_per_mat) * len : nullptr;
        quant::quantize_row(e.target, row_f32.data(), row_out.data(), len, qw);
        R1_TRY(f.write(row_out.data(), row_out.size()));
      }
    }
    R1_TRY(f.pad(pad_to(e.nbytes)));
  }
  return f.commit();
}

}  // namespace r1::io

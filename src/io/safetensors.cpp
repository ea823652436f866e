#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "io/io_util.h"

namespace r1::io {

namespace {
// The reference implementation refuses headers over 100 MB; so do we (a bogus length must not
// make us parse gigabytes).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
}  // namespace

int safetensors_dtype_size(const std::string& name) {
  static const std::pair<const char*, int> kSizes[] = {
      {"F64", 8}, {"F32", 4},    {"F16", 2},     {"BF16", 2},    {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},     {"U64", 8},     {"U32", 4},     {"U16", 2}, {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
  };
  for (const auto& [n, s] : kSizes)
    if (name == n) return s;
  return 0;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  R1_ASSIGN_OR_RETURN(mf, MappedFile::open(path));
  const size_t size = mf->size();
  return parse(Storage::view(std::move(mf), 0, size), path);
}

Result<SafetensorsFile> SafetensorsFile::parse(std::shared_ptr<Storage> bytes, const std::string& label) {
  const uint64_t file_size = bytes->size();
  const uint8_t* p = bytes->data();
  if (file_size < 8)
    return make_error("{}: truncated: {} bytes, too short for the 8-byte header length", label,
                      file_size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, p, 8);  // little-endian hosts only (x86-64, aarch64)
  if (header_len > file_size - 8)
    return make_error("{}: header length {} runs past the end of the file ({} bytes)", label,
                      header_len, file_size);
  if (header_len > kMaxHeaderBytes)
    return make_error("{}: header length {} exceeds the 100 MB limit", label, header_len);
  if (header_len < 2) return make_error("{}: header of {} bytes is too short for JSON", label, header_len);
  if (p[8] != '{')
    return make_error("{}: header does not start with '{{' (not a safetensors file?)", label);

  R1_ASSIGN_OR_RETURN(header, parse_json_strict(
      std::string_view(reinterpret_cast<const char*>(p + 8), header_len), label + ": header"));
  if (!header.is_object()) return make_error("{}: header: not a JSON object", label);

  SafetensorsFile f;
  f.path_ = label;
  f.data_offset_ = 8 + header_len;
  const uint64_t data_size = file_size - f.data_offset_;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return make_error("{}: __metadata__: not a JSON object", label);
      f.metadata_ = v;
      continue;
    }
    if (!v.is_object()) return make_error("{}: tensor {}: entry is not a JSON object", label, name);
    SafetensorsEntry e;
    e.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string())
      return make_error("{}: tensor {}: missing or non-string \"dtype\"", label, name);
    e.dtype_name = dt->get<std::string>();
    const int elem_bytes = safetensors_dtype_size(e.dtype_name);
    if (elem_bytes == 0)
      return make_error("{}: tensor {}: unknown dtype \"{}\"", label, name, e.dtype_name);
    e.dtype = dtype_from_name(e.dtype_name);
    if (e.dtype && dtype_traits(*e.dtype).quantized) e.dtype.reset();  // not a safetensors dtype

    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array())
      return make_error("{}: tensor {}: missing or non-array \"shape\"", label, name);
    if (sh->size() > size_t(kMaxDims))
      return make_error("{}: tensor {}: {} dimensions, at most {} supported", label, name,
                        sh->size(), kMaxDims);
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned())
        return make_error("{}: tensor {}: shape entry {} is not a non-negative integer", label, name,
                          d.dump());
      const uint64_t n = d.get<uint64_t>();
      if (n > uint64_t(INT64_MAX) || !checked_mul(numel, n, &numel))
        return make_error("{}: tensor {}: shape {} overflows", label, name, sh->dump());
      e.shape.push_back(int64_t(n));
    }
    if (!strides_fit(e.shape, 1, uint64_t(elem_bytes)))
      return make_error("{}: tensor {}: shape {} overflows", label, name, sh->dump());
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      return make_error("{}: tensor {}: \"data_offsets\" must be [begin, end] non-negative integers",
                        label, name);
    e.begin = (*off)[0].get<uint64_t>();
    e.end = (*off)[1].get<uint64_t>();
    if (e.begin > e.end)
      return make_error("{}: tensor {}: data_offsets [{}, {}] are reversed", label, name, e.begin,
                        e.end);
    if (e.end > data_size)
      return make_error("{}: tensor {}: data_offsets end {} is past the end of the data ({} bytes)",
                        label, name, e.end, data_size);
    uint64_t nbytes = 0;
    if (!checked_mul(numel, uint64_t(elem_bytes), &nbytes) || nbytes != e.end - e.begin)
      return make_error("{}: tensor {}: shape {} of {} needs {} bytes but data_offsets span {}",
                        label, name, sh->dump(), e.dtype_name, nbytes, e.end - e.begin);
    f.entries_.push_back(std::move(e));
  }

  // Keep entries in data order (the JSON object itself is unordered), then check for overlaps
  // (empty tensors take no bytes).
  std::sort(f.entries_.begin(), f.entries_.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.name < b.name;
  });
  std::vector<const SafetensorsEntry*> by_begin;
  for (size_t i = 0; i < f.entries_.size(); ++i) {
    f.index_.emplace(f.entries_[i].name, i);
    if (f.entries_[i].end > f.entries_[i].begin) by_begin.push_back(&f.entries_[i]);
  }
  for (size_t i = 1; i < by_begin.size(); ++i)
    if (by_begin[i]->begin < by_begin[i - 1]->end)
      return make_error("{}: tensor {}: data [{}, {}) overlaps tensor {} [{}, {})", label,
                        by_begin[i]->name, by_begin[i]->begin, by_begin[i]->end,
                        by_begin[i - 1]->name, by_begin[i - 1]->begin, by_begin[i - 1]->end);
  f.bytes_ = std::move(bytes);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

const SafetensorsEntry* SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<Tensor> SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = entry(name);
  if (!e) return make_error("{}: tensor {} not found", path_, name);
  if (!e->dtype)
    return make_error("{}: tensor {}: dtype {} is not supported (use F32, F16, BF16, F8_E4M3, I32, "
                      "I64, U8 or I8)", path_, name, e->dtype_name);
  const size_t at = size_t(data_offset_ + e->begin);
  const size_t elem = size_t(safetensors_dtype_size(e->dtype_name));
  if ((reinterpret_cast<uintptr_t>(bytes_->data()) + at) % elem != 0) {
    // The spec pads the header to 8 bytes, but writers that do not leave the data unaligned
    // for its dtype; reading floats through a misaligned pointer is undefined behaviour, so such
    // a tensor is copied once into aligned memory instead of viewed.
    auto copy = Storage::allocate(size_t(e->end - e->begin));
    if (e->end > e->begin) std::memcpy(copy->data(), bytes_->data() + at, size_t(e->end - e->begin));
    return Tensor::view(std::move(copy), 0, *e->dtype, e->shape.data(), int(e->shape.size()));
  }
  return Tensor::view(bytes_, at, *e->dtype, e->shape.data(), int(e->shape.size()));
}

}  // namespace r1::io

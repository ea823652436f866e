#include "io/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/check.h"
#include "io/io_util.h"

namespace r1::io {

// ---------------------------------------------------------------- value types

std::string gguf_type_name(GgufType t) {
  static const char* kNames[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                 "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? kNames[i] : fmt::format("type#{}", i);
}

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

namespace {
bool is_signed_int(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool is_int_type(GgufType t) {
  return is_signed_int(t) || t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 ||
         t == GgufType::U64;
}

// Decodes one little-endian scalar of type t at p into (u, i, f) so every view is available.
void decode_scalar(GgufType t, const uint8_t* p, uint64_t* u, int64_t* i, double* f) {
  uint64_t raw = 0;
  std::memcpy(&raw, p, gguf_scalar_size(t));
  switch (t) {
    case GgufType::I8: *i = int8_t(raw); break;
    case GgufType::I16: *i = int16_t(raw); break;
    case GgufType::I32: *i = int32_t(raw); break;
    case GgufType::I64: *i = int64_t(raw); break;
    case GgufType::F32: {
      float v;
      std::memcpy(&v, p, 4);
      *f = v;
      *u = raw;
      return;
    }
    case GgufType::F64: std::memcpy(f, p, 8); *u = raw; return;
    default: *u = raw; *i = int64_t(raw); *f = double(raw); return;
  }
  *u = uint64_t(*i);
  *f = double(*i);
}
}  // namespace

bool GgufValue::is_integer() const { return is_int_type(type_); }

GgufValue GgufValue::scalar(GgufType t, uint64_t u) {
  GgufValue v;
  v.type_ = t;
  v.u_ = u;
  v.i_ = int64_t(u);
  v.f_ = double(u);
  return v;
}
GgufValue GgufValue::scalar(GgufType t, int64_t i) {
  GgufValue v;
  v.type_ = t;
  v.u_ = uint64_t(i);
  v.i_ = i;
  v.f_ = double(i);
  return v;
}
GgufValue GgufValue::f32(float x) {
  GgufValue v;
  v.type_ = GgufType::F32;
  v.f_ = x;
  return v;
}
GgufValue GgufValue::f64(double x) {
  GgufValue v;
  v.type_ = GgufType::F64;
  v.f_ = x;
  return v;
}
GgufValue GgufValue::boolean(bool b) {
  GgufValue v;
  v.type_ = GgufType::Bool;
  v.u_ = b ? 1 : 0;
  v.i_ = v.u_;
  return v;
}
GgufValue GgufValue::string(std::string s) {
  GgufValue v;
  v.type_ = GgufType::String;
  v.s_ = std::move(s);
  return v;
}

GgufValue GgufValue::array_raw(GgufType elem, std::vector<uint8_t> bytes) {
  const size_t es = gguf_scalar_size(elem);
  R1_CHECK(es > 0 && bytes.size() % es == 0, "array_raw of {} with {} bytes", gguf_type_name(elem),
           bytes.size());
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = elem;
  v.raw_ = std::move(bytes);
  return v;
}

GgufValue GgufValue::array_i64(GgufType elem, const std::vector<int64_t>& xs) {
  const size_t es = gguf_scalar_size(elem);
  R1_CHECK(es > 0, "array_i64 of {}", gguf_type_name(elem));
  std::vector<uint8_t> bytes(xs.size() * es);
  for (size_t k = 0; k < xs.size(); ++k) {
    uint8_t* p = bytes.data() + k * es;
    if (elem == GgufType::F32) {
      const float f = float(xs[k]);
      std::memcpy(p, &f, 4);
    } else if (elem == GgufType::F64) {
      const double f = double(xs[k]);
      std::memcpy(p, &f, 8);
    } else {
      const int64_t x = elem == GgufType::Bool ? (xs[k] != 0) : xs[k];
      std::memcpy(p, &x, es);  // little-endian truncation
    }
  }
  return array_raw(elem, std::move(bytes));
}

GgufValue GgufValue::array_f64(GgufType elem, const std::vector<double>& xs) {
  if (elem != GgufType::F32 && elem != GgufType::F64) {
    std::vector<int64_t> ints(xs.begin(), xs.end());
    return array_i64(elem, ints);
  }
  const size_t es = gguf_scalar_size(elem);
  std::vector<uint8_t> bytes(xs.size() * es);
  for (size_t k = 0; k < xs.size(); ++k) {
    if (elem == GgufType::F32) {
      const float f = float(xs[k]);
      std::memcpy(bytes.data() + 4 * k, &f, 4);
    } else {
      std::memcpy(bytes.data() + 8 * k, &xs[k], 8);
    }
  }
  return array_raw(elem, std::move(bytes));
}

GgufValue GgufValue::array_strings(std::vector<std::string> xs) {
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = GgufType::String;
  v.strings_ = std::move(xs);
  return v;
}

GgufValue GgufValue::array_arrays(std::vector<GgufValue> xs) {
  for (const auto& x : xs) R1_CHECK(x.is_array(), "array_arrays needs array elements");
  GgufValue v;
  v.type_ = GgufType::Array;
  v.elem_ = GgufType::Array;
  v.arrays_ = std::move(xs);
  return v;
}

size_t GgufValue::size() const {
  if (!is_array()) return 0;
  if (elem_ == GgufType::String) return strings_.size();
  if (elem_ == GgufType::Array) return arrays_.size();
  return raw_.size() / gguf_scalar_size(elem_);
}

int64_t GgufValue::int_at(size_t k) const {
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  decode_scalar(elem_, raw_.data() + k * gguf_scalar_size(elem_), &u, &i, &f);
  return is_int_type(elem_) || elem_ == GgufType::Bool ? i : int64_t(f);
}
uint64_t GgufValue::uint_at(size_t k) const {
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  decode_scalar(elem_, raw_.data() + k * gguf_scalar_size(elem_), &u, &i, &f);
  return is_int_type(elem_) || elem_ == GgufType::Bool ? u : uint64_t(f);
}
double GgufValue::float_at(size_t k) const {
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  decode_scalar(elem_, raw_.data() + k * gguf_scalar_size(elem_), &u, &i, &f);
  return f;
}

std::string GgufValue::summary() const {
  switch (type_) {
    case GgufType::Array: return fmt::format("[{} x {}]", gguf_type_name(elem_), size());
    case GgufType::String: {
      std::string s = s_.size() > 60 ? s_.substr(0, 57) + "..." : s_;
      for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
      return "\"" + s + "\"";
    }
    case GgufType::Bool: return u_ ? "true" : "false";
    case GgufType::F32: return fmt::format("{}", float(f_));  // shortest form of the f32
    case GgufType::F64: return fmt::format("{}", f_);
    default: return is_signed_int(type_) ? std::to_string(i_) : std::to_string(u_);
  }
}

// ---------------------------------------------------------------- ggml types

namespace {
// Block layouts of every ggml type (ggml/src/ggml.c type_traits), so that files using types we
// cannot compute with can still be listed and bounds-checked. Retired ids are empty.
const GgmlTypeInfo kGgmlTypes[] = {
    /*  0 */ {"F32", 1, 4, DType::F32},
    /*  1 */ {"F16", 1, 2, DType::F16},
    /*  2 */ {"Q4_0", 32, 18, DType::Q4_0},
    /*  3 */ {"Q4_1", 32, 20, DType::Q4_1},
    /*  4 */ {nullptr, 0, 0, {}},
    /*  5 */ {nullptr, 0, 0, {}},
    /*  6 */ {"Q5_0", 32, 22, DType::Q5_0},
    /*  7 */ {"Q5_1", 32, 24, DType::Q5_1},
    /*  8 */ {"Q8_0", 32, 34, DType::Q8_0},
    /*  9 */ {"Q8_1", 32, 36, {}},
    /* 10 */ {"Q2_K", 256, 84, DType::Q2_K},
    /* 11 */ {"Q3_K", 256, 110, DType::Q3_K},
    /* 12 */ {"Q4_K", 256, 144, DType::Q4_K},
    /* 13 */ {"Q5_K", 256, 176, DType::Q5_K},
    /* 14 */ {"Q6_K", 256, 210, DType::Q6_K},
    /* 15 */ {"Q8_K", 256, 292, {}},
    /* 16 */ {"IQ2_XXS", 256, 66, DType::IQ2_XXS},
    /* 17 */ {"IQ2_XS", 256, 74, DType::IQ2_XS},
    /* 18 */ {"IQ3_XXS", 256, 98, DType::IQ3_XXS},
    /* 19 */ {"IQ1_S", 256, 50, DType::IQ1_S},
    /* 20 */ {"IQ4_NL", 32, 18, DType::IQ4_NL},
    /* 21 */ {"IQ3_S", 256, 110, DType::IQ3_S},
    /* 22 */ {"IQ2_S", 256, 82, DType::IQ2_S},
    /* 23 */ {"IQ4_XS", 256, 136, DType::IQ4_XS},
    /* 24 */ {"I8", 1, 1, DType::I8},
    /* 25 */ {"I16", 1, 2, {}},
    /* 26 */ {"I32", 1, 4, DType::I32},
    /* 27 */ {"I64", 1, 8, DType::I64},
    /* 28 */ {"F64", 1, 8, {}},
    /* 29 */ {"IQ1_M", 256, 56, DType::IQ1_M},
    /* 30 */ {"BF16", 1, 2, DType::BF16},
    /* 31 */ {nullptr, 0, 0, {}},
    /* 32 */ {nullptr, 0, 0, {}},
    /* 33 */ {nullptr, 0, 0, {}},
    /* 34 */ {"TQ1_0", 256, 54, DType::TQ1_0},
    /* 35 */ {"TQ2_0", 256, 66, DType::TQ2_0},
    /* 36 */ {nullptr, 0, 0, {}},
    /* 37 */ {nullptr, 0, 0, {}},
    /* 38 */ {nullptr, 0, 0, {}},
    /* 39 */ {"MXFP4", 32, 17, DType::MXFP4},
};
}  // namespace

namespace {
// "F32, F16, ..." : the ggml types r1 maps to a DType, for error messages.
std::string supported_type_names() {
  std::string out;
  for (const GgmlTypeInfo& t : kGgmlTypes)
    if (t.name != nullptr && t.dtype) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}
}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  if (type >= std::size(kGgmlTypes) || kGgmlTypes[type].name == nullptr) return nullptr;
  return &kGgmlTypes[type];
}

std::optional<uint32_t> ggml_type_of(DType dtype) {
  for (uint32_t t = 0; t < std::size(kGgmlTypes); ++t)
    if (kGgmlTypes[t].dtype == dtype) return t;
  return std::nullopt;
}

const char* GgufTensorInfo::type_name() const {
  const GgmlTypeInfo* ti = ggml_type_info(ggml_type);
  return ti ? ti->name : "unknown";
}

// ---------------------------------------------------------------- parsing

namespace {
constexpr uint32_t kMaxArrayNesting = 8;
constexpr int kMaxDimsGguf = 4;  // GGML_MAX_DIMS

// A bounds-checked little-endian cursor over the file; every read states what it reads so a
// truncation error says where the file ended.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t size, const std::string& label) : p_(p), size_(size), label_(label) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  Result<void> need(uint64_t n, const std::string& what) const {
    if (n > left())
      return make_error("{}: truncated at byte {} reading {} ({} bytes needed, {} left)", label_,
                        pos_, what, n, left());
    return {};
  }
  template <typename T>
  Result<T> read(const std::string& what) {
    R1_TRY(need(sizeof(T), what));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t* here() const { return p_ + pos_; }
  void skip(uint64_t n) { pos_ += n; }

  Result<std::string> read_string(const std::string& what) {
    R1_ASSIGN_OR_RETURN(len, read<uint64_t>(what + " length"));
    if (len > left())
      return make_error("{}: {}: string length {} at byte {} runs past the end of the file", label_,
                        what, len, pos_ - 8);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& label_;
};

Result<GgufValue> read_value(Cursor& c, GgufType type, const std::string& key,
                             const std::string& label, uint32_t depth);

Result<GgufValue> read_array(Cursor& c, const std::string& key, const std::string& label,
                             uint32_t depth) {
  if (depth >= kMaxArrayNesting)
    return make_error("{}: metadata {}: arrays nested deeper than {}", label, key, kMaxArrayNesting);
  R1_ASSIGN_OR_RETURN(et, c.read<uint32_t>("array type of " + key));
  const auto elem = static_cast<GgufType>(et);
  R1_ASSIGN_OR_RETURN(count, c.read<uint64_t>("array length of " + key));
  // The smallest possible element bounds the count, so a bogus count cannot make us allocate
  // more than the file holds.
  uint64_t min_elem = gguf_scalar_size(elem);
  if (elem == GgufType::String) min_elem = 8;
  if (elem == GgufType::Array) min_elem = 12;
  if (min_elem == 0)
    return make_error("{}: metadata {}: unknown array element type {}", label, key, et);
  if (count > c.left() / min_elem)
    return make_error("{}: metadata {}: array of {} {} elements runs past the end of the file",
                      label, key, count, gguf_type_name(elem));
  if (elem == GgufType::String) {
    std::vector<std::string> xs;
    xs.reserve(size_t(count));
    for (uint64_t k = 0; k < count; ++k) {
      R1_ASSIGN_OR_RETURN(s, c.read_string(fmt::format("{}[{}]", key, k)));
      xs.push_back(std::move(s));
    }
    return GgufValue::array_strings(std::move(xs));
  }
  if (elem == GgufType::Array) {
    std::vector<GgufValue> xs;
    xs.reserve(size_t(count));
    for (uint64_t k = 0; k < count; ++k) {
      R1_ASSIGN_OR_RETURN(v, read_array(c, fmt::format("{}[{}]", key, k), label, depth + 1));
      xs.push_back(std::move(v));
    }
    return GgufValue::array_arrays(std::move(xs));
  }
  const uint64_t nbytes = count * min_elem;  // <= left(), no overflow
  std::vector<uint8_t> raw(c.here(), c.here() + nbytes);
  c.skip(nbytes);
  return GgufValue::array_raw(elem, std::move(raw));
}

Result<GgufValue> read_value(Cursor& c, GgufType type, const std::string& key,
                             const std::string& label, uint32_t depth) {
  if (type == GgufType::String) {
    R1_ASSIGN_OR_RETURN(s, c.read_string("metadata " + key));
    return GgufValue::string(std::move(s));
  }
  if (type == GgufType::Array) return read_array(c, key, label, depth);
  const size_t es = gguf_scalar_size(type);
  if (es == 0)
    return make_error("{}: metadata {}: unknown value type {}", label, key,
                      static_cast<uint32_t>(type));
  R1_TRY(c.need(es, "metadata " + key));
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  decode_scalar(type, c.here(), &u, &i, &f);
  c.skip(es);
  switch (type) {
    case GgufType::F32: return GgufValue::f32(float(f));
    case GgufType::F64: return GgufValue::f64(f);
    case GgufType::Bool:
      if (u > 1) return make_error("{}: metadata {}: bool byte is {}, not 0 or 1", label, key, u);
      return GgufValue::boolean(u != 0);
    case GgufType::I8: return GgufValue::i8(int8_t(i));
    case GgufType::I16: return GgufValue::i16(int16_t(i));
    case GgufType::I32: return GgufValue::i32(int32_t(i));
    case GgufType::I64: return GgufValue::i64(i);
    case GgufType::U8: return GgufValue::u8(uint8_t(u));
    case GgufType::U16: return GgufValue::u16(uint16_t(u));
    case GgufType::U32: return GgufValue::u32(uint32_t(u));
    default: return GgufValue::u64(u);
  }
}
}  // namespace

Result<GgufFile> GgufFile::open(const std::string& path) {
  R1_ASSIGN_OR_RETURN(mf, MappedFile::open(path));
  const size_t size = mf->size();
  return parse(Storage::view(std::move(mf), 0, size), path);
}

Result<GgufFile> GgufFile::parse(std::shared_ptr<Storage> bytes, const std::string& label) {
  Cursor c(bytes->data(), bytes->size(), label);
  GgufFile f;
  f.path_ = label;
  if (bytes->size() < 4 || std::memcmp(bytes->data(), "GGUF", 4) != 0)
    return make_error("{}: not a GGUF file (magic is not \"GGUF\")", label);
  c.skip(4);
  R1_ASSIGN_OR_RETURN(version, c.read<uint32_t>("version"));
  if (version == 1)
    return make_error("{}: GGUF version 1 is not supported (re-convert the model; v2 and v3 are)",
                      label);
  if (version < 1 || version > 3)
    return make_error("{}: unsupported GGUF version {} (v2 and v3 are supported; a big-endian "
                      "file reads as a huge version)", label, version);
  f.version_ = version;
  R1_ASSIGN_OR_RETURN(n_tensors, c.read<uint64_t>("tensor count"));
  R1_ASSIGN_OR_RETURN(n_kv, c.read<uint64_t>("metadata count"));
  // Smallest KV: empty key (8) + type (4) + u8 (1); smallest tensor info: name (8) + n_dims (4)
  // + one ne (8) + type (4) + offset (8).
  if (n_kv > c.left() / 13)
    return make_error("{}: metadata count {} is larger than the file could hold", label, n_kv);
  if (n_tensors > c.left() / 32)
    return make_error("{}: tensor count {} is larger than the file could hold", label, n_tensors);

  auto kv = std::make_shared<std::unordered_map<std::string, GgufValue>>();
  kv->reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    R1_ASSIGN_OR_RETURN(key, c.read_string(fmt::format("metadata key #{}", k)));
    R1_ASSIGN_OR_RETURN(type, c.read<uint32_t>("value type of " + key));
    R1_ASSIGN_OR_RETURN(value, read_value(c, static_cast<GgufType>(type), key, label, 0));
    if (kv->count(key)) return make_error("{}: metadata {}: duplicate key", label, key);
    kv->emplace(key, std::move(value));
    f.keys_.push_back(std::move(key));
  }
  if (auto it = kv->find("general.alignment"); it != kv->end()) {
    const GgufValue& a = it->second;
    if (a.type() != GgufType::U32)
      return make_error("{}: metadata general.alignment: expected u32, found {}", label,
                        gguf_type_name(a.type()));
    const uint64_t al = a.as_u64();
    if (al == 0 || (al & (al - 1)) != 0)
      return make_error("{}: metadata general.alignment: {} is not a power of two", label, al);
    f.alignment_ = al;
  }
  f.kv_ = std::move(kv);

  f.tensors_.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    R1_ASSIGN_OR_RETURN(name, c.read_string(fmt::format("tensor name #{}", k)));
    t.name = std::move(name);
    R1_ASSIGN_OR_RETURN(n_dims, c.read<uint32_t>("n_dims of tensor " + t.name));
    if (n_dims < 1 || n_dims > uint32_t(kMaxDimsGguf))
      return make_error("{}: tensor {}: n_dims {} outside 1..{}", label, t.name, n_dims,
                        kMaxDimsGguf);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      R1_ASSIGN_OR_RETURN(ne, c.read<uint64_t>("ne of tensor " + t.name));
      if (ne > uint64_t(INT64_MAX) || !checked_mul(numel, ne, &numel))
        return make_error("{}: tensor {}: dimensions overflow (ne[{}] = {})", label, t.name, d, ne);
      t.ne.push_back(int64_t(ne));
    }
    R1_ASSIGN_OR_RETURN(type, c.read<uint32_t>("type of tensor " + t.name));
    t.ggml_type = type;
    R1_ASSIGN_OR_RETURN(offset, c.read<uint64_t>("offset of tensor " + t.name));
    t.offset = offset;
    const GgmlTypeInfo* ti = ggml_type_info(type);
    if (!ti) return make_error("{}: tensor {}: unknown ggml type {}", label, t.name, type);
    if (t.ne[0] % ti->block_size != 0)
      return make_error("{}: tensor {}: row of {} elements is not a whole number of {} blocks of {}",
                        label, t.name, t.ne[0], ti->name, ti->block_size);
    if (!strides_fit(t.ne, uint64_t(ti->block_size), uint64_t(ti->type_size)) ||
        !checked_mul(numel / uint64_t(ti->block_size), uint64_t(ti->type_size), &t.nbytes))
      return make_error("{}: tensor {}: byte size overflows", label, t.name);
    if (f.tindex_.count(t.name)) return make_error("{}: tensor {}: duplicate name", label, t.name);
    f.tindex_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment after the header.
  const uint64_t header_end = c.pos();
  const uint64_t data_offset = (header_end + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  const uint64_t file_size = bytes->size();
  const uint64_t data_size = data_offset <= file_size ? file_size - data_offset : 0;
  f.data_offset_ = data_offset;
  if (!f.tensors_.empty() && data_offset > file_size)
    return make_error("{}: truncated: the tensor data section would start at byte {}, past the end "
                      "of the file ({} bytes)", label, data_offset, file_size);
  for (const auto& t : f.tensors_) {
    if (t.offset % f.alignment_ != 0)
      return make_error("{}: tensor {}: offset {} is not a multiple of the alignment {}", label,
                        t.name, t.offset, f.alignment_);
    uint64_t end = 0;
    if (!checked_add(t.offset, t.nbytes, &end) || end > data_size)
      return make_error("{}: tensor {}: data [{}, +{}) runs past the end of the file (data "
                        "section holds {} bytes)", label, t.name, t.offset, t.nbytes, data_size);
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : f.tensors_)
    if (t.nbytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->nbytes)
      return make_error("{}: tensor {}: data at offset {} overlaps tensor {} [{}, +{})", label,
                        by_offset[i]->name, by_offset[i]->offset, by_offset[i - 1]->name,
                        by_offset[i - 1]->offset, by_offset[i - 1]->nbytes);
  f.bytes_ = std::move(bytes);
  return f;
}

const GgufValue* GgufFile::get(const std::string& key) const {
  if (!kv_) return nullptr;
  auto it = kv_->find(key);
  return it == kv_->end() ? nullptr : &it->second;
}

namespace {
Error type_error(const std::string& path, const std::string& key, const char* want,
                 const GgufValue& v) {
  const std::string found =
      v.is_array() ? fmt::format("array of {}", gguf_type_name(v.elem_type())) : gguf_type_name(v.type());
  return make_error("{}: metadata {}: expected {}, found {}", path, key, want, found);
}
}  // namespace

#define R1_GGUF_GET(var, key)                                                  \
  const GgufValue* var = get(key);                                             \
  if (!var) return make_error("{}: metadata {} missing", path_, key)

Result<uint32_t> GgufFile::get_u32(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_integer()) return type_error(path_, key, "u32", *v);
  const bool neg = is_signed_int(v->type()) && v->as_i64() < 0;
  if (neg || v->as_u64() > UINT32_MAX)
    return make_error("{}: metadata {}: {} does not fit in u32", path_, key, v->summary());
  return uint32_t(v->as_u64());
}

Result<int64_t> GgufFile::get_i64(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_integer()) return type_error(path_, key, "an integer", *v);
  if (v->type() == GgufType::U64 && v->as_u64() > uint64_t(INT64_MAX))
    return make_error("{}: metadata {}: {} does not fit in i64", path_, key, v->as_u64());
  return v->as_i64();
}

Result<float> GgufFile::get_f32(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_float()) return type_error(path_, key, "f32", *v);
  return float(v->as_f64());
}

Result<bool> GgufFile::get_bool(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (v->type() != GgufType::Bool) return type_error(path_, key, "bool", *v);
  return v->as_bool();
}

Result<std::string> GgufFile::get_string(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (v->type() != GgufType::String) return type_error(path_, key, "string", *v);
  return v->as_string();
}

Result<std::vector<std::string>> GgufFile::get_string_array(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_array() || v->elem_type() != GgufType::String)
    return type_error(path_, key, "array of string", *v);
  return v->strings();
}

Result<std::vector<float>> GgufFile::get_f32_array(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_array() || gguf_scalar_size(v->elem_type()) == 0 || v->elem_type() == GgufType::Bool)
    return type_error(path_, key, "array of f32", *v);
  std::vector<float> out(v->size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(v->float_at(i));
  return out;
}

Result<std::vector<int32_t>> GgufFile::get_i32_array(const std::string& key) const {
  R1_GGUF_GET(v, key);
  if (!v->is_array() || !is_int_type(v->elem_type()))
    return type_error(path_, key, "array of i32", *v);
  std::vector<int32_t> out(v->size());
  const bool sgn = is_signed_int(v->elem_type());
  for (size_t i = 0; i < out.size(); ++i) {
    if (sgn) {
      const int64_t x = v->int_at(i);
      if (x < INT32_MIN || x > INT32_MAX)
        return make_error("{}: metadata {}[{}]: {} does not fit in i32", path_, key, i, x);
      out[i] = int32_t(x);
    } else {
      const uint64_t x = v->uint_at(i);
      if (x > uint64_t(INT32_MAX))
        return make_error("{}: metadata {}[{}]: {} does not fit in i32", path_, key, i, x);
      out[i] = int32_t(x);
    }
  }
  return out;
}
#undef R1_GGUF_GET

std::vector<std::string> GgufFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  return out;
}

const GgufTensorInfo* GgufFile::tensor_info(const std::string& name) const {
  auto it = tindex_.find(name);
  return it == tindex_.end() ? nullptr : &tensors_[it->second];
}

Result<Tensor> GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* t = tensor_info(name);
  if (!t) return make_error("{}: tensor {} not found", path_, name);
  const GgmlTypeInfo* ti = ggml_type_info(t->ggml_type);
  if (!ti || !ti->dtype)
    return make_error("{}: tensor {}: unsupported tensor type {} (supported: {})", path_, name,
                      t->type_name(), supported_type_names());
  const std::vector<int64_t> shape = t->shape();
  const size_t at = size_t(data_offset_ + t->offset);
  // general.alignment 1 or 2 is legal yet can leave F32/I32 data (or the f16 block scales of
  // Q8_0/Q4_0) misaligned for their type; reading through such a pointer is undefined behaviour,
  // so that tensor is copied once into aligned memory instead of viewed.
  const uint64_t need = std::min<uint64_t>(8, uint64_t(ti->type_size) & (~uint64_t(ti->type_size) + 1));
  if ((reinterpret_cast<uintptr_t>(bytes_->data()) + at) % need != 0) {
    auto copy = Storage::allocate(size_t(t->nbytes));
    if (t->nbytes) std::memcpy(copy->data(), bytes_->data() + at, size_t(t->nbytes));
    return Tensor::view(std::move(copy), 0, *ti->dtype, shape.data(), int(shape.size()));
  }
  return Tensor::view(bytes_, at, *ti->dtype, shape.data(), int(shape.size()));
}

}  // namespace r1::io

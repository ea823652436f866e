#include "models/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/storage.h"

namespace r1::models {
namespace {

// Finds `'key':` in the header dict and returns the text after the colon.
bool header_value(const std::string& h, const std::string& key, std::string* out) {
  const size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return false;
  const size_t colon = h.find(':', k);
  if (colon == std::string::npos) return false;
  *out = h.substr(colon + 1);
  size_t i = 0;
  while (i < out->size() && (*out)[i] == ' ') ++i;
  *out = out->substr(i);
  return true;
}

}  // namespace

Result<NpyArray> read_npy_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot open", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    return make_error("{}: not a .npy file (bad magic)", path);
  const uint8_t major = uint8_t(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return make_error("{}: truncated header", path);
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t(uint8_t(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    return make_error("{}: unsupported .npy version {}", path, major);
  }
  if (header_start + header_len > bytes.size()) return make_error("{}: truncated header", path);
  const std::string h = bytes.substr(header_start, header_len);
  std::string descr, fortran, shape_s;
  if (!header_value(h, "descr", &descr) || !header_value(h, "fortran_order", &fortran) ||
      !header_value(h, "shape", &shape_s))
    return make_error("{}: header lacks descr/fortran_order/shape", path);
  if (descr.rfind("'<f4'", 0) != 0)
    return make_error("{}: dtype {} is not float32 '<f4'", path, descr.substr(0, descr.find(',')));
  if (fortran.rfind("False", 0) != 0) return make_error("{}: Fortran order is not supported", path);
  if (shape_s.empty() || shape_s[0] != '(') return make_error("{}: bad shape", path);
  NpyArray a;
  const size_t close = shape_s.find(')');
  if (close == std::string::npos) return make_error("{}: bad shape", path);
  std::stringstream ss(shape_s.substr(1, close - 1));
  std::string item;
  int64_t numel = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (v < 0) return make_error("{}: bad shape", path);
    a.shape.push_back(v);
    numel *= v;
  }
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != size_t(numel) * 4)
    return make_error("{}: {} data bytes, shape needs {}", path, bytes.size() - data_start,
                      numel * 4);
  a.data.resize(size_t(numel));
  std::memcpy(a.data.data(), bytes.data() + data_start, size_t(numel) * 4);
  return a;
}

std::string npy_f32_bytes(const float* data, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size()) dict += " ";
    numel *= shape[i];
  }
  dict += "), }";
  // Pad with spaces so magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(dict.size() & 0xff);
  out += char((dict.size() >> 8) & 0xff);
  out += dict;
  out.append(reinterpret_cast<const char*>(data), size_t(numel) * 4);
  return out;
}

Result<void> write_npy_f32(const std::string& path, const float* data,
                           const std::vector<int64_t>& shape) {
  const std::string bytes = npy_f32_bytes(data, shape);
  return write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace r1::models

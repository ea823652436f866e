// Importance-matrix files; see convert_quant_imatrix.h.
#include "models/convert_quant_imatrix.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <utility>

#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace r1::models {
namespace {

constexpr char kSums[] = ".in_sum2";
constexpr char kCounts[] = ".counts";

Result<Imatrix> read_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open", path);
  auto rd = [&](void* p, size_t n) { return bool(in.read(static_cast<char*>(p), std::streamsize(n))); };
  int32_t n_entries = 0;
  if (!rd(&n_entries, 4) || n_entries < 1)
    return make_error("{}: neither a GGUF nor a legacy imatrix file (no entries)", path);
  Imatrix m;
  m.legacy = true;
  for (int32_t i = 0; i < n_entries; ++i) {
    int32_t len = 0;
    if (!rd(&len, 4) || len <= 0 || len > 4096)
      return make_error("{}: entry {}: bad name length", path, i + 1);
    std::string name(size_t(len), '\0');
    int32_t ncall = 0, nval = 0;
    if (!rd(name.data(), size_t(len)) || !rd(&ncall, 4) || !rd(&nval, 4) || nval < 1 || nval > (1 << 28))
      return make_error("{}: entry {} ({}): truncated or bad value count", path, i + 1, name);
    ImatrixEntry e;
    e.sums.resize(size_t(nval));
    if (!rd(e.sums.data(), size_t(nval) * 4))
      return make_error("{}: entry {} ({}): truncated data", path, i + 1, name);
    e.counts = {ncall};
    m.entries[name] = std::move(e);
  }
  int32_t n_chunks = 0;
  if (rd(&n_chunks, 4)) {
    m.chunk_count = uint32_t(std::max(0, n_chunks));
    int32_t len = 0;
    if (rd(&len, 4) && len > 0 && len < (1 << 20)) {
      std::string ds(size_t(len), '\0');
      if (rd(ds.data(), size_t(len))) m.datasets.push_back(ds.c_str());
    }
  }
  return m;
}

bool is_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

ImatrixValues Imatrix::values() const {
  ImatrixValues out;
  for (const auto& [name, e] : entries) {
    auto& v = out[name];
    v.resize(e.sums.size());
    if (legacy) {
      const int64_t ncall = e.counts.empty() ? 0 : e.counts[0];
      for (size_t i = 0; i < v.size(); ++i) v[i] = ncall > 0 ? e.sums[i] / float(ncall) : e.sums[i];
      continue;
    }
    const size_t n_mat = e.counts.size(), ne0 = v.size() / n_mat;
    for (size_t j = 0; j < n_mat; ++j) {
      const float count = float(e.counts[j]);
      for (size_t i = 0; i < ne0; ++i) v[j * ne0 + i] = count > 0.0f ? e.sums[j * ne0 + i] / count : 1;
    }
  }
  return out;
}

Result<Imatrix> read_imatrix(const std::string& path) {
  if (!is_gguf(path)) return read_legacy(path);
  R1_ASSIGN_OR_RETURN(f, io::GgufFile::open(path));
  Imatrix m;
  if (!f.has("imatrix.datasets") || !f.has("imatrix.chunk_count") || !f.has("imatrix.chunk_size"))
    return make_error("{}: not an imatrix GGUF (imatrix.datasets / chunk_count / chunk_size "
                      "metadata missing)", path);
  R1_ASSIGN_OR_RETURN(ds, f.get_string_array("imatrix.datasets"));
  m.datasets = std::move(ds);
  R1_ASSIGN_OR_RETURN(cc, f.get_u32("imatrix.chunk_count"));
  R1_ASSIGN_OR_RETURN(cs, f.get_u32("imatrix.chunk_size"));
  m.chunk_count = cc;
  m.chunk_size = cs;
  std::map<std::string, std::pair<const io::GgufTensorInfo*, const io::GgufTensorInfo*>> pairs;
  for (const auto& t : f.tensor_infos()) {
    if (t.name.ends_with(kSums)) pairs[t.name.substr(0, t.name.size() - strlen(kSums))].first = &t;
    else if (t.name.ends_with(kCounts)) pairs[t.name.substr(0, t.name.size() - strlen(kCounts))].second = &t;
  }
  if (pairs.empty()) return make_error("{}: no NAME.in_sum2 / NAME.counts tensors", path);
  for (const auto& [name, pc] : pairs) {
    if (!pc.first || !pc.second)
      return make_error("{}: {}: sums without counts or counts without sums", path, name);
    for (const io::GgufTensorInfo* t : {pc.first, pc.second})
      if (std::string(t->type_name()) != "F32")
        return make_error("{}: {} is {}, must be F32", path, t->name, t->type_name());
    R1_ASSIGN_OR_RETURN(sums, f.tensor(pc.first->name));
    R1_ASSIGN_OR_RETURN(counts, f.tensor(pc.second->name));
    const int64_t n_mat = counts.numel();
    if (n_mat < 1 || sums.numel() < 1 || sums.numel() % n_mat != 0)
      return make_error("{}: {}: {} sums are not whole rows for {} counts", path, name, sums.numel(), n_mat);
    ImatrixEntry e;
    const float* ps = std::as_const(sums).data<float>();
    const float* pc_data = std::as_const(counts).data<float>();
    e.sums.assign(ps, ps + sums.numel());
    for (int64_t j = 0; j < n_mat; ++j) e.counts.push_back(std::lround(pc_data[j]));
    for (float v : e.sums)
      if (!std::isfinite(v)) return make_error("{}: {}: non-finite value", path, name);
    m.entries[name] = std::move(e);
  }
  return m;
}

Result<void> write_imatrix_gguf(const Imatrix& m, const std::string& path) {
  io::GgufWriter w;
  w.set_string("general.type", "imatrix");
  w.set_string_array("imatrix.datasets", m.datasets);
  w.set_u32("imatrix.chunk_count", m.chunk_count);
  w.set_u32("imatrix.chunk_size", m.chunk_size);
  for (const auto& [name, e] : m.entries) {  // std::map: sorted by name, as llama.cpp writes
    const int64_t n_mat = int64_t(e.counts.size());
    if (n_mat < 1 || e.sums.empty() || int64_t(e.sums.size()) % n_mat != 0)
      return make_error("imatrix {}: {} sums are not whole rows for {} counts", name, e.sums.size(), n_mat);
    const int64_t ne0 = int64_t(e.sums.size()) / n_mat;
    R1_TRY(w.add_tensor(name + kSums, e.sums.data(), {n_mat, ne0}, DType::F32));
    std::vector<float> c(e.counts.begin(), e.counts.end());
    R1_TRY(w.add_tensor(name + kCounts, c.data(), {n_mat, 1}, DType::F32));
  }
  return w.write(path);
}

}  // namespace r1::models

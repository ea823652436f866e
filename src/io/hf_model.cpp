#include "io/hf_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "io/io_util.h"

namespace r1::io {

namespace fs = std::filesystem;

Result<HfModelDir> HfModelDir::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error("{}: not a directory (or missing)", dir);
  HfModelDir m;
  m.dir_ = dir;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path, ec)) return make_error("{}: missing (every model directory needs one)", config_path);
  R1_ASSIGN_OR_RETURN(config, read_json_file(config_path));
  if (!config.is_object()) return make_error("{}: not a JSON object", config_path);
  m.config_ = std::move(config);

  const std::string gen_path = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(gen_path, ec)) {
    R1_ASSIGN_OR_RETURN(gen, read_json_file(gen_path));
    if (!gen.is_object()) return make_error("{}: not a JSON object", gen_path);
    m.generation_config_ = std::move(gen);
    m.has_generation_config_ = true;
  }

  // Which safetensors files hold the weights, and (with an index) which tensor is where.
  std::vector<std::string> shard_names;
  std::vector<std::pair<std::string, std::string>> mapped;  // tensor -> shard, from the index
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  if (fs::exists(index_path, ec)) {
    R1_ASSIGN_OR_RETURN(index, read_json_file(index_path));
    auto wm = index.is_object() ? index.find("weight_map") : index.end();
    if (!index.is_object() || wm == index.end() || !wm->is_object())
      return make_error("{}: field weight_map missing or not an object", index_path);
    std::set<std::string> seen;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        return make_error("{}: weight_map[\"{}\"] is not a string", index_path, it.key());
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        return make_error("{}: weight_map[\"{}\"]: shard \"{}\" is not a plain file name",
                          index_path, it.key(), shard);
      if (seen.insert(shard).second) shard_names.push_back(shard);
      mapped.emplace_back(it.key(), shard);
    }
    if (shard_names.empty()) return make_error("{}: weight_map is empty", index_path);
  } else if (fs::exists(fs::path(dir) / "model.safetensors", ec)) {
    shard_names.push_back("model.safetensors");
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() > 17 && n.rfind("model", 0) == 0 &&
          n.compare(n.size() - 12, 12, ".safetensors") == 0 && e.is_regular_file(ec))
        shard_names.push_back(n);
    }
    std::sort(shard_names.begin(), shard_names.end());
    if (shard_names.empty())
      return make_error("{}: no weights (model.safetensors, model.safetensors.index.json or "
                        "model-*.safetensors)", dir);
  }

  std::unordered_map<std::string, size_t> shard_index;
  for (const auto& n : shard_names) {
    R1_ASSIGN_OR_RETURN(sf, SafetensorsFile::open((fs::path(dir) / n).string()));
    shard_index[n] = m.files_.size();
    m.files_.push_back(std::move(sf));
  }
  if (!mapped.empty()) {
    for (const auto& [name, shard] : mapped) {
      const size_t fi = shard_index.at(shard);
      if (!m.files_[fi].has(name))
        return make_error("{}: tensor {} is mapped to {} but that file does not contain it",
                          index_path, name, shard);
      m.where_.emplace(name, fi);
    }
  } else {
    for (size_t fi = 0; fi < m.files_.size(); ++fi)
      for (const auto& e : m.files_[fi].entries()) {
        auto [it, fresh] = m.where_.emplace(e.name, fi);
        if (!fresh)
          return make_error("{}: tensor {} appears in both {} and {}", dir, e.name,
                            m.files_[it->second].path(), m.files_[fi].path());
      }
  }
  return m;
}

std::vector<std::string> HfModelDir::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [n, _] : where_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

const SafetensorsFile* HfModelDir::file_of(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : &files_[it->second];
}

Result<Tensor> HfModelDir::tensor(const std::string& name) const {
  const SafetensorsFile* f = file_of(name);
  if (!f) return make_error("{}: tensor {} not found", dir_, name);
  return f->tensor(name);
}

namespace {
std::string shape_text(const int64_t* s, size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
}  // namespace

Result<Tensor> HfModelDir::tensor(const std::string& name,
                                  const std::vector<int64_t>& expected_shape) const {
  R1_ASSIGN_OR_RETURN(t, tensor(name));
  bool same = size_t(t.ndim()) == expected_shape.size();
  for (size_t i = 0; same && i < expected_shape.size(); ++i) same = t.dim(int(i)) == expected_shape[i];
  if (!same)
    return make_error("{}: tensor {}: shape {} but the config implies {}", file_of(name)->path(),
                      name, shape_text(t.shape().data(), size_t(t.ndim())),
                      shape_text(expected_shape.data(), expected_shape.size()));
  return t;
}

// ---- config fields

namespace {
std::string config_label(const std::string& dir) { return (fs::path(dir) / "config.json").string(); }
}  // namespace

Result<int64_t> HfModelDir::config_int(const std::string& key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null())
    return make_error("{}: field {} missing", config_label(dir_), key);
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX))
      return make_error("{}: field {}: {} is too large", config_label(dir_), key, it->dump());
    return it->get<int64_t>();
  }
  if (it->is_number_float()) {  // 4096.0 is fine, 4096.5 is not
    const double d = it->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return int64_t(d);
  }
  return make_error("{}: field {}: expected an integer, found {}", config_label(dir_), key, it->dump());
}

Result<double> HfModelDir::config_float(const std::string& key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null())
    return make_error("{}: field {} missing", config_label(dir_), key);
  if (!it->is_number())
    return make_error("{}: field {}: expected a number, found {}", config_label(dir_), key, it->dump());
  return it->get<double>();
}

Result<std::string> HfModelDir::config_string(const std::string& key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null())
    return make_error("{}: field {} missing", config_label(dir_), key);
  if (!it->is_string())
    return make_error("{}: field {}: expected a string, found {}", config_label(dir_), key, it->dump());
  return it->get<std::string>();
}

Result<bool> HfModelDir::config_bool(const std::string& key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null())
    return make_error("{}: field {} missing", config_label(dir_), key);
  if (!it->is_boolean())
    return make_error("{}: field {}: expected true or false, found {}", config_label(dir_), key,
                      it->dump());
  return it->get<bool>();
}

int64_t HfModelDir::config_int_or(const std::string& key, int64_t fallback) const {
  auto r = config_int(key);
  return r.ok() ? r.value() : fallback;
}
double HfModelDir::config_float_or(const std::string& key, double fallback) const {
  auto r = config_float(key);
  return r.ok() ? r.value() : fallback;
}
bool HfModelDir::config_bool_or(const std::string& key, bool fallback) const {
  auto r = config_bool(key);
  return r.ok() ? r.value() : fallback;
}

// ---- FP8

bool HfModelDir::is_fp8() const {
  auto q = config_.find("quantization_config");
  if (q == config_.end() || !q->is_object()) return false;
  auto m = q->find("quant_method");
  return m != q->end() && m->is_string() && m->get<std::string>() == "fp8";
}

Result<std::array<int64_t, 2>> HfModelDir::weight_block_size() const {
  std::array<int64_t, 2> out = {128, 128};
  auto q = config_.find("quantization_config");
  if (q == config_.end() || !q->is_object()) return out;
  auto b = q->find("weight_block_size");
  if (b == q->end() || b->is_null()) return out;
  if (!b->is_array() || b->size() != 2 || !(*b)[0].is_number_integer() ||
      !(*b)[1].is_number_integer() || (*b)[0].get<int64_t>() <= 0 || (*b)[1].get<int64_t>() <= 0)
    return make_error("{}: field quantization_config.weight_block_size: expected two positive "
                      "integers, found {}", config_label(dir_), b->dump());
  out = {(*b)[0].get<int64_t>(), (*b)[1].get<int64_t>()};
  return out;
}

Result<Tensor> HfModelDir::weight_scale_inv(const std::string& weight_name) const {
  R1_ASSIGN_OR_RETURN(w, tensor(weight_name));
  const std::string where = file_of(weight_name)->path();
  if (w.dtype() != DType::F8_E4M3 || w.ndim() != 2)
    return make_error("{}: tensor {}: expected a 2-D F8_E4M3 weight, found {}", where, weight_name,
                      w.shape_str());
  R1_ASSIGN_OR_RETURN(block, weight_block_size());
  const std::string sname = weight_name + "_scale_inv";
  if (!has(sname))
    return make_error("{}: tensor {} missing (FP8 weight {} needs its block scales)", dir_, sname,
                      weight_name);
  R1_ASSIGN_OR_RETURN(s, tensor(sname));
  const int64_t rows = (w.dim(0) + block[0] - 1) / block[0];
  const int64_t cols = (w.dim(1) + block[1] - 1) / block[1];
  if (s.dtype() != DType::F32 || s.ndim() != 2 || s.dim(0) != rows || s.dim(1) != cols)
    return make_error("{}: tensor {}: expected F32 [{}, {}] (blocks of {}x{} over {} {}), found {}",
                      file_of(sname)->path(), sname, rows, cols, block[0], block[1], weight_name,
                      w.shape_str(), s.shape_str());
  return s;
}

}  // namespace r1::io

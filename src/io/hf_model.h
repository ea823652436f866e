// A Hugging Face model directory: config.json, optional generation_config.json, and weights in
// model.safetensors, in the shards named by model.safetensors.index.json, or in model*.safetensors.
// Other *.safetensors files in the folder (e.g. train/grads.safetensors) are never read.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/tensor.h"
#include "io/safetensors.h"

namespace r1::io {

class HfModelDir {
 public:
  /// Opens `dir`: parses config.json (required), generation_config.json (optional), then the
  /// weights: model.safetensors.index.json if present (every shard in its weight_map must exist
  /// and hold the tensors mapped to it), else model.safetensors, else model*.safetensors files.
  /// Errors (one line naming the file/tensor/field): missing dir or config.json, bad JSON, no
  /// weights file, a shard name with '/' in it, a missing shard, a tensor listed in the index but
  /// absent from its shard, the same tensor in two files, any safetensors validation error.
  static Result<HfModelDir> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const { return config_; }
  /// generation_config.json, or an empty object when the file is absent.
  const nlohmann::json& generation_config() const { return generation_config_; }
  bool has_generation_config() const { return has_generation_config_; }

  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  /// A view of tensor `name` (no copy; shape in file order). Error: "DIR: tensor NAME not found".
  Result<Tensor> tensor(const std::string& name) const;
  /// Like tensor(name), also checking the shape. Error names the tensor, both shapes.
  Result<Tensor> tensor(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  /// The safetensors file holding `name`, or nullptr.
  const SafetensorsFile* file_of(const std::string& name) const;
  /// The opened weight files (one, or one per shard).
  const std::vector<SafetensorsFile>& files() const { return files_; }

  // ---- config.json fields; errors: "DIR/config.json: field KEY missing" / "... is not ..." ----
  Result<int64_t> config_int(const std::string& key) const;
  Result<double> config_float(const std::string& key) const;
  Result<std::string> config_string(const std::string& key) const;
  Result<bool> config_bool(const std::string& key) const;
  /// Value of `key` if present (any JSON type), else `fallback`.
  int64_t config_int_or(const std::string& key, int64_t fallback) const;
  double config_float_or(const std::string& key, double fallback) const;
  bool config_bool_or(const std::string& key, bool fallback) const;

  // ---- FP8 block-quantised checkpoints (DeepSeek-V3/R1 release) ----
  /// True when config.json has quantization_config.quant_method == "fp8".
  bool is_fp8() const;
  /// quantization_config.weight_block_size as [block_out, block_in]; [128, 128] when absent.
  /// Errors: present but not two positive integers.
  Result<std::array<int64_t, 2>> weight_block_size() const;
  /// For an F8_E4M3 weight `weight_name` [out, in], its `weight_name + "_scale_inv"` tensor, checked
  /// to be F32 [ceil(out/block_out), ceil(in/block_in)]. Errors: weight not FP8 or not 2-D,
  /// scale missing, wrong dtype or shape (each naming the tensors).
  Result<Tensor> weight_scale_inv(const std::string& weight_name) const;

 private:
  std::string dir_;
  nlohmann::json config_;
  nlohmann::json generation_config_ = nlohmann::json::object();
  bool has_generation_config_ = false;
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, size_t> where_;  // tensor name -> index into files_
};

}  // namespace r1::io

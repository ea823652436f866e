// load_model(): opens an HF directory or a GGUF file and picks the architecture. This file is the
// only place that switches on the architecture name.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <utility>

#include "io/gguf.h"
#include "io/hf_model.h"
#include "io/io_util.h"
#include "models/convert.h"
#include "models/decoder.h"
#include "models/deepseek_v3/gguf.h"
#include "models/deepseek_v3/model.h"
#include "models/model.h"
#include "models/model_info.h"

namespace r1::models {
namespace {

namespace fs = std::filesystem;

bool is_gguf_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

Result<std::unique_ptr<CausalLM>> load_hf(const std::string& path, const LoadOptions& opts,
                                          ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(dir, io::HfModelDir::open(path));
  const std::string label = path + "/config.json";
  const auto& cj = dir.config();
  auto mt = cj.find("model_type");
  if (mt == cj.end() || !mt->is_string())
    return make_error("{}: field model_type missing (llama, qwen2 or deepseek_v3)", label);
  const std::string arch = mt->get<std::string>();

  DecoderVariant variant;
  if (arch == "llama") {
    variant.read_attention_bias = true;
  } else if (arch == "qwen2") {
    variant.qkv_bias_always = true;
  } else if (arch == "deepseek_v3" || arch == "deepseek_v2") {
    R1_ASSIGN_OR_RETURN(ds, deepseek_v3::load_hf(dir, opts, pool));
    return std::unique_ptr<CausalLM>(std::move(ds));
  } else {
    return make_error("{}: model_type '{}' is not supported (llama, qwen2)", label, arch);
  }
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(cj, label, variant));
  R1_ASSIGN_OR_RETURN(info, hf_model_info(dir, arch));
  HfTensorSource src(&dir);
  R1_ASSIGN_OR_RETURN(m, DecoderLM::load(cfg, src, kernels::RopeLayout::NeoX, {}, info, pool));
  return std::unique_ptr<CausalLM>(std::move(m));
}

Result<std::unique_ptr<CausalLM>> load_gguf(const std::string& path, const LoadOptions& opts,
                                            ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(file, io::GgufFile::open(path));
  R1_ASSIGN_OR_RETURN(arch, file.get_string("general.architecture"));
  if (arch == "deepseek2") {
    R1_ASSIGN_OR_RETURN(ds, deepseek_v3::load_gguf(file, opts, pool));
    return std::unique_ptr<CausalLM>(std::move(ds));
  }
  // llama.cpp's converter permutes the Q/K rows of `llama` checkpoints so that its NORM rope
  // (adjacent pairs) applies; `qwen2` files keep HF's row order and use NEOX (rotate-half).
  kernels::RopeLayout layout;
  if (arch == "llama") {
    layout = kernels::RopeLayout::Interleaved;
  } else if (arch == "qwen2") {
    layout = kernels::RopeLayout::NeoX;
  } else {
    return make_error("{}: general.architecture '{}' is not supported (llama, qwen2, deepseek2)",
                      path, arch);
  }
  R1_ASSIGN_OR_RETURN(cfg, decoder_config_from_gguf(file, arch));
  std::vector<float> freq_factors;
  if (file.has_tensor("rope_freqs.weight")) {
    R1_ASSIGN_OR_RETURN(rf, file.tensor("rope_freqs.weight"));
    if (rf.dtype() != DType::F32 || rf.ndim() != 1)
      return make_error("{}: tensor rope_freqs.weight must be 1-d F32, got {}", path,
                        rf.shape_str());
    const float* f = std::as_const(rf).data<float>();
    freq_factors.assign(f, f + rf.numel());
  }
  R1_ASSIGN_OR_RETURN(info, gguf_model_info(file, arch));
  GgufTensorSource src(&file);
  R1_ASSIGN_OR_RETURN(m, DecoderLM::load(cfg, src, layout, freq_factors, info, pool));
  return std::unique_ptr<CausalLM>(std::move(m));
}

}  // namespace

Result<std::unique_ptr<CausalLM>> load_model(const std::string& path, const LoadOptions& opts,
                                             ThreadPool& pool) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_hf(path, opts, pool);
  if (!fs::exists(path, ec))
    return make_error("{}: no such file or directory (expected an HF model dir or a .gguf file)",
                      path);
  if (is_gguf_file(path)) return load_gguf(path, opts, pool);
  return make_error("{}: not a GGUF file (bad magic) and not a model directory", path);
}

Result<void> convert_to_gguf(const std::string& model_dir, const std::string& out_path,
                             DType type, std::vector<std::string>* notes) {
  R1_ASSIGN_OR_RETURN(dir, io::HfModelDir::open(model_dir));
  const std::string label = model_dir + "/config.json";
  const auto& cj = dir.config();
  auto mt = cj.find("model_type");
  if (mt == cj.end() || !mt->is_string()) return make_error("{}: field model_type missing", label);
  const std::string arch = mt->get<std::string>();
  DecoderVariant variant;
  bool permute_qk = false;  // llama.cpp's `llama` arch expects permuted Q/K rows (NORM rope)
  if (arch == "llama") {
    variant.read_attention_bias = true;
    permute_qk = true;
  } else if (arch == "qwen2") {
    variant.qkv_bias_always = true;
  } else if (arch == "deepseek_v3" || arch == "deepseek_v2") {
    return write_deepseek2_gguf(dir, type, out_path, notes);
  } else {
    return make_error("{}: converting model_type '{}' is not supported (llama, qwen2, "
                      "deepseek_v2, deepseek_v3)", label, arch);
  }
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(cj, label, variant));
  if (auto gen_eos = parse_token_id_list(dir.generation_config(), model_dir, "eos_token_id");
      gen_eos.ok() && cfg.eos_token_ids.empty())
    cfg.eos_token_ids = *gen_eos;
  return write_decoder_gguf(dir, cfg, permute_qk, type, out_path);
}

}  // namespace r1::models

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

// The decoder family (DecoderLM): one row per architecture. Sources: HF transformers
// LlamaConfig/Qwen2Config/Qwen3Config (which fields exist; Qwen3Config's head_dim defaults to 128),
// llama.cpp convert_hf_to_gguf.py (LlamaModel permutes q/k rows; Qwen2/Qwen3 files keep HF's
// order, which llama.cpp rotates with ROPE_TYPE_NEOX; both Qwen vocabularies hash to pre "qwen2").
namespace {
constexpr DecoderArch kDecoderArchs[] = {
    {"llama", "LlamaForCausalLM",
     DecoderVariant{.read_attention_bias = true, .read_mlp_bias = true},
     kernels::RopeLayout::Interleaved, true, "llama-bpe", true},
    {"qwen2", "Qwen2ForCausalLM", DecoderVariant{.qkv_bias_always = true},
     kernels::RopeLayout::NeoX, false, "qwen2", false},
    {"qwen3", "Qwen3ForCausalLM",
     DecoderVariant{.read_attention_bias = true, .qk_norm = true, .default_head_dim = 128},
     kernels::RopeLayout::NeoX, false, "qwen2", false},
};
}  // namespace

const DecoderArch* find_decoder_arch(std::string_view model_type) {
  for (const DecoderArch& a : kDecoderArchs)
    if (a.model_type == model_type) return &a;
  return nullptr;
}

std::string decoder_arch_names() {
  std::string s;
  for (const DecoderArch& a : kDecoderArchs) {
    if (!s.empty()) s += ", ";
    s += a.model_type;
  }
  return s;
}

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
    return make_error("{}: field model_type missing ({}, deepseek_v3)", label,
                      decoder_arch_names());
  const std::string arch = mt->get<std::string>();

  if (arch == "deepseek_v3" || arch == "deepseek_v2") {
    R1_ASSIGN_OR_RETURN(ds, deepseek_v3::load_hf(dir, opts, pool));
    return std::unique_ptr<CausalLM>(std::move(ds));
  }
  const DecoderArch* da = find_decoder_arch(arch);
  if (da == nullptr)
    return make_error("{}: model_type '{}' is not supported ({}, deepseek_v2, deepseek_v3)", label,
                      arch, decoder_arch_names());
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(cj, label, da->variant));
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
  const DecoderArch* da = find_decoder_arch(arch);
  if (da == nullptr)
    return make_error("{}: general.architecture '{}' is not supported ({}, deepseek2)", path, arch,
                      decoder_arch_names());
  const kernels::RopeLayout layout = da->gguf_rope;
  R1_ASSIGN_OR_RETURN(cfg, decoder_config_from_gguf(file, arch, da->variant));
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
                             const QuantOptions& type, std::vector<std::string>* notes) {
  R1_ASSIGN_OR_RETURN(dir, io::HfModelDir::open(model_dir));
  const std::string label = model_dir + "/config.json";
  const auto& cj = dir.config();
  auto mt = cj.find("model_type");
  if (mt == cj.end() || !mt->is_string()) return make_error("{}: field model_type missing", label);
  const std::string arch = mt->get<std::string>();
  if (arch == "deepseek_v3" || arch == "deepseek_v2")
    return write_deepseek2_gguf(dir, type, out_path, notes);
  const DecoderArch* da = find_decoder_arch(arch);
  if (da == nullptr)
    return make_error("{}: converting model_type '{}' is not supported ({}, deepseek_v2, "
                      "deepseek_v3)", label, arch, decoder_arch_names());
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(cj, label, da->variant));
  if (auto gen_eos = parse_token_id_list(dir.generation_config(), model_dir, "eos_token_id");
      gen_eos.ok() && cfg.eos_token_ids.empty())
    cfg.eos_token_ids = *gen_eos;
  return write_decoder_gguf(dir, cfg, *da, type, out_path);
}

}  // namespace r1::models

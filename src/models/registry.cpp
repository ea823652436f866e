// The architecture registry (registry.h): a table with one entry per architecture, and the
// functions that look an architecture up there (load_model, convert_to_gguf, build_trainable,
// write_random_checkpoint). This file is the only place that switches on the architecture.
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
#include "models/init_model.h"
#include "models/model_info.h"
#include "models/registry.h"

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

// ---- The decoder family (DecoderLM: llama, qwen2, qwen3) ----

Result<std::unique_ptr<CausalLM>> decoder_load_hf(const io::HfModelDir& dir,
                                                  const DecoderArch& da, const LoadOptions&,
                                                  ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(dir.config(), dir.dir() + "/config.json",
                                                da.variant));
  R1_ASSIGN_OR_RETURN(info, hf_model_info(dir, std::string(da.model_type)));
  HfTensorSource src(&dir);
  R1_ASSIGN_OR_RETURN(m, DecoderLM::load(cfg, src, kernels::RopeLayout::NeoX, {}, info, pool));
  return std::unique_ptr<CausalLM>(std::move(m));
}

Result<std::unique_ptr<CausalLM>> decoder_load_gguf(const io::GgufFile& file,
                                                    const DecoderArch& da, const LoadOptions&,
                                                    ThreadPool& pool) {
  const std::string arch(da.model_type);
  R1_ASSIGN_OR_RETURN(cfg, decoder_config_from_gguf(file, arch, da.variant));
  std::vector<float> freq_factors;
  if (file.has_tensor("rope_freqs.weight")) {
    R1_ASSIGN_OR_RETURN(rf, file.tensor("rope_freqs.weight"));
    if (rf.dtype() != DType::F32 || rf.ndim() != 1)
      return make_error("{}: tensor rope_freqs.weight must be 1-d F32, got {}", file.path(),
                        rf.shape_str());
    const float* f = std::as_const(rf).data<float>();
    freq_factors.assign(f, f + rf.numel());
  }
  R1_ASSIGN_OR_RETURN(info, gguf_model_info(file, arch));
  GgufTensorSource src(&file);
  R1_ASSIGN_OR_RETURN(m, DecoderLM::load(cfg, src, da.gguf_rope, freq_factors, info, pool));
  return std::unique_ptr<CausalLM>(std::move(m));
}

Result<void> decoder_convert(const io::HfModelDir& dir, const DecoderArch& da,
                             const QuantOptions& type, const std::string& out_path,
                             std::vector<std::string>*) {
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(dir.config(), dir.dir() + "/config.json",
                                                da.variant));
  if (auto gen_eos = parse_token_id_list(dir.generation_config(), dir.dir(), "eos_token_id");
      gen_eos.ok() && cfg.eos_token_ids.empty())
    cfg.eos_token_ids = *gen_eos;
  return write_decoder_gguf(dir, cfg, da, type, out_path);
}

/// DecoderLM over trainable parameters.
class DecoderTrainable : public TrainableModel {
 public:
  explicit DecoderTrainable(std::unique_ptr<DecoderLM> m) : m_(std::move(m)) {}
  CausalLM& model() override { return *m_; }
  float* forward_train(std::span<const int32_t> tokens, int64_t B, autograd::Tape& tape,
                       float** mtp_logits) override {
    R1_CHECK(mtp_logits == nullptr, "{}: no MTP module", m_->info().arch);
    R1_CHECK(B >= 1 && int64_t(tokens.size()) % B == 0, "{} tokens do not split into {} sequences",
             tokens.size(), B);
    return B == 1 ? m_->forward_train(tokens, tape) : m_->forward_train_batch(tokens, B, tape);
  }

 private:
  std::unique_ptr<DecoderLM> m_;
};

Result<std::unique_ptr<TrainableModel>> decoder_trainable(const nlohmann::json& config,
                                                          const std::string& label,
                                                          const DecoderArch& da,
                                                          const TensorSource& src, ModelInfo info,
                                                          ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(config, label, da.variant));
  R1_ASSIGN_OR_RETURN(m, DecoderLM::load(cfg, src, kernels::RopeLayout::NeoX, {}, info, pool));
  return std::unique_ptr<TrainableModel>(new DecoderTrainable(std::move(m)));
}

Result<void> decoder_write_random(const nlohmann::json& config, const std::string& label,
                                  const DecoderArch& da, const std::string& dir, uint64_t seed,
                                  ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(cfg, parse_decoder_config(config, label, da.variant));
  ModelPreset preset;
  preset.name = "pretrain";
  // find + is_string, not value(): a non-string _name_or_path must be an error naming the field.
  const auto np = config.find("_name_or_path");
  if (np != config.end() && !np->is_null() && !np->is_string())
    return make_error("{}: field _name_or_path: expected a string, got {}", label, np->type_name());
  preset.name_or_path = np != config.end() && np->is_string() ? np->get<std::string>() : "r1-pretrain";
  preset.config = cfg;
  return write_random_model(preset, dir, seed, DType::F32, pool);
}

// ---- The DeepSeek family (DeepseekV3: deepseek_v2, deepseek_v3) ----

Result<std::unique_ptr<CausalLM>> deepseek_load_hf(const io::HfModelDir& dir, const DecoderArch&,
                                                   const LoadOptions& opts, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(ds, deepseek_v3::load_hf(dir, opts, pool));
  return std::unique_ptr<CausalLM>(std::move(ds));
}

Result<std::unique_ptr<CausalLM>> deepseek_load_gguf(const io::GgufFile& file, const DecoderArch&,
                                                     const LoadOptions& opts, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(ds, deepseek_v3::load_gguf(file, opts, pool));
  return std::unique_ptr<CausalLM>(std::move(ds));
}

Result<void> deepseek_convert(const io::HfModelDir& dir, const DecoderArch&,
                              const QuantOptions& type, const std::string& out_path,
                              std::vector<std::string>* notes) {
  return write_deepseek2_gguf(dir, type, out_path, notes);
}

/// DeepseekV3 over trainable parameters: MTP, routed-expert load and the routing bias.
class DeepseekTrainable : public TrainableModel {
 public:
  DeepseekTrainable(std::unique_ptr<deepseek_v3::DeepseekV3> m, std::vector<Tensor> bias)
      : m_(std::move(m)), bias_(std::move(bias)) {}
  CausalLM& model() override { return *m_; }
  float* forward_train(std::span<const int32_t> tokens, int64_t B, autograd::Tape& tape,
                       float** mtp_logits) override {
    return m_->forward_train_batch(tokens, B, tape, mtp_logits, &load_);
  }
  bool has_mtp() const override { return m_->has_mtp(); }
  bool optimizer_updates(const std::string& name) const override {
    return name.find("e_score_correction_bias") == std::string::npos;
  }
  const std::vector<std::vector<int64_t>>& expert_load() const override { return load_; }
  void update_router_bias(double rate) override {
    // bias_[l] views the parameter itself, which the model routes with (nn::MoeWeights).
    for (size_t l = 0; l < load_.size() && l < bias_.size(); ++l) {
      if (load_[l].empty() || !bias_[l].defined() ||
          bias_[l].numel() != int64_t(load_[l].size()))
        continue;
      double mean = 0;
      for (int64_t c : load_[l]) mean += double(c);
      mean /= double(load_[l].size());
      float* bias = bias_[l].data<float>();
      for (size_t e = 0; e < load_[l].size(); ++e) {
        const double d = mean - double(load_[l][e]);
        bias[e] += float(d > 0 ? rate : d < 0 ? -rate : 0.0);
      }
    }
    for (auto& v : load_) std::fill(v.begin(), v.end(), 0);
  }

 private:
  std::unique_ptr<deepseek_v3::DeepseekV3> m_;
  std::vector<Tensor> bias_;  // [layer]: e_score_correction_bias [E] (undefined: none)
  std::vector<std::vector<int64_t>> load_;
};

Result<std::unique_ptr<TrainableModel>> deepseek_trainable(const nlohmann::json& config,
                                                           const std::string& label,
                                                           const DecoderArch&,
                                                           const TensorSource& src, ModelInfo info,
                                                           ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(cfg, deepseek_v3::parse_config(config, label));
  R1_ASSIGN_OR_RETURN(m, deepseek_v3::DeepseekV3::load(cfg, src, LoadOptions{}, info, pool));
  std::vector<Tensor> bias(size_t(cfg.num_hidden_layers));
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string name =
        "model.layers." + std::to_string(l) + ".mlp.gate.e_score_correction_bias";
    if (!src.has(name)) continue;
    R1_ASSIGN_OR_RETURN(t, src.get(name));
    if (t.dtype() == DType::F32) bias[size_t(l)] = t;
  }
  return std::unique_ptr<TrainableModel>(new DeepseekTrainable(std::move(m), std::move(bias)));
}

Result<void> deepseek_write_random(const nlohmann::json& config, const std::string&,
                                   const DecoderArch&, const std::string& dir, uint64_t seed,
                                   ThreadPool&) {
  return write_random_deepseek_v3(config, dir, seed);
}

// ---- The table ----

/// What one architecture can do; a null function: that capability is not offered.
struct Family {
  Result<std::unique_ptr<CausalLM>> (*load_hf)(const io::HfModelDir&, const DecoderArch&,
                                               const LoadOptions&, ThreadPool&);
  Result<std::unique_ptr<CausalLM>> (*load_gguf)(const io::GgufFile&, const DecoderArch&,
                                                 const LoadOptions&, ThreadPool&);
  Result<void> (*convert)(const io::HfModelDir&, const DecoderArch&, const QuantOptions&,
                          const std::string&, std::vector<std::string>*);
  Result<std::unique_ptr<TrainableModel>> (*trainable)(const nlohmann::json&, const std::string&,
                                                       const DecoderArch&, const TensorSource&,
                                                       ModelInfo, ThreadPool&);
  Result<void> (*write_random)(const nlohmann::json&, const std::string&, const DecoderArch&,
                               const std::string&, uint64_t, ThreadPool&);
};

constexpr Family kDecoderFamily{decoder_load_hf, decoder_load_gguf, decoder_convert,
                                decoder_trainable, decoder_write_random};
constexpr Family kDeepseekFamily{deepseek_load_hf, deepseek_load_gguf, deepseek_convert,
                                 deepseek_trainable, deepseek_write_random};
// DeepSeek-V2 loads, converts and runs; its training (softmax routing without the selection bias)
// has no tests, so it is not offered.
constexpr Family kDeepseekV2Family{deepseek_load_hf, deepseek_load_gguf, deepseek_convert,
                                   nullptr, nullptr};

struct Entry {
  std::string_view model_type;  // config.json model_type
  std::string_view gguf_arch;   // GGUF general.architecture loaded as this entry ("": none)
  const DecoderArch* decoder;   // the decoder family's row (null for other families)
  const Family* family;
};

const Entry kEntries[] = {
    {"llama", "llama", &kDecoderArchs[0], &kDecoderFamily},
    {"qwen2", "qwen2", &kDecoderArchs[1], &kDecoderFamily},
    {"qwen3", "qwen3", &kDecoderArchs[2], &kDecoderFamily},
    {"deepseek_v3", "deepseek2", nullptr, &kDeepseekFamily},
    {"deepseek_v2", "", nullptr, &kDeepseekV2Family},
};

const DecoderArch kNoDecoder{};
const DecoderArch& decoder_row(const Entry& e) { return e.decoder ? *e.decoder : kNoDecoder; }

const Entry* find_entry(std::string_view model_type) {
  for (const Entry& e : kEntries)
    if (e.model_type == model_type) return &e;
  return nullptr;
}

/// The model_types (or GGUF arch names) of the entries offering a capability.
template <typename Pred>
std::string names_where(Pred pred, bool gguf = false) {
  std::string s;
  for (const Entry& e : kEntries) {
    const std::string_view n = gguf ? e.gguf_arch : e.model_type;
    if (n.empty() || !pred(e)) continue;
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

/// The entry named by config["model_type"], or an error naming `label` and the choices.
Result<const Entry*> entry_of_config(const nlohmann::json& config, const std::string& label,
                                     const std::string& choices, const char* what) {
  auto mt = config.is_object() ? config.find("model_type") : config.end();
  if (mt == config.end() || !mt->is_string())
    return make_error("{}: field model_type missing ({})", label, choices);
  const std::string arch = mt->get<std::string>();
  const Entry* e = find_entry(arch);
  if (e == nullptr) return make_error("{}: model_type '{}' {} ({})", label, arch, what, choices);
  return e;
}

bool is_gguf_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

Result<std::unique_ptr<CausalLM>> load_hf(const std::string& path, const LoadOptions& opts,
                                          ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(dir, io::HfModelDir::open(path));
  R1_ASSIGN_OR_RETURN(e, entry_of_config(dir.config(), path + "/config.json",
                                         names_where([](const Entry&) { return true; }),
                                         "is not supported"));
  return e->family->load_hf(dir, decoder_row(*e), opts, pool);
}

Result<std::unique_ptr<CausalLM>> load_gguf(const std::string& path, const LoadOptions& opts,
                                            ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(file, io::GgufFile::open(path));
  R1_ASSIGN_OR_RETURN(arch, file.get_string("general.architecture"));
  for (const Entry& e : kEntries)
    if (!e.gguf_arch.empty() && e.gguf_arch == arch)
      return e.family->load_gguf(file, decoder_row(e), opts, pool);
  return make_error("{}: general.architecture '{}' is not supported ({})", path, arch,
                    names_where([](const Entry&) { return true; }, /*gguf=*/true));
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
  R1_ASSIGN_OR_RETURN(e, entry_of_config(dir.config(), model_dir + "/config.json",
                                         names_where([](const Entry& x) {
                                           return x.family->convert != nullptr;
                                         }),
                                         "cannot be converted"));
  return e->family->convert(dir, decoder_row(*e), type, out_path, notes);
}

std::string trainable_arch_names() {
  return names_where([](const Entry& e) { return e.family->trainable != nullptr; });
}

Result<std::unique_ptr<TrainableModel>> build_trainable(const nlohmann::json& config,
                                                        const std::string& label,
                                                        const TensorSource& params,
                                                        ModelInfo info, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(e, entry_of_config(config, label, trainable_arch_names(),
                                         "cannot be trained"));
  if (e->family->trainable == nullptr)
    return make_error("{}: model_type '{}' cannot be trained ({})", label, e->model_type,
                      trainable_arch_names());
  return e->family->trainable(config, label, decoder_row(*e), params, std::move(info), pool);
}

Result<void> write_random_checkpoint(const nlohmann::json& config, const std::string& label,
                                     const std::string& dir, uint64_t seed, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(e, entry_of_config(config, label, trainable_arch_names(),
                                         "cannot be trained"));
  if (e->family->write_random == nullptr)
    return make_error("{}: model_type '{}' cannot be trained ({})", label, e->model_type,
                      trainable_arch_names());
  return e->family->write_random(config, label, decoder_row(*e), dir, seed, pool);
}

std::vector<std::vector<int64_t>> session_expert_counts(const Session& session) {
  if (const auto* ds = dynamic_cast<const deepseek_v3::DeepseekV3Session*>(&session))
    return ds->expert_counts();
  return {};
}

}  // namespace r1::models

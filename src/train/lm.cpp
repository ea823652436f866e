#include "train/lm.h"
#include "quant/dequantize.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "io/hf_model.h"
#include "core/storage.h"
#include "io/safetensors_writer.h"
#include "models/decoder_config.h"
#include "models/init_model.h"
#include "models/model_info.h"
#include "models/tensor_source.h"
#include "ops/backward.h"

namespace r1::train {

namespace {

/// Serves the owned F32 parameters by HF name to the architecture's loader.
class ParamSource : public models::TensorSource {
 public:
  ParamSource(std::string label, const std::vector<Param>& params) : label_(std::move(label)) {
    for (const auto& p : params) by_name_[p.name] = p.data;
  }
  const std::string& label() const override { return label_; }
  models::NameStyle style() const override { return models::NameStyle::HF; }
  bool has(const std::string& name) const override { return by_name_.count(name) != 0; }
  Result<Tensor> get(const std::string& name) const override {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return make_error("{}: tensor {} not found", label_, name);
    return it->second;
  }
  using TensorSource::get;

 private:
  std::string label_;
  std::map<std::string, Tensor> by_name_;
};

}  // namespace

Result<std::unique_ptr<TrainLM>> TrainLM::load(const std::string& dir, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(hf, io::HfModelDir::open(dir));
  std::unique_ptr<TrainLM> m(new TrainLM(pool));
  R1_TRY(m->build(hf));
  return m;
}

Result<std::unique_ptr<TrainLM>> TrainLM::init(const nlohmann::json& config,
                                               const std::string& label, uint64_t seed,
                                               const std::string& scratch_dir, ThreadPool& pool) {
  auto mt = config.find("model_type");
  if (mt == config.end() || !mt->is_string())
    return make_error("{}: field model_type missing ({})", label, models::decoder_arch_names());
  const std::string arch = mt->get<std::string>();
  const models::DecoderArch* da = models::find_decoder_arch(arch);
  if (da == nullptr)
    return make_error("{}: model_type '{}' cannot be trained yet ({})", label, arch,
                      models::decoder_arch_names());
  R1_ASSIGN_OR_RETURN(cfg, models::parse_decoder_config(config, label, da->variant));
  models::ModelPreset preset;
  preset.name = "pretrain";
  // find + is_string, not value(): a non-string _name_or_path must be an error naming the field.
  const auto np = config.find("_name_or_path");
  if (np != config.end() && !np->is_null() && !np->is_string())
    return make_error("{}: field _name_or_path: expected a string, got {}", label, np->type_name());
  preset.name_or_path = np != config.end() && np->is_string() ? np->get<std::string>() : "r1-pretrain";
  preset.config = cfg;
  R1_TRY(models::write_random_model(preset, scratch_dir, seed, DType::F32, pool));
  return load(scratch_dir, pool);
}

Result<void> TrainLM::build(const io::HfModelDir& hf) {
  const std::string label = hf.dir() + "/config.json";
  config_ = hf.config();
  auto mt = config_.find("model_type");
  if (mt == config_.end() || !mt->is_string())
    return make_error("{}: field model_type missing ({}, deepseek_v3)", label,
                      models::decoder_arch_names());
  arch_ = mt->get<std::string>();
  const models::DecoderArch* da = models::find_decoder_arch(arch_);
  if (da == nullptr && arch_ != "deepseek_v3")
    return make_error("{}: model_type '{}' cannot be trained ({}, deepseek_v3)", label, arch_,
                      models::decoder_arch_names());
  for (const std::string& name : hf.names()) {
    R1_ASSIGN_OR_RETURN(t, hf.tensor(name));
    Param p;
    p.name = name;
    p.data = t.dtype() == DType::F32 ? t.clone() : quant::to_f32(t);
    p.grad.assign(size_t(p.data.numel()), 0.0f);
    p.decay = p.data.ndim() >= 2;
    // Selection bias: updated by update_router_bias, never by the optimizer.
    p.trainable = name.find("e_score_correction_bias") == std::string::npos;
    params_.push_back(std::move(p));
  }
  if (arch_ == "deepseek_v3") {
    R1_ASSIGN_OR_RETURN(dcfg, models::deepseek_v3::parse_config(config_, label));
    R1_ASSIGN_OR_RETURN(info, models::hf_model_info(hf, arch_));
    ParamSource src(hf.dir(), params_);
    R1_ASSIGN_OR_RETURN(ds, models::deepseek_v3::DeepseekV3::load(dcfg, src, models::LoadOptions{},
                                                                  info, pool_));
    ds_ = std::move(ds);
    vocab_ = dcfg.vocab_size;
    for (auto& p : params_) tape_.add_param(p.data.data<float>(), p.data.numel(), p.grad.data());
    return {};
  }
  R1_ASSIGN_OR_RETURN(cfg, models::parse_decoder_config(config_, label, da->variant));
  R1_ASSIGN_OR_RETURN(info, models::hf_model_info(hf, arch_));
  ParamSource src(hf.dir(), params_);
  R1_ASSIGN_OR_RETURN(dec, models::DecoderLM::load(cfg, src, kernels::RopeLayout::NeoX, {}, info,
                                                   pool_));
  decoder_ = std::move(dec);
  vocab_ = cfg.vocab_size;
  for (auto& p : params_) tape_.add_param(p.data.data<float>(), p.data.numel(), p.grad.data());
  return {};
}

int64_t TrainLM::n_params() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.data.numel();
  return n;
}

void TrainLM::zero_grad() {
  for (auto& p : params_) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

double TrainLM::forward_backward(std::span<const int32_t> tokens,
                                 std::span<const int32_t> targets, float grad_scale,
                                 int64_t* count) {
  R1_CHECK(tokens.size() == targets.size(), "{} tokens but {} targets", tokens.size(),
           targets.size());
  const Losses l = forward_backward_mtp(tokens, targets, grad_scale, 0.0f);
  if (count) *count = l.main_count;
  return l.main_sum;
}

double TrainLM::forward_backward_batch(std::span<const int32_t> tokens,
                                       std::span<const int32_t> targets, int64_t B,
                                       float grad_scale, int64_t* count) {
  R1_CHECK(tokens.size() == targets.size(), "{} tokens but {} targets", tokens.size(),
           targets.size());
  const int64_t n = int64_t(tokens.size());
  R1_CHECK(B > 0 && n % B == 0, "{} tokens do not split into {} sequences", n, B);
  const Losses l = forward_backward_mtp(tokens, targets, grad_scale, 0.0f, B);
  if (count) *count = l.main_count;
  return l.main_sum;
}

TrainLM::Losses TrainLM::forward_backward_mtp(std::span<const int32_t> tokens,
                                              std::span<const int32_t> targets, float main_scale,
                                              float mtp_scale, int64_t B) {
  R1_CHECK(tokens.size() == targets.size(), "{} tokens but {} targets", tokens.size(),
           targets.size());
  const int64_t N = int64_t(tokens.size());
  R1_CHECK(B >= 1 && N % B == 0, "{} tokens do not split into {} sequences", N, B);
  const int64_t T = N / B;
  Losses out;
  float* mtp_logits = nullptr;
  const bool mtp = mtp_scale != 0.0f;
  R1_CHECK(!mtp || has_mtp(), "MTP loss needs a deepseek_v3 model with an MTP module");
  float* logits =
      ds_ ? ds_->forward_train_batch(tokens, B, tape_, mtp ? &mtp_logits : nullptr, &load_)
      : B == 1 ? decoder_->forward_train(tokens, tape_)
               : decoder_->forward_train_batch(tokens, B, tape_);
  out.main_sum = ops::cross_entropy(logits, targets.data(), N, vocab_, &out.main_count,
                                    tape_.grad(logits, N * vocab_), main_scale);
  if (mtp) {
    // Sequence b's MTP row i (position i of its MTP sequence) predicts tokens[b*T + i + 2] =
    // targets[b*T + i + 1]: rows [B*(T-1)] against those targets.
    std::vector<int32_t> mtp_targets(static_cast<size_t>(B * (T - 1)));
    for (int64_t b = 0; b < B; ++b)
      std::copy(targets.begin() + b * T + 1, targets.begin() + (b + 1) * T,
                mtp_targets.begin() + b * (T - 1));
    out.mtp_sum = ops::cross_entropy(mtp_logits, mtp_targets.data(), B * (T - 1), vocab_,
                                     &out.mtp_count,
                                     tape_.grad(mtp_logits, B * (T - 1) * vocab_), mtp_scale);
  }
  tape_.backward();
  tape_.clear();
  return out;
}

double TrainLM::eval_loss(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                          int64_t* count) {
  const int64_t T = int64_t(tokens.size());
  models::CausalLM* lm = ds_ ? static_cast<models::CausalLM*>(ds_.get()) : decoder_.get();
  auto session = lm->new_session(T);
  std::vector<float> logits(size_t(T * vocab_));
  lm->forward(tokens, *session, logits.data(), true);
  return ops::cross_entropy(logits.data(), targets.data(), T, vocab_, count, nullptr, 0.0f);
}

void TrainLM::update_router_bias(double rate) {
  if (ds_ == nullptr) return;
  // The bias parameter is the one copy: every model built over params_ views it (nn::MoeWeights).
  for (size_t l = 0; l < load_.size(); ++l) {
    if (load_[l].empty()) continue;
    const std::string name =
        "model.layers." + std::to_string(l) + ".mlp.gate.e_score_correction_bias";
    auto p = std::find_if(params_.begin(), params_.end(),
                          [&](const Param& q) { return q.name == name; });
    if (p == params_.end() || p->data.numel() != int64_t(load_[l].size())) continue;
    double mean = 0;
    for (int64_t c : load_[l]) mean += double(c);
    mean /= double(load_[l].size());
    float* bias = p->data.data<float>();
    for (size_t e = 0; e < load_[l].size(); ++e) {
      const double d = mean - double(load_[l][e]);
      bias[e] += float(d > 0 ? rate : d < 0 ? -rate : 0.0);
    }
  }
  for (auto& v : load_) std::fill(v.begin(), v.end(), 0);
}

Result<void> TrainLM::save_weights(const std::string& dir) const {
  io::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& p : params_) R1_TRY(w.add_tensor(p.name, p.data));
  R1_TRY(w.write(dir + "/model.safetensors"));
  const std::string cj = config_.dump(2) + "\n";
  R1_TRY(write_file_atomic(dir + "/config.json", cj.data(), cj.size()));
  return {};
}

}  // namespace r1::train

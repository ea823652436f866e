#include "train/lm.h"
#include "quant/dequantize.h"

#include <algorithm>
#include <filesystem>

#include "io/hf_model.h"
#include "core/storage.h"
#include "io/safetensors_writer.h"
#include "models/model_info.h"
#include "ops/backward.h"

namespace r1::train {

Result<std::unique_ptr<TrainLM>> TrainLM::load(const std::string& dir, ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(hf, io::HfModelDir::open(dir));
  std::unique_ptr<TrainLM> m(new TrainLM(pool));
  R1_TRY(m->build(hf));
  return m;
}

Result<std::unique_ptr<TrainLM>> TrainLM::init(const nlohmann::json& config,
                                               const std::string& label, uint64_t seed,
                                               const std::string& init_dir, ThreadPool& pool) {
  R1_TRY(models::write_random_checkpoint(config, label, init_dir, seed, pool));
  return load(init_dir, pool);
}

Result<void> TrainLM::build(const io::HfModelDir& hf) {
  const std::string label = hf.dir() + "/config.json";
  config_ = hf.config();
  auto mt = config_.find("model_type");
  if (mt == config_.end() || !mt->is_string())
    return make_error("{}: field model_type missing ({})", label, models::trainable_arch_names());
  arch_ = mt->get<std::string>();
  models::MemoryTensorSource src(hf.dir());
  for (const std::string& name : hf.names()) {
    R1_ASSIGN_OR_RETURN(t, hf.tensor(name));
    Param p;
    p.name = name;
    p.data = t.dtype() == DType::F32 ? t.clone() : quant::to_f32(t);
    p.grad.assign(size_t(p.data.numel()), 0.0f);
    p.decay = p.data.ndim() >= 2;
    params_.push_back(std::move(p));
  }
  for (const auto& p : params_) src.add(p.name, p.data);
  R1_ASSIGN_OR_RETURN(info, models::hf_model_info(hf, arch_));
  R1_ASSIGN_OR_RETURN(m, models::build_trainable(config_, label, src, std::move(info), pool_));
  model_ = std::move(m);
  vocab_ = model_->model().info().vocab_size;
  for (auto& p : params_) {
    p.trainable = model_->optimizer_updates(p.name);
    tape_.add_param(p.data.data<float>(), p.data.numel(), p.grad.data());
  }
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
  R1_CHECK(!mtp || has_mtp(), "MTP loss needs a model with an MTP module");
  float* logits = model_->forward_train(tokens, B, tape_, mtp ? &mtp_logits : nullptr);
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
  backward();
  return out;
}

float* TrainLM::forward_train(std::span<const int32_t> tokens, int64_t B) {
  return model_->forward_train(tokens, B, tape_, nullptr);
}

void TrainLM::backward() {
  tape_.backward();
  tape_.clear();
}

double TrainLM::eval_loss(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                          int64_t* count) {
  const int64_t T = int64_t(tokens.size());
  auto session = model().new_session(T);
  std::vector<float> logits(size_t(T * vocab_));
  model().forward(tokens, *session, logits.data(), true);
  return ops::cross_entropy(logits.data(), targets.data(), T, vocab_, count, nullptr, 0.0f);
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

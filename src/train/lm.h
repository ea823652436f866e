// A trainable causal LM: the registry's model of its architecture (models/registry.h), built over
// OWNED F32 master copies of every parameter, plus one gradient buffer per parameter registered on
// an autograd tape. The same forward code runs inference and training; here it runs with the tape
// on, then the tape's backward fills the gradients. The inference model() is the same object, so
// sampling (GRPO rollouts, validation) always sees the current weights. Parameters are named and
// shaped as in the HF checkpoint (model.safetensors). Nothing here names an architecture.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/tape.h"
#include "core/result.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/registry.h"

namespace r1::train {

/// One trainable tensor: HF name, owned F32 data (the master weight the optimizer updates; the
/// model's blocks view the same storage) and its gradient (same numel, accumulated).
struct Param {
  std::string name;
  Tensor data;
  std::vector<float> grad;
  bool decay = true;      // AdamW weight decay: matrices only (not norms, biases)
  bool trainable = true;  // false: no optimizer update (TrainableModel::optimizer_updates)
};

class TrainLM {
 public:
  /// Loads an HF directory (config.json + model*.safetensors of any float dtype), converting
  /// every tensor to an owned F32 copy. Architectures: models::trainable_arch_names().
  /// Errors: unsupported model_type, missing/mis-shaped tensors (one line each).
  static Result<std::unique_ptr<TrainLM>> load(const std::string& dir, ThreadPool& pool);
  /// A new model from an HF config.json object with random weights
  /// (models::write_random_checkpoint's values for `seed`). `init_dir` receives the initial
  /// checkpoint it is built from (kept). Errors: bad config fields (prefixed with `label`).
  static Result<std::unique_ptr<TrainLM>> init(const nlohmann::json& config,
                                               const std::string& label, uint64_t seed,
                                               const std::string& init_dir, ThreadPool& pool);

  const nlohmann::json& config() const { return config_; }
  const std::string& arch() const { return arch_; }
  int64_t vocab_size() const { return vocab_; }
  /// The inference model over the live parameters (sampling, validation): an optimizer step is
  /// seen by its next forward.
  models::CausalLM& model() { return model_->model(); }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  int64_t n_params() const;
  /// Sets every gradient to zero.
  void zero_grad();

  /// One sequence: tokens [T] at positions 0..T-1, targets [T] (next token ids; < 0 ignored).
  /// Adds grad_scale * d(sum of cross-entropies)/d(param) to every Param::grad and returns the
  /// SUM of the cross-entropies (natural log) over the counted targets; *count gets their
  /// number. Deterministic for a fixed thread count.
  double forward_backward(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                          float grad_scale, int64_t* count);
  /// B sequences of equal length at once: tokens/targets [B*T] (row b*T + t is position t of
  /// sequence b). Same contract as forward_backward summed over the B sequences, run as one
  /// batched forward (models::TrainableModel::forward_train).
  /// Deterministic for a fixed thread count (summation order differs from B single calls).
  double forward_backward_batch(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                                int64_t B, float grad_scale, int64_t* count);
  /// With an MTP module (has_mtp(), e.g. DeepSeek-V3 §2.2): also the MTP depth-1 loss (row i
  /// predicts targets[i+1]).
  /// Adds main_scale * d(sum main CE) + mtp_scale * d(sum MTP CE) to the gradients (mtp_scale 0:
  /// the MTP module is not run). Returns {main sum, main count, mtp sum, mtp count}.
  /// B > 1: tokens/targets are B sequences of equal length as in forward_backward_batch, run as
  /// one batched forward (models without MTP need mtp_scale 0); sums over all B.
  struct Losses {
    double main_sum = 0, mtp_sum = 0;
    int64_t main_count = 0, mtp_count = 0;
  };
  Losses forward_backward_mtp(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                              float main_scale, float mtp_scale, int64_t B = 1);
  bool has_mtp() const { return model_->has_mtp(); }

  /// The low-level training pass for objectives other than cross-entropy (GRPO): the training
  /// forward of B sequences (TrainableModel::forward_train) on this model's tape; returns the
  /// logits [B*T, V]. Write d objective / d logits into tape().grad(logits, B*T*V), then call
  /// backward(), which adds the parameter gradients to Param::grad and clears the tape.
  float* forward_train(std::span<const int32_t> tokens, int64_t B = 1);
  autograd::Tape& tape() { return tape_; }
  void backward();

  /// Auxiliary-loss-free load balancing of MoE models (TrainableModel::update_router_bias,
  /// DeepSeek-V3 report §2.1.2) over the training forwards since the last call; no-op for dense
  /// models.
  void update_router_bias(double rate) { model_->update_router_bias(rate); }
  /// Tokens routed per expert since the last update_router_bias: [layers][E] (empty if none).
  const std::vector<std::vector<int64_t>>& expert_load() const { return model_->expert_load(); }

  /// Forward only (no tape): the same sum of cross-entropies, for validation.
  double eval_loss(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                   int64_t* count);

  /// Writes config.json and model.safetensors (F32, HF names) into `dir` (must exist).
  Result<void> save_weights(const std::string& dir) const;

 private:
  TrainLM(ThreadPool& pool) : pool_(pool) {}
  Result<void> build(const io::HfModelDir& dir);

  ThreadPool& pool_;
  nlohmann::json config_;
  std::string arch_;
  int64_t vocab_ = 0;
  std::vector<Param> params_;
  std::unique_ptr<models::TrainableModel> model_;  // views params_
  autograd::Tape tape_;
};

}  // namespace r1::train

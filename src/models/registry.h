// The architecture registry: every architecture is one entry (HF model_type, GGUF
// general.architecture, how to load it from a file or a TensorSource, how to write a random
// initialisation, how to train it). Everything above models/ (train/, cli/, engine/) asks here
// and never names an architecture; registry.cpp is the only place that switches on one. It also
// defines load_model (model.h) and convert_to_gguf (convert.h).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/tape.h"
#include "core/result.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "models/tensor_source.h"

namespace r1::models {

/// An architecture built over trainable in-memory F32 parameters (a TensorSource of views): its
/// inference model and its training forward share the parameters' storage, so an optimizer step
/// is seen by the next forward of either (no copies; GRPO samples from this very model).
/// Per-architecture extras (multi-token prediction, routed-expert statistics and the routing
/// bias) have neutral defaults for architectures without them.
class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  /// The inference model (engine, sampling, validation) over the same parameters.
  virtual CausalLM& model() = 0;

  /// Training forward of B sequences of T tokens each (tokens [B*T]; row b*T + t is token t of
  /// sequence b, at position t), every block recording its backward node on `tape`. Returns the
  /// logits [B*T, V] (a tape buffer: write d loss / d logits into tape.grad(logits, B*T*V), then
  /// tape.backward()). mtp_logits non-null (needs has_mtp() and T >= 2): also the MTP depth-1
  /// head's logits [B*(T-1), V], row b*(T-1) + i predicting tokens[b*T + i + 2] (DeepSeek-V3
  /// report §2.2). Routed-expert counts of the forward are added to expert_load().
  /// Preconditions (R1_CHECK): B >= 1 divides tokens.size(); ids in [0, V).
  virtual float* forward_train(std::span<const int32_t> tokens, int64_t B, autograd::Tape& tape,
                               float** mtp_logits) = 0;

  /// Whether the model has a multi-token-prediction module (DeepSeek-V3 §2.2).
  virtual bool has_mtp() const { return false; }
  /// False for parameters the optimizer must leave alone because another rule moves them
  /// (DeepSeek-V3's e_score_correction_bias, moved by update_router_bias).
  virtual bool optimizer_updates(const std::string& /*name*/) const { return true; }
  /// Tokens routed per expert by the training forwards since the last update_router_bias:
  /// [layers][E] (a dense layer's row is empty; empty for dense models).
  virtual const std::vector<std::vector<int64_t>>& expert_load() const { return no_load_; }
  /// Auxiliary-loss-free load balancing (DeepSeek-V3 report §2.1.2): for every MoE layer,
  /// bias_e += rate * sign(mean load - load_e) over expert_load(), which is then reset. The bias
  /// is a parameter (saved in checkpoints) the model routes with. No-op for dense models.
  virtual void update_router_bias(double /*rate*/) {}

 private:
  std::vector<std::vector<int64_t>> no_load_;
};

/// Builds the architecture named by config["model_type"] (`label` names the config in errors)
/// over `params`, F32 tensors with HF names that the returned model views (they must outlive
/// it). `info` is what model().info() returns. Errors: no model_type, an architecture that cannot
/// be trained (the message lists those that can), bad config fields, missing or mis-shaped
/// tensors.
Result<std::unique_ptr<TrainableModel>> build_trainable(const nlohmann::json& config,
                                                        const std::string& label,
                                                        const TensorSource& params,
                                                        ModelInfo info, ThreadPool& pool);

/// Writes DIR/{config.json, generation_config.json, model.safetensors} (F32) for a new model of
/// the architecture named by config["model_type"]: matrices and embeddings N(0, 0.02), RMSNorm
/// weights 1, routing biases 0. Values are a pure function of (seed, tensor index, element
/// index). Errors: no model_type, an architecture that cannot be trained, bad config fields
/// (named, with `label`), I/O failures naming the path.
Result<void> write_random_checkpoint(const nlohmann::json& config, const std::string& label,
                                     const std::string& dir, uint64_t seed, ThreadPool& pool);

/// The HF model_types build_trainable accepts, comma-separated (for help and error text).
std::string trainable_arch_names();

/// Tokens routed to each expert by every forward of `session`: [layers][E] (a dense layer's row
/// is empty); empty for sessions of dense models.
std::vector<std::vector<int64_t>> session_expert_counts(const Session& session);

}  // namespace r1::models

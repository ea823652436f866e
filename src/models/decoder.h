// The Llama/Qwen2/Qwen3 decoder-only transformer, written once for all three (they differ only by
// config: Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm and explicit head_dim): token
// embedding, N pre-norm blocks (RMSNorm -> GQA attention with RoPE -> residual; RMSNorm -> SwiGLU
// MLP -> residual), final RMSNorm, output head (tied or untied).
// Reference: HF transformers LlamaModel / Qwen2Model / Qwen3Model forward.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "autograd/tape.h"
#include "core/thread_pool.h"
#include "models/decoder_config.h"
#include "models/model.h"
#include "models/tensor_source.h"
#include "nn/attention.h"
#include "nn/kv_cache.h"
#include "nn/mlp.h"
#include "nn/norm.h"
#include "nn/rope.h"

namespace r1::models {

/// One pre-norm transformer block.
struct DecoderLayer {
  nn::RMSNorm attn_norm;
  nn::GqaAttention attn;
  nn::RMSNorm ffn_norm;
  nn::SwiGluMlp mlp;
};

class DecoderLM : public CausalLM {
 public:
  /// Builds the model from `src` (names in src.style()), checking every tensor's shape against
  /// `cfg` first. `layout` is the RoPE pairing the weights expect (HF: NeoX; GGUF llama:
  /// Interleaved, because llama.cpp's converter permutes Q/K rows). `rope_freq_factors` (GGUF
  /// rope_freqs.weight, [R/2]) divide the inverse frequencies when given.
  /// Errors: missing or mis-shaped tensors (one line naming the tensor).
  static Result<std::unique_ptr<DecoderLM>> load(const DecoderConfig& cfg, const TensorSource& src,
                                                 kernels::RopeLayout layout,
                                                 const std::vector<float>& rope_freq_factors,
                                                 ModelInfo info, ThreadPool& pool);

  const ModelInfo& info() const override { return info_; }
  std::unique_ptr<Session> new_session(int64_t n_ctx) override;
  /// See CausalLM::forward. Prompts longer than ubatch() run as consecutive batched chunks of
  /// ubatch() tokens (bounds the activation memory; results are identical). logits may be null
  /// (fill the cache only).
  void forward(std::span<const int32_t> tokens, Session& session, float* logits,
               bool all_logits) override;
  /// One batched decode step over B sessions (see CausalLM::forward_batch): every weight matrix
  /// is streamed once for the B tokens; attention runs per sequence over its own cache.
  void forward_batch(std::span<const int32_t> tokens, std::span<Session* const> sessions,
                     float* logits) override;

  /// Training forward of one sequence at positions 0 .. T-1 through the same code as forward(),
  /// every block recording its backward node on `tape` (nn/grad.h). Returns the logits [T, V]
  /// (a tape buffer: write d loss / d logits into tape.grad(logits, T * V), then tape.backward()).
  /// Needs F32 weights (checked by the blocks). The fresh session lives until tape.clear().
  float* forward_train(std::span<const int32_t> tokens, autograd::Tape& tape);

  /// Training forward of B sequences of T tokens each (tokens [B*T], row b*T + t is token t of
  /// sequence b, each at positions 0 .. T-1): the same blocks as forward_train, but every
  /// projection, norm and MLP runs once over the B*T rows (attention per sequence), so small
  /// models are not dominated by per-call overhead. Returns the logits [B*T, V] (a tape buffer).
  /// Equals B forward_train calls up to float summation order.
  float* forward_train_batch(std::span<const int32_t> tokens, int64_t B, autograd::Tape& tape);

  const DecoderConfig& config() const { return cfg_; }
  const std::vector<DecoderLayer>& layers() const { return layers_; }
  const nn::Embedding& embedding() const { return embed_; }
  const nn::RMSNorm& final_norm() const { return final_norm_; }
  const nn::Linear& head() const { return head_; }
  const nn::RotaryEmbedding& rope() const { return rope_; }
  int64_t ubatch() const { return ubatch_; }
  void set_ubatch(int64_t n) { ubatch_ = n > 0 ? n : 512; }

 private:
  DecoderLM(ThreadPool& pool) : pool_(pool) {}
  void forward_chunk(const int32_t* ids, int64_t T, class DecoderSession& s, float* logits,
                     bool all_logits, autograd::Tape* tape = nullptr);

  DecoderConfig cfg_;
  ModelInfo info_;
  ThreadPool& pool_;
  nn::RotaryEmbedding rope_;  // shared by every layer (referenced by the attention blocks)
  nn::Embedding embed_;
  std::vector<DecoderLayer> layers_;
  nn::RMSNorm final_norm_;
  nn::Linear head_;
  int64_t ubatch_ = 512;
  // Workspace of forward_batch (grown to the largest B seen; reused, so no per-step allocation).
  std::vector<float> bx_, bh_, btmp_, bscratch_;
  std::vector<int32_t> bpos_;
  std::vector<float*> bk_, bv_;
  std::vector<class DecoderSession*> bss_;
};

}  // namespace r1::models

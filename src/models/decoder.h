// The Llama/Qwen2/Qwen3 decoder-only transformer, written once for all three (they differ only by
// config: Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm and explicit head_dim): token
// embedding, N pre-norm blocks (RMSNorm -> GQA attention with RoPE -> residual; RMSNorm -> SwiGLU
// MLP -> residual), final RMSNorm, output head (tied or untied).
// Reference: HF transformers LlamaModel / Qwen2Model / Qwen3Model forward.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
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
  /// See CausalLM::forward(Batch): the one layer loop of this architecture (prefill, decode,
  /// chunked prefill, verification and training micro-batches). GQA attention runs per sequence
  /// (nn::GqaAttention::forward over the batch's spans); everything else once over all rows.
  float* forward(const Batch& batch, ForwardContext& ctx) override;
  using CausalLM::forward;
  /// Prompts longer than ubatch() run as consecutive batches of ubatch() rows (bounds the
  /// activation memory; results are identical).
  int64_t max_batch_rows() const override { return ubatch_; }

  /// Training forward of one sequence at positions 0 .. T-1: forward(Batch) of one sequence
  /// without a session and a tape in the context,
  /// every block recording its backward node on `tape` (nn/grad.h). Returns the logits [T, V]
  /// (a tape buffer: write d loss / d logits into tape.grad(logits, T * V), then tape.backward()).
  /// Needs F32 weights (checked by the blocks). The fresh session lives until tape.clear().
  float* forward_train(std::span<const int32_t> tokens, autograd::Tape& tape);

  /// Training forward of B sequences of T tokens each (tokens [B*T], row b*T + t is token t of
  /// sequence b, each at positions 0 .. T-1): forward(Batch) of B sequences without sessions, a
  /// tape in the context. Returns the logits [B*T, V] (a tape buffer).
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

  DecoderConfig cfg_;
  ModelInfo info_;
  ThreadPool& pool_;
  nn::RotaryEmbedding rope_;  // shared by every layer (referenced by the attention blocks)
  nn::Embedding embed_;
  std::vector<DecoderLayer> layers_;
  nn::RMSNorm final_norm_;
  nn::Linear head_;
  int64_t ubatch_ = 512;
  // Inference buffers of forward(Batch), grown to the largest batch seen and reused (no
  // allocation per decode step); a concurrent call on another thread allocates its own.
  struct Workspace {
    int64_t rows = 0;
    std::vector<float> x, h, tmp, scratch;  // [N, D] x3, block scratch
    std::vector<nn::GqaAttention::Span> spans;
  };
  std::mutex ws_mu_;
  Workspace ws_;
};

}  // namespace r1::models

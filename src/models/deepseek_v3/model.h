// The DeepSeek-V3/R1 causal LM (DeepSeek-V3 report §2): embedding, num_hidden_layers blocks of
// MLA + (dense SwiGLU | DeepSeekMoE), final norm, lm_head; plus the multi-token-prediction module
// (§2.2) stored as layers num_hidden_layers.. of the HF checkpoint.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "autograd/tape.h"
#include "models/deepseek_v3/config.h"
#include "models/model.h"
#include "models/tensor_source.h"
#include "nn/linear.h"
#include "nn/mla.h"
#include "nn/mlp.h"
#include "nn/moe.h"
#include "nn/norm.h"

namespace r1::models::deepseek_v3 {

/// One decoder block: pre-norm MLA then pre-norm FFN, each with a residual.
struct Block {
  nn::RMSNorm input_layernorm, post_attention_layernorm;
  nn::MlaWeights attn;
  bool is_moe = false;
  nn::SwiGluMlp mlp;  // dense layers
  nn::MoeWeights moe;  // MoE layers
};

/// One MTP depth (DeepSeek-V3 report §2.2, eq. 21-23):
///   h' = eh_proj([enorm(emb(t_{i+1})) ; hnorm(h_i)]) -> block -> shared_head.norm -> head.
struct MtpModule {
  nn::RMSNorm enorm, hnorm;
  nn::Linear eh_proj;             // [D, 2D]
  Block block;
  nn::RMSNorm shared_head_norm;
  nn::Embedding embed;            // undefined weight: the main embed_tokens
  nn::Linear head;                // undefined weight: the main lm_head
  bool own_embed = false, own_head = false;
};

/// Which MLA path a forward uses. Auto: naive for T > 1 (prefill) while the decompressed K/V fits
/// a 512 MiB budget, else absorbed (always for T == 1, decode).
enum class MlaMode { Auto, Naive, Absorbed };

/// Reusable inference buffers of the model, used for batches of up to kScratchMaxTokens rows
/// (decode, speculative verification): once grown, decode allocates nothing per token.
/// Larger forwards (prefill) allocate per call, so their big buffers are not kept.
struct ForwardScratch {
  static constexpr int64_t kScratchMaxTokens = 64;
  nn::MlaScratch mla;
  nn::MoeScratch moe;
  nn::MoeRouting routing;                           // [N, K] of the last MoE layer
  std::vector<float> h, xa, xb, mlp;                // [N, D] x3, dense SwiGLU scratch
  std::vector<std::vector<int64_t>> counts;         // [layers][E] routed tokens of this call
};

/// KV caches (compressed latent only) and per-sequence statistics.
class DeepseekV3Session : public Session {
 public:
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return n_ctx_; }
  void truncate(int64_t n) override;

  /// Tokens routed to each expert so far, per layer: [num_hidden_layers][E] (empty rows for
  /// dense layers). Reset with reset_expert_counts().
  const std::vector<std::vector<int64_t>>& expert_counts() const { return expert_counts_; }
  void reset_expert_counts();
  /// When on, every forward appends its routing to routing(layer): [T_total, K] expert ids.
  void set_record_routing(bool on) { record_routing_ = on; }
  const std::vector<int32_t>& routing(int64_t layer) const { return routing_[size_t(layer)]; }
  /// Bytes of KV cache per token: sum over layers of (kv_lora_rank + qk_rope_head_dim) * 4.
  int64_t kv_bytes_per_token() const;
  /// Positions in the MTP module's cache (mtp_forward appends there).
  int64_t mtp_n_past() const { return mtp_n_past_; }

 private:
  friend class DeepseekV3;
  int64_t n_past_ = 0, n_ctx_ = 0;
  std::vector<nn::MlaCache> caches_;  // [num_hidden_layers]
  nn::MlaCache mtp_cache_;             // the MTP block's own latent cache (when the model has one)
  int64_t mtp_n_past_ = 0;
  std::vector<std::vector<int64_t>> expert_counts_;
  bool record_routing_ = false;
  std::vector<std::vector<int32_t>> routing_;
};

class DeepseekV3 : public CausalLM {
 public:
  /// Builds the model from `src` (HF names), running the shape checker over tensor_plan(cfg)
  /// first. FP8 weights stay FP8 (kernels::matmul uses the block scales) unless
  /// opts.dequantize_fp8 or a block size other than 128x128 asks for F32 copies.
  /// The absorbed decode path reads an F32 kv_b_proj itself (trainable weights: no copy), or
  /// per-head W_UK/W_UV (nn::MlaWeights::w_uk / w_uv): a GGUF's attn_k_b / attn_v_b as stored,
  /// copies of a BF16/F16 kv_b_proj in its own dtype, f32 copies of an FP8/quantised one.
  /// Errors: missing/mis-shaped tensors or scales (one line naming the tensor).
  static Result<std::unique_ptr<DeepseekV3>> load(const Config& cfg, const TensorSource& src,
                                                  const LoadOptions& opts, ModelInfo info,
                                                  ThreadPool& pool);

  const ModelInfo& info() const override { return info_; }
  std::unique_ptr<Session> new_session(int64_t n_ctx) override;
  /// See CausalLM::forward(Batch): the one layer loop of this architecture. Every projection
  /// (q_a/q_b or q_proj, kv_a, o_proj, dense MLP, shared experts, router, lm_head) runs once
  /// over all rows; MoE routed experts are dispatched grouped over all rows (each used expert's
  /// weights read once); MLA attends per sequence over its own latent cache, each sequence by its
  /// own path (mla_path: naive for a prefill, absorbed for decode and verification; consecutive
  /// absorbed sequences share one batched absorbed attention). Sequences without a session
  /// (training) stack their latents in one fresh cache. Each session's expert counts and
  /// routing record get its own rows' routing; ctx.expert_counts += all rows'.
  float* forward(const Batch& batch, ForwardContext& ctx) override;
  using CausalLM::forward;
  /// Helper over forward(Batch) for one session (CausalLM::forward's tokens form), also writing
  /// the last block's output before model.norm into hidden [T, D] when non-null (for MTP).
  void forward_hidden(std::span<const int32_t> tokens, DeepseekV3Session& s, float* logits,
                      bool all_logits, float* hidden);

  /// MTP depth-1 logits for a whole sequence, in a fresh session: runs the main model over
  /// tokens[N], then row i (i < N-1) = MTP(h_i, emb(tokens[i+1])) at position i, causal over the
  /// MTP sequence. out: [N-1, V] f32. Checks num_nextn_predict_layers >= 1 and N >= 2.
  void mtp_logits(std::span<const int32_t> tokens, float* out);

  /// Incremental MTP (for self-speculative decoding): rows t < T at MTP positions
  /// s.mtp_n_past() + t, from hidden [T, D] (forward_hidden's output for the main positions with
  /// the same indices) and next_tokens [T] (the tokens that follow them). Appends to the session's
  /// MTP cache; logits: [T, V] f32 predicting the token after next_tokens[t].
  void mtp_forward(const float* hidden, std::span<const int32_t> next_tokens,
                   DeepseekV3Session& s, float* logits);
  bool has_mtp() const { return !mtp_.empty(); }

  /// Training forward of one sequence at positions 0 .. T-1: forward(Batch) without a session,
  /// with the tape in the context (naive MLA), every block recording its backward node on
  /// `tape` (nn/grad.h). Returns the logits [T, V] (a tape buffer). If mtp_logits is non-null (needs an MTP module and
  /// T >= 2) it receives the MTP depth-1 logits [T-1, V] (row i predicts tokens[i+2]; see
  /// mtp_logits). expert_counts, if non-null: [num_hidden_layers][E] += tokens routed per expert
  /// (the load the aux-loss-free bias update balances). The session lives until tape.clear().
  /// Checks that no block holds per-head absorbed copies (nn::MlaWeights::w_uk): training needs
  /// F32 weights, whose absorbed path reads kv_b_proj, so decode sees every optimizer step.
  float* forward_train(std::span<const int32_t> tokens, autograd::Tape& tape, float** mtp_logits,
                       std::vector<std::vector<int64_t>>* expert_counts);

  /// Training forward of B sequences of T tokens each (tokens [B*T], row b*T + t is token t of
  /// sequence b, at position t): forward(Batch) of B sequences without sessions (their latents
  /// stacked in one cache; naive MLA causal within each), the tape in the context. Returns the logits [B*T, V] (a
  /// tape buffer). mtp_logits, if non-null: [B*(T-1), V], row b*(T-1) + i = sequence b's MTP row
  /// i (predicts tokens[b*T + i + 2]); needs an MTP module and T >= 2. expert_counts: += the
  /// routed tokens of all B*T rows. Equals B forward_train calls up to float summation order
  /// (B == 1 is forward_train). Checks as forward_train, and B >= 1 dividing tokens.size().
  float* forward_train_batch(std::span<const int32_t> tokens, int64_t B, autograd::Tape& tape,
                             float** mtp_logits,
                             std::vector<std::vector<int64_t>>* expert_counts);

  void set_mla_mode(MlaMode m) { mla_mode_ = m; }
  const Config& config() const { return cfg_; }
  /// Tokens routed to each expert by every forward of every session: [num_hidden_layers][E].
  std::vector<std::vector<int64_t>> total_expert_counts() const;
  /// KV-cache bytes per token of this model: MLA latent cache vs a standard MHA cache storing
  /// full K (H*(nope+rope)) and V (H*v) per layer, both f32.
  int64_t kv_bytes_per_token_mla() const;
  int64_t kv_bytes_per_token_mha() const;

 private:
  explicit DeepseekV3(ThreadPool& pool) : pool_(pool) {}
  /// The MLA path of a span of T rows at positions p0.. in block b (mla_mode_, then Auto).
  nn::MlaPath mla_path(const Block& b, int64_t T, int64_t p0) const;
  /// One block over the residual stream h [n, D] of the batch's rows (spans: each sequence's
  /// rows and cache; their paths are set here); returns the updated stream (h itself for
  /// inference, a new tape buffer when training). counts [E] += routed tokens, routing: the
  /// rows' expert ids (MoE blocks).
  float* block_forward(nn::Context& ctx, const Block& b, float* h, int64_t n,
                       const int32_t* positions, std::span<nn::MlaSpan> spans, int64_t* counts,
                       nn::MoeRouting* routing, float* scratch_a, float* scratch_b,
                       ForwardScratch* fs);
  /// forward(Batch), also returning the final hidden stream [N, D] (a tape buffer when
  /// training) and the stacked cache of the sequences without a session (for MTP training).
  float* forward_impl(const Batch& batch, ForwardContext& ctx, float** h_final,
                      std::shared_ptr<DeepseekV3Session>* stack);
  /// n_seq > 1 (training): next_tokens holds n_seq sequences of equal length, stacked in the MTP
  /// cache from position 0 each.
  void mtp_forward_ctx(nn::Context& ctx, const float* hidden, std::span<const int32_t> next_tokens,
                       DeepseekV3Session& s, float* logits, int64_t n_seq = 1);

  Config cfg_;
  ModelInfo info_;
  ThreadPool& pool_;
  kernels::RopeTable rope_;
  nn::Embedding embed_;
  std::vector<Block> layers_;
  nn::RMSNorm norm_;
  nn::Linear lm_head_;
  std::vector<MtpModule> mtp_;
  MlaMode mla_mode_ = MlaMode::Auto;
  mutable std::mutex stats_mu_;
  // Inference workspace of forward(Batch) for small batches; a concurrent call allocates its own.
  std::mutex ws_mu_;
  ForwardScratch ws_;
  std::vector<std::vector<int64_t>> total_counts_;
};

/// Loads an opened HF directory (config.json model_type deepseek_v3/deepseek_v2): parses the
/// config, fills ModelInfo (hf_model_info), builds the model. Errors as parse_config and load.
Result<std::unique_ptr<DeepseekV3>> load_hf(const io::HfModelDir& dir, const LoadOptions& opts,
                                            ThreadPool& pool);

}  // namespace r1::models::deepseek_v3

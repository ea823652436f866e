// Grouped-query self-attention block (Ainslie et al. 2023, GQA) with rotary embeddings and an f32
// KV cache: q/k/v projections (optional biases), optional RMSNorm over each q and k head
// (QK-norm as in ViT-22B, Dehghani et al. 2023; here HF Qwen3Attention q_norm/k_norm), RoPE on q
// and k, causal softmax attention over cached positions 0..p0+T-1, output projection. Every path (prefill, batched
// decode, batched training rows) runs the same project -> norm -> rope sequence.
#pragma once
#include <cstdint>

#include "kernels/attention.h"
#include "nn/context.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/rope.h"

namespace r1::nn {

class GqaAttention {
 public:
  GqaAttention() = default;
  /// q_proj: [H*Hd, D], k_proj/v_proj: [Hkv*Hd, D], o_proj: [D, H*Hd] (checked).
  /// rope: rotates the first R <= Hd dims of each q/k head. Softmax scale 1/sqrt(Hd).
  /// q_norm/k_norm: either both default-constructed (no QK-norm) or both of dim Hd (checked);
  /// then every projected q and k head is RMS-normalised with its own weight before RoPE.
  GqaAttention(Linear q_proj, Linear k_proj, Linear v_proj, Linear o_proj,
               const RotaryEmbedding* rope, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
               RMSNorm q_norm = {}, RMSNorm k_norm = {});

  int64_t n_head() const { return H_; }
  int64_t n_head_kv() const { return Hkv_; }
  int64_t head_dim() const { return Hd_; }
  /// Width of one cached position of K (and of V): Hkv * Hd floats.
  int64_t kv_width() const { return Hkv_ * Hd_; }
  const Linear& q_proj() const { return q_; }
  const Linear& k_proj() const { return k_; }
  const Linear& v_proj() const { return v_; }
  const Linear& o_proj() const { return o_; }
  bool has_qk_norm() const { return qk_norm_; }
  const RMSNorm& q_norm() const { return q_norm_; }
  const RMSNorm& k_norm() const { return k_norm_; }
  int64_t weight_bytes() const;
  int64_t n_params() const;

  /// Floats of scratch forward() needs for T tokens.
  int64_t scratch_floats(int64_t T) const { return 2 * T * H_ * Hd_; }

  /// x: [T, D] normed hidden states of tokens at positions p0 .. p0+T-1 (positions[t] = p0 + t).
  /// k_cache/v_cache: this layer's [S, Hkv*Hd] with S >= p0 + T; rows p0..p0+T-1 are written.
  /// out: [T, D] (overwritten; must not alias x). scratch: scratch_floats(T) floats.
  void forward(Context& ctx, const float* x, int64_t T, int64_t p0, const int32_t* positions,
               float* k_cache, float* v_cache, float* out, float* scratch) const;

  /// B independent sequences of T tokens each, all at positions 0 .. T-1 (training batches):
  /// x: [B*T, D] (row b*T + t is token t of sequence b); positions: [B*T] (t for each row).
  /// The projections run once over the B*T rows; attention runs per sequence over its own
  /// T keys (causal). K and V live in the tape while training (ctx.tape set), else in `scratch`
  /// of scratch_floats_rows(B*T) floats. out: [B*T, D] (overwritten; must not alias x).
  /// Equals B calls of forward() with p0 = 0 on fresh caches.
  void forward_rows(Context& ctx, const float* x, int64_t B, int64_t T, const int32_t* positions,
                    float* out, float* scratch) const;
  int64_t scratch_floats_rows(int64_t n) const { return 2 * n * H_ * Hd_ + 2 * n * kv_width(); }

  /// Floats of scratch forward_decode_batch() needs for B sequences.
  int64_t scratch_floats_batch(int64_t B) const { return 2 * B * H_ * Hd_ + 2 * B * kv_width(); }

  /// One new token for each of B independent sequences, projections batched over the B rows:
  /// x: [B, D]; token b is at position positions[b] of its own cache (k_caches[b]/v_caches[b],
  /// [S_b, Hkv*Hd], row positions[b] is written) and attends its positions 0..positions[b].
  /// out: [B, D]. Equals B calls of forward() with T = 1.
  void forward_decode_batch(Context& ctx, const float* x, int64_t B, const int32_t* positions,
                            float* const* k_caches, float* const* v_caches, float* out,
                            float* scratch) const;

 private:
  kernels::AttentionParams params(int64_t T, int64_t p0) const;
  /// q [n, H, Hd] and k [n, Hkv, Hd] = the projections of x [n, D], each head normalised by
  /// q_norm/k_norm when set, then rotated at positions[n] (every step recorded when training).
  /// While training the raw projections go to tape buffers (the norm saves its input); at
  /// inference the norm runs in place.
  void project_qk(Context& ctx, const float* x, int64_t n, const int32_t* positions, float* q,
                  float* k) const;
  Linear q_, k_, v_, o_;
  RMSNorm q_norm_, k_norm_;  // [Hd] each, when qk_norm_
  bool qk_norm_ = false;
  const RotaryEmbedding* rope_ = nullptr;
  int64_t H_ = 0, Hkv_ = 0, Hd_ = 0;
};

}  // namespace r1::nn

// Grouped-query self-attention block (Ainslie et al. 2023, GQA) with rotary embeddings and an f32
// KV cache: q/k/v projections (optional biases), optional RMSNorm over each q and k head
// (QK-norm as in ViT-22B, Dehghani et al. 2023; here HF Qwen3Attention q_norm/k_norm), RoPE on q
// and k, causal softmax attention over cached positions 0..p0+T-1, output projection. Every path (prefill, batched
// decode, batched training rows) runs the same project -> norm -> rope sequence.
#pragma once
#include <cstdint>
#include <span>

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

  /// One sequence's rows of a forward(): rows row0 .. row0+T-1 of x at positions p0 .. p0+T-1.
  /// k_cache/v_cache: this layer's cache [S, Hkv*Hd] of the sequence (S >= p0 + T; rows p0..
  /// are written, the rows attend to cache rows 0 .. their position), or both null: no cache
  /// (p0 == 0; the rows attend causally to their own K/V, kept in scratch or on the tape).
  struct Span {
    int64_t row0 = 0, T = 0, p0 = 0;
    float* k_cache = nullptr;
    float* v_cache = nullptr;
  };

  /// Floats of scratch forward() needs for n rows.
  int64_t scratch_floats(int64_t n) const { return 2 * n * H_ * Hd_ + 2 * n * kv_width(); }

  /// x: [n, D] normed hidden states of the rows of `spans` (which cover rows 0 .. n-1 in
  /// order); positions: [n]. The q/k/v/o projections run once over the n rows; attention runs per
  /// span over its own cache. One cached span (prefill, training one sequence) projects K/V
  /// straight into its cache rows; several (batched decode, chunked prefill) project into
  /// scratch, then copy each span's rows into its cache. out: [n, D] (overwritten; must not alias
  /// x). scratch: scratch_floats(n) floats (unused while training: buffers come from the tape).
  /// Training (ctx.tape) takes either one span or spans without caches.
  void forward(Context& ctx, const float* x, int64_t n, const int32_t* positions,
               std::span<const Span> spans, float* out, float* scratch) const;

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

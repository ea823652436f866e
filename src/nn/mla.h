// Multi-head Latent Attention (DeepSeek-V2 report §2.1, DeepSeek-V3 report §2.1.1): queries and
// keys/values go through low-rank latents, plus a decoupled RoPE key shared by all heads. Two
// paths with identical results over the same compressed cache: the naive one decompresses K/V per
// head (prefill, training), the absorbed one folds kv_b_proj into the query and output sides and
// attends over the latent directly (decode).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kernels/matmul_batch.h"
#include "kernels/rope.h"
#include "nn/context.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace r1::nn {

/// Shapes of one MLA layer, with the config.json field names.
struct MlaConfig {
  int64_t dim = 0;                // D, hidden_size
  int64_t n_head = 0;             // H, num_attention_heads
  int64_t q_lora_rank = 0;        // 0: direct q_proj (DeepSeek-V2-Lite, config null)
  int64_t kv_lora_rank = 0;       // L
  int64_t qk_nope_head_dim = 0;   // Hd_nope
  int64_t qk_rope_head_dim = 0;   // R
  int64_t v_head_dim = 0;         // Hd_v
  float rms_norm_eps = 1e-6f;
  /// 1/sqrt(Hd_nope + R), times yarn_get_mscale(factor, mscale_all_dim)^2 under YaRN
  /// (DeepseekV3Attention.softmax_scale).
  float softmax_scale = 1.0f;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  /// Floats cached per token per layer: the latent c_kv [L] then the roped k_pe [R].
  int64_t cache_row() const { return kv_lora_rank + qk_rope_head_dim; }
};

/// Parameters of one MLA layer (HF DeepseekV3Attention names).
struct MlaWeights {
  Linear q_proj;                   // [H*(Hd_nope+R), D], only when q_lora_rank == 0
  Linear q_a_proj;                 // [q_lora_rank, D]
  RMSNorm q_a_layernorm;            // [q_lora_rank]
  Linear q_b_proj;                 // [H*(Hd_nope+R), q_lora_rank]
  Linear kv_a_proj_with_mqa;       // [L + R, D]
  RMSNorm kv_a_layernorm;           // [L]
  Linear kv_b_proj;                // [H*(Hd_nope+Hd_v), L]: per head W_UK_h then W_UV_h
  /// The absorbed path's per-head weights w_uk [H, L, Hd_nope] (W_UK_h transposed: L rows of
  /// Hd_nope) and w_uv [H, Hd_v, L], any matmul dtype, read by kernels::matmul_batch directly.
  /// Defined only for weights nothing updates: a llama.cpp deepseek2 GGUF's attn_k_b / attn_v_b
  /// as stored (kv_b_proj may then be undefined: the naive path decompresses from them), or a
  /// copy of a BF16/F16/FP8/quantised kv_b_proj made at load (inference only: training needs
  /// F32). With an F32 kv_b_proj (every trainable model) they stay undefined and the absorbed
  /// path reads kv_b_proj itself, so an optimizer step reaches decode: no copy can go stale.
  Tensor w_uk, w_uv;
  Linear o_proj;                   // [D, H*Hd_v]
};

/// The compressed KV cache of one layer: rows [S, L + R] f32 = (kv_a_layernorm(c_kv), rope(k_pe)).
/// Owned by the session; capacity fixed at creation (no allocation per token).
struct MlaCache {
  int64_t capacity = 0;  // S_max tokens
  int64_t row = 0;       // L + R
  std::vector<float> rows;
  void init(int64_t capacity_tokens, int64_t row_floats) {
    capacity = capacity_tokens;
    row = row_floats;
    rows.assign(size_t(capacity_tokens * row_floats), 0.0f);
  }
};

/// Reusable buffers of mla_forward, owned by the session and shared by its layers (they run one
/// after another). Used only for small batches (T <= kMlaScratchMaxTokens: decode, speculative
/// verification) so that decode allocates nothing per token once they have grown, while a long
/// prefill's large buffers are freed when it returns.
struct MlaScratch {
  std::vector<int32_t> pos;
  std::vector<float> q, cq, kva, o_heads, q_abs, o_lat;
  std::vector<kernels::MatmulJob> jobs;  // absorbed path: one matvec per (token, head)
};
inline constexpr int64_t kMlaScratchMaxTokens = 64;

enum class MlaPath {
  Naive,     // decompress K/V per head from the latent cache (prefill, training)
  Absorbed,  // fold kv_b_proj into q and the output; attend over the latent (decode)
};

/// A weight of any dtype as a new owned F32 tensor of the same shape (explicit and costly).
/// For F8_E4M3 pass its F32 block scales [ceil(N/block_n), ceil(K/block_k)]: w = fp8 * scale.
Tensor weight_to_f32(const Tensor& w, const Tensor* scale_inv = nullptr, int64_t block_n = 128,
                     int64_t block_k = 128);

/// kv_b_proj as f32 [H*(Dn+Dv), L] (per head W_UK_h [Dn, L] then W_UV_h [Dv, L]) from the
/// per-head weights w_uk [H, L, Dn] and w_uv [H, Dv, L] of any dtype convert_row_to_f32 reads.
/// out: H*(Dn+Dv)*L floats. Checks the shapes agree.
void kv_b_f32_from_heads(const Tensor& w_uk, const Tensor& w_uv, float* out);

/// One sequence's rows of an mla_forward call: rows row0 .. row0+T-1 of x at positions
/// p0 .. p0+T-1, whose latents go to cache rows cache_row0 + p0 .. and which attend causally to
/// cache rows cache_row0 .. cache_row0 + their position. cache_row0 is 0 for a session's cache;
/// training micro-batches stack their sequences in one cache (cache_row0 = row0, p0 = 0).
/// path: how this span attends (naive: decompress its K/V; absorbed: attend over the latent).
struct MlaSpan {
  int64_t row0 = 0, T = 0, p0 = 0;
  MlaCache* cache = nullptr;
  int64_t cache_row0 = 0;
  MlaPath path = MlaPath::Naive;
};

/// One MLA layer forward over n rows of one or more sequences.
///  x:   [n, D] f32 (the input_layernorm output); positions: [n] (each row's position)
///  out: [n, D] f32 (o_proj output; must not alias x)
/// spans cover rows 0 .. n-1 in order (distinct caches, or disjoint stacked rows of one).
/// Every projection (q_a/q_b or q_proj, kv_a, o_proj) runs once over the n rows; each row's
/// (kv_a_layernorm(c_kv), rope(k_pe)) is written to its span's cache row; then attention runs per
/// span by its path: consecutive absorbed spans share one absorbed attention (the batched decode
/// fast path: every head's matvec in one kernels::matmul_batch), consecutive naive spans stacked
/// from position 0 in one cache share one decompression (training). Results equal one call per
/// span up to float summation order. rope: the layer's RoPE table over R dims (YaRN as
/// configured); pairs are adjacent dims (HF V3 de-interleaves then rotates halves: the same dot
/// products). Checks positions within each cache's capacity and cache.row == L + R; training
/// (ctx.tape) needs the naive path. scratch: the caller's reusable buffers (see MlaScratch), or
/// null to allocate per call; the naive path's decompressed K/V are always allocated per call.
void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t n,
                 const int32_t* positions, std::span<const MlaSpan> spans, float* out,
                 MlaScratch* scratch = nullptr);

/// Helper: one sequence's tokens x [T, D] at positions p0 .. p0+T-1 of `cache` (one span).
void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t T, int64_t p0,
                 MlaCache& cache, MlaPath path, float* out, MlaScratch* scratch = nullptr);

}  // namespace r1::nn

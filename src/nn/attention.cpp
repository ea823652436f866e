#include "nn/attention.h"

#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "nn/grad.h"

namespace r1::nn {

GqaAttention::GqaAttention(Linear q_proj, Linear k_proj, Linear v_proj, Linear o_proj,
                           const RotaryEmbedding* rope, int64_t n_head, int64_t n_head_kv,
                           int64_t head_dim, RMSNorm q_norm, RMSNorm k_norm)
    : q_(std::move(q_proj)), k_(std::move(k_proj)), v_(std::move(v_proj)), o_(std::move(o_proj)),
      q_norm_(std::move(q_norm)), k_norm_(std::move(k_norm)),
      qk_norm_(q_norm_.weight().defined()), rope_(rope), H_(n_head), Hkv_(n_head_kv),
      Hd_(head_dim) {
  R1_CHECK(H_ > 0 && Hkv_ > 0 && H_ % Hkv_ == 0 && Hd_ > 0, "heads {} / kv heads {} / head_dim {}",
           H_, Hkv_, Hd_);
  const int64_t D = q_.in_features();
  R1_CHECK(q_.out_features() == H_ * Hd_ && k_.out_features() == Hkv_ * Hd_ &&
               v_.out_features() == Hkv_ * Hd_ && k_.in_features() == D &&
               v_.in_features() == D && o_.in_features() == H_ * Hd_ && o_.out_features() == D,
           "attention projection shapes q {} k {} v {} o {} do not fit H={} Hkv={} Hd={}",
           q_.weight().shape_str(), k_.weight().shape_str(), v_.weight().shape_str(),
           o_.weight().shape_str(), H_, Hkv_, Hd_);
  R1_CHECK(rope_ != nullptr && rope_->rot_dim() <= Hd_, "rope dim exceeds head_dim {}", Hd_);
  R1_CHECK(k_norm_.weight().defined() == qk_norm_, "q_norm and k_norm must be given together");
  R1_CHECK(!qk_norm_ || (q_norm_.dim() == Hd_ && k_norm_.dim() == Hd_),
           "q_norm {} / k_norm {} must have head_dim {} entries", q_norm_.dim(), k_norm_.dim(),
           Hd_);
}

int64_t GqaAttention::weight_bytes() const {
  int64_t b = q_.weight_bytes() + k_.weight_bytes() + v_.weight_bytes() + o_.weight_bytes();
  if (qk_norm_) b += int64_t(q_norm_.weight().nbytes() + k_norm_.weight().nbytes());
  return b;
}
int64_t GqaAttention::n_params() const {
  int64_t n = q_.n_params() + k_.n_params() + v_.n_params() + o_.n_params();
  if (qk_norm_) n += q_norm_.dim() + k_norm_.dim();
  return n;
}

void GqaAttention::project_qk(Context& ctx, const float* x, int64_t n, const int32_t* positions,
                              float* q, float* k) const {
  const int64_t qw = H_ * Hd_, kvw = kv_width();
  if (!qk_norm_) {
    q_.forward(ctx, x, q, n);
    k_.forward(ctx, x, k, n);
  } else {
    float* q_raw = ctx.tape != nullptr ? ctx.tape->alloc(n * qw) : q;   // [n, H, Hd]
    float* k_raw = ctx.tape != nullptr ? ctx.tape->alloc(n * kvw) : k;  // [n, Hkv, Hd]
    q_.forward(ctx, x, q_raw, n);
    k_.forward(ctx, x, k_raw, n);
    q_norm_.forward(ctx, q_raw, q, n * H_);  // rows of Hd: one per (token, head)
    k_norm_.forward(ctx, k_raw, k, n * Hkv_);
  }
  rope_->apply(q, n, H_, qw, Hd_, positions);
  rope_->apply(k, n, Hkv_, kvw, Hd_, positions);
  if (ctx.tape != nullptr) {
    record_rope(ctx, &rope_->table(), rope_->layout(), q, n, H_, qw, Hd_, positions);
    record_rope(ctx, &rope_->table(), rope_->layout(), k, n, Hkv_, kvw, Hd_, positions);
  }
}

void GqaAttention::forward(Context& ctx, const float* x, int64_t T, int64_t p0,
                           const int32_t* positions, float* k_cache, float* v_cache, float* out,
                           float* scratch) const {
  const int64_t kvw = kv_width();
  if (ctx.tape != nullptr) scratch = ctx.tape->alloc(scratch_floats(T));  // keep q and attn
  float* q = scratch;               // [T, H, Hd]
  float* attn = scratch + T * H_ * Hd_;  // [T, H, Hd]
  float* k_new = k_cache + p0 * kvw;     // [T, Hkv, Hd] rows of the cache
  float* v_new = v_cache + p0 * kvw;
  project_qk(ctx, x, T, positions, q, k_new);
  v_.forward(ctx, x, v_new, T);

  const kernels::AttentionParams p = params(T, p0);
  kernels::attention(p, q, k_cache, v_cache, attn, ctx.pool);
  if (ctx.tape != nullptr) record_attention(ctx, p, q, k_cache, v_cache, attn);
  o_.forward(ctx, attn, out, T);
}

void GqaAttention::forward_rows(Context& ctx, const float* x, int64_t B, int64_t T,
                                const int32_t* positions, float* out, float* scratch) const {
  const int64_t kvw = kv_width(), qw = H_ * Hd_, n = B * T;
  if (ctx.tape != nullptr) scratch = ctx.tape->alloc(scratch_floats_rows(n));  // keep q k v attn
  float* q = scratch;           // [B*T, H, Hd]
  float* attn = q + n * qw;     // [B*T, H, Hd]
  float* k = attn + n * qw;     // [B*T, Hkv, Hd]: sequence b's cache is rows b*T .. b*T+T-1
  float* v = k + n * kvw;       // [B*T, Hkv, Hd]
  project_qk(ctx, x, n, positions, q, k);
  v_.forward(ctx, x, v, n);
  const kernels::AttentionParams p = params(T, 0);
  for (int64_t b = 0; b < B; ++b) {
    const float* qb = q + b * T * qw;
    const float* kb = k + b * T * kvw;
    const float* vb = v + b * T * kvw;
    float* ab = attn + b * T * qw;
    kernels::attention(p, qb, kb, vb, ab, ctx.pool);
    if (ctx.tape != nullptr) record_attention(ctx, p, qb, kb, vb, ab);
  }
  o_.forward(ctx, attn, out, n);
}

kernels::AttentionParams GqaAttention::params(int64_t T, int64_t p0) const {
  kernels::AttentionParams p;
  p.T = T;
  p.H = H_;
  p.Hkv = Hkv_;
  p.Hd_k = Hd_;
  p.Hd_v = Hd_;
  p.p0 = p0;
  p.scale = float(1.0 / std::sqrt(double(Hd_)));
  return p;
}

void GqaAttention::forward_decode_batch(Context& ctx, const float* x, int64_t B,
                                        const int32_t* positions, float* const* k_caches,
                                        float* const* v_caches, float* out, float* scratch) const {
  R1_CHECK(ctx.tape == nullptr, "forward_decode_batch is an inference path (no tape)");
  const int64_t kvw = kv_width(), qw = H_ * Hd_;
  float* q = scratch;              // [B, H, Hd]
  float* attn = q + B * qw;        // [B, H, Hd]
  float* k_new = attn + B * qw;    // [B, Hkv, Hd]
  float* v_new = k_new + B * kvw;  // [B, Hkv, Hd]
  project_qk(ctx, x, B, positions, q, k_new);
  v_.forward(ctx, x, v_new, B);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t pos = positions[b];
    std::memcpy(k_caches[b] + pos * kvw, k_new + b * kvw, size_t(kvw) * sizeof(float));
    std::memcpy(v_caches[b] + pos * kvw, v_new + b * kvw, size_t(kvw) * sizeof(float));
    kernels::attention(params(1, pos), q + b * qw, k_caches[b], v_caches[b], attn + b * qw,
                       ctx.pool);
  }
  o_.forward(ctx, attn, out, B);
}

}  // namespace r1::nn

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

void GqaAttention::forward(Context& ctx, const float* x, int64_t n, const int32_t* positions,
                           std::span<const Span> spans, float* out, float* scratch) const {
  const int64_t kvw = kv_width(), qw = H_ * Hd_;
  R1_CHECK(!spans.empty() && spans.back().row0 + spans.back().T == n,
           "attention spans do not cover the {} rows", n);
  // One cached span: K/V go straight into its cache rows (no copy), as the kernels read them.
  const bool direct = spans.size() == 1 && spans[0].k_cache != nullptr;
  if (ctx.tape != nullptr) {
    for (const Span& sp : spans)
      R1_CHECK(direct || sp.k_cache == nullptr,
               "training attention takes one sequence per cache or sequences without caches");
    scratch = ctx.tape->alloc(scratch_floats(n));  // keep q, k, v and attn for backward
  }
  float* q = scratch;           // [n, H, Hd]
  float* attn = q + n * qw;     // [n, H, Hd]
  float* k = attn + n * qw;     // [n, Hkv, Hd]
  float* v = k + n * kvw;       // [n, Hkv, Hd]
  if (direct) {
    k = spans[0].k_cache + spans[0].p0 * kvw;
    v = spans[0].v_cache + spans[0].p0 * kvw;
  }
  project_qk(ctx, x, n, positions, q, k);
  v_.forward(ctx, x, v, n);
  for (const Span& sp : spans) {
    const float* kc = k + sp.row0 * kvw;  // no cache: the span's own rows are its keys
    const float* vc = v + sp.row0 * kvw;
    if (sp.k_cache != nullptr) {
      if (!direct) {
        std::memcpy(sp.k_cache + sp.p0 * kvw, kc, size_t(sp.T * kvw) * sizeof(float));
        std::memcpy(sp.v_cache + sp.p0 * kvw, vc, size_t(sp.T * kvw) * sizeof(float));
      }
      kc = sp.k_cache;
      vc = sp.v_cache;
    } else {
      R1_CHECK(sp.p0 == 0, "a span without a cache starts at position 0, not {}", sp.p0);
    }
    const kernels::AttentionParams p = params(sp.T, sp.p0);
    const float* qs = q + sp.row0 * qw;
    float* as = attn + sp.row0 * qw;
    kernels::attention(p, qs, kc, vc, as, ctx.pool);
    if (ctx.tape != nullptr) record_attention(ctx, p, qs, kc, vc, as);
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

}  // namespace r1::nn

// MLA forward: shared projection/cache code, then either the naive (decompressed) or the absorbed
// (latent-space) attention. Equations follow DeepSeek-V2 report §2.1.2-2.1.3 (eq. 9-19).
#include "nn/mla.h"

#include <algorithm>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/matmul_batch.h"
#include "kernels/ops.h"
#include "nn/grad.h"
#include "quant/dequantize.h"

namespace r1::nn {

Tensor weight_to_f32(const Tensor& w, const Tensor* scale_inv, int64_t block_n, int64_t block_k) {
  R1_CHECK(w.ndim() == 2, "weight_to_f32 wants a 2-d weight, got {}", w.shape_str());
  if (w.dtype() != DType::F8_E4M3) return quant::to_f32(w);
  R1_CHECK(scale_inv != nullptr && scale_inv->dtype() == DType::F32,
           "F8_E4M3 weight {} needs F32 scales", w.shape_str());
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t kb = (K + block_k - 1) / block_k;
  R1_CHECK(scale_inv->numel() == ((N + block_n - 1) / block_n) * kb,
           "scales {} do not match weight {} with {}x{} blocks", scale_inv->shape_str(),
           w.shape_str(), block_n, block_k);
  Tensor out = Tensor::zeros(DType::F32, {N, K});
  float* o = out.data<float>();
  const float* s = scale_inv->data<float>();
  for (int64_t n = 0; n < N; ++n) {
    convert_row_to_f32(DType::F8_E4M3, w.row(n), o + n * K, K);
    for (int64_t k = 0; k < K; ++k) o[n * K + k] *= s[(n / block_n) * kb + k / block_k];
  }
  return out;
}

void kv_b_f32_from_heads(const Tensor& w_uk, const Tensor& w_uv, float* out) {
  R1_CHECK(w_uk.ndim() == 3 && w_uv.ndim() == 3 && w_uk.dim(0) == w_uv.dim(0) &&
               w_uk.dim(1) == w_uv.dim(2),
           "w_uk {} and w_uv {} are not [H, L, Dn] and [H, Dv, L]", w_uk.shape_str(),
           w_uv.shape_str());
  const int64_t H = w_uk.dim(0), L = w_uk.dim(1), Dn = w_uk.dim(2), Dv = w_uv.dim(1);
  const Tensor uk = w_uk.reshape({H * L, Dn}), uv = w_uv.reshape({H * Dv, L});
  std::vector<float> r(static_cast<size_t>(Dn));
  for (int64_t h = 0; h < H; ++h) {
    float* oh = out + h * (Dn + Dv) * L;
    for (int64_t l = 0; l < L; ++l) {  // W_UK_h transposed back: row l of w_uk[h] is column l
      quant::dequantize_row(uk.dtype(), uk.row(h * L + l), r.data(), Dn);
      for (int64_t j = 0; j < Dn; ++j) oh[j * L + l] = r[size_t(j)];
    }
    for (int64_t j = 0; j < Dv; ++j)
      quant::dequantize_row(uv.dtype(), uv.row(h * Dv + j), oh + (Dn + j) * L, L);
  }
}

namespace {

// The projections of x [T, D] (eq. 9, 12-14 / V3 eq. 1-8): q [T, H, Dn + R] before RoPE, and
// kva [T, L + R] = [c_kv | k_pe] before kv_a_layernorm and RoPE. With q-LoRA, cq [T, q_lora_rank]
// receives c_q and cqn its q_a_layernorm (cqn == cq: in place). Inference runs the two
// projections of x as one kernels::matmul_batch (same results as two Linear::forward calls: one
// pool round-trip and one Q8_0 rounding of x instead of two); training records each on the tape,
// the kv_a node after the q nodes.
void project(Context& ctx, const MlaConfig& cfg, const MlaWeights& w, const float* x, int64_t T,
             float* q, float* cq, float* cqn, float* kva, std::vector<kernels::MatmulJob>& jobs) {
  const Linear& q_in = cfg.q_lora_rank > 0 ? w.q_a_proj : w.q_proj;  // the projection of x
  float* q_in_out = cfg.q_lora_rank > 0 ? cq : q;
  const bool fused =
      ctx.tape == nullptr && !q_in.has_bias() && !w.kv_a_proj_with_mqa.has_bias();
  if (fused) {
    jobs.clear();
    jobs.push_back({q_in.view(), x, q_in_out, T});
    jobs.push_back({w.kv_a_proj_with_mqa.view(), x, kva, T});
    kernels::matmul_batch(jobs, ctx.pool);
  } else {
    q_in.forward(ctx, x, q_in_out, T);
  }
  if (cfg.q_lora_rank > 0) {
    w.q_a_layernorm.forward(ctx, cq, cqn, T);
    w.q_b_proj.forward(ctx, cqn, q, T);
  }
  if (!fused) w.kv_a_proj_with_mqa.forward(ctx, x, kva, T);
}

// The absorbed attention (V2 report §2.1.2 end) of roped queries q [T, H, Dn + R] into
// o_heads [T, H, Dv]: q_abs = [q_nope_h . W_UK_h | q_pe] [T, H, L + R], then
// attend(q_abs, o_lat) fills o_lat [T, H, L] (attention over latent cache rows, the caller's
// causal layout), then o_h = W_UV_h . o_lat_h.
template <class Attend>
void absorbed_attention(Context& ctx, const MlaConfig& cfg, const MlaWeights& w, const float* q,
                        int64_t T, float* o_heads, MlaScratch& sc, Attend&& attend) {
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  const bool per_head = w.w_uk.defined();
  kernels::WeightView uk, uv;  // per_head: all heads, [H*L, Dn] and [H*Dv, L]
  const float* wkv = nullptr;  // else: the F32 kv_b_proj itself [H, Dn + Dv, L]
  if (per_head) {
    R1_CHECK(w.w_uk.ndim() == 3 && w.w_uk.dim(0) == H && w.w_uk.dim(1) == L &&
                 w.w_uk.dim(2) == Dn && w.w_uv.ndim() == 3 && w.w_uv.dim(0) == H &&
                 w.w_uv.dim(1) == Dv && w.w_uv.dim(2) == L,
             "absorbed MLA: w_uk {} / w_uv {}, expected [{}, {}, {}] / [{}, {}, {}]",
             w.w_uk.shape_str(), w.w_uv.shape_str(), H, L, Dn, H, Dv, L);
    uk = kernels::weight_view(w.w_uk.reshape({H * L, Dn}));
    uv = kernels::weight_view(w.w_uv.reshape({H * Dv, L}));
  } else {
    const Tensor& kvb = w.kv_b_proj.weight();
    R1_CHECK(kvb.defined() && kvb.dtype() == DType::F32 && kvb.numel() == H * (Dn + Dv) * L,
             "absorbed MLA needs an F32 kv_b_proj [{}, {}] or w_uk/w_uv, got {}", H * (Dn + Dv),
             L, kvb.defined() ? kvb.shape_str() : std::string("none"));
    wkv = kvb.data<float>();
  }
  // q_abs [T, H, L + R]: q_nope_h . W_UK_h (latent side) then q_pe; K and V rows are the cache
  // rows themselves (K = [c_kv | k_pe], V = c_kv), one shared KV head (V2 report §2.1.2 end).
  std::vector<float>& qa = sc.q_abs;
  qa.resize(size_t(T * H * row));
  auto& jobs = sc.jobs;
  if (per_head) {
    // One matvec per (token, head): q_abs_h [L] = w_uk[h] [L, Dn] . q_nope_h, all in one
    // matmul_batch loop over the stored (quantised) rows.
    jobs.clear();
    for (int64_t i = 0; i < T * H; ++i) {
      kernels::MatmulJob j;
      j.w = uk;
      j.w.data = static_cast<const char*>(uk.data) + size_t(i % H) * size_t(L) * uk.row_bytes;
      j.w.n = L;
      j.x = q + i * Dqk;
      j.y = qa.data() + i * row;
      j.T = 1;
      jobs.push_back(j);
    }
    kernels::matmul_batch(jobs, ctx.pool);
    for (int64_t i = 0; i < T * H; ++i)
      std::memcpy(qa.data() + i * row + L, q + i * Dqk + Dn, size_t(R) * sizeof(float));
  } else {
    // Each (token, head) item costs Dn*L multiply-adds; below ~64K in all a pool round-trip
    // costs more than the work (tiny models, or an oversubscribed machine).
    auto fn = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t h = i % H;
        const float* qn = q + i * Dqk;
        float* dst = qa.data() + i * row;
        std::memset(dst, 0, size_t(L) * sizeof(float));
        const float* wuk = wkv + h * (Dn + Dv) * L;  // [Dn, L]
        for (int64_t j = 0; j < Dn; ++j) {
          const float a = qn[j];
          const float* wr = wuk + j * L;
          for (int64_t l = 0; l < L; ++l) dst[l] += a * wr[l];
        }
        std::memcpy(dst + L, qn + Dn, size_t(R) * sizeof(float));
      }
    };
    if (T * H * Dn * L < (1 << 16)) {
      fn(0, T * H, 0);
    } else {
      ctx.pool.parallel_for(T * H, 1, fn);
    }
  }
  std::vector<float>& o_lat = sc.o_lat;  // [T, H, L]
  o_lat.resize(size_t(T * H * L));
  attend(qa.data(), o_lat.data());
  // o_h [Dv] = W_UV_h [Dv, L] . o_lat_h: one f32 matvec per (token, head), all in one
  // kernels::matmul_batch loop (SIMD dot products; a scalar loop here was 10% of V2-Lite decode).
  jobs.clear();
  for (int64_t i = 0; i < T * H; ++i) {
    kernels::MatmulJob j;
    if (per_head) {
      j.w = uv;
      j.w.data = static_cast<const char*>(uv.data) + size_t(i % H) * size_t(Dv) * uv.row_bytes;
    } else {
      j.w.dtype = DType::F32;
      j.w.data = wkv + ((i % H) * (Dn + Dv) + Dn) * L;  // W_UV_h [Dv, L]
      j.w.k = L;
      j.w.row_bytes = size_t(L) * sizeof(float);
    }
    j.w.n = Dv;
    j.x = o_lat.data() + i * L;
    j.y = o_heads + i * Dv;
    j.T = 1;
    jobs.push_back(j);
  }
  kernels::matmul_batch(jobs, ctx.pool);
}

}  // namespace

void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t n,
                 const int32_t* positions, std::span<const MlaSpan> spans, float* out,
                 MlaScratch* scratch) {
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  R1_CHECK(rope.rot_dim == R, "rope table of {} dims for qk_rope_head_dim {}", rope.rot_dim, R);
  R1_CHECK(!spans.empty() && spans.back().row0 + spans.back().T == n,
           "MLA spans do not cover the {} rows", n);
  autograd::Tape* tape = ctx.tape;
  for (const MlaSpan& sp : spans) {
    R1_CHECK(sp.cache != nullptr && sp.cache->row == row,
             "MLA cache rows of {} floats, layer wants {}", sp.cache ? sp.cache->row : 0, row);
    R1_CHECK(sp.p0 >= 0 && sp.cache_row0 + sp.p0 + sp.T <= sp.cache->capacity,
             "MLA positions {}..{} past cache capacity {}", sp.p0, sp.p0 + sp.T - 1,
             sp.cache->capacity - sp.cache_row0);
    R1_CHECK(tape == nullptr || sp.path == MlaPath::Naive, "MLA training uses the naive path");
    // Training: one gradient region per cache (nn/grad.h), so row slices resolve inside it.
    if (tape != nullptr) tape->grad(sp.cache->rows.data(), int64_t(sp.cache->rows.size()));
  }
  // Training (ctx.tape): every intermediate comes from the tape and norms run out of place, so
  // the backward nodes find their saved inputs intact (nn/grad.h).
  MlaScratch local;
  MlaScratch& sc =
      scratch != nullptr && tape == nullptr && n <= kMlaScratchMaxTokens ? *scratch : local;
  auto buffer = [&](std::vector<float>& v, int64_t m) {
    if (tape != nullptr) return tape->alloc(m);
    v.resize(size_t(m));
    return v.data();
  };

  // Queries q [n, H, Dn + R] and the latent + shared rope key kva [n, L + R], one projection
  // over all rows; then each row's kv_a_layernorm(c_kv) and roped k_pe go to its cache row.
  std::vector<float> cqn_local;
  float* q = buffer(sc.q, n * H * Dqk);
  float* cq = cfg.q_lora_rank > 0 ? buffer(sc.cq, n * cfg.q_lora_rank) : nullptr;  // c_q
  float* cqn = cq != nullptr && tape != nullptr ? buffer(cqn_local, n * cfg.q_lora_rank) : cq;
  float* kva = buffer(sc.kva, n * row);
  project(ctx, cfg, w, x, n, q, cq, cqn, kva, sc.jobs);
  // q_pe is the last R dims of each head.
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, q + Dn, n, H, H * Dqk, Dqk,
                      positions);
  if (tape != nullptr)
    record_rope(ctx, &rope, kernels::RopeLayout::Interleaved, q + Dn, n, H, H * Dqk, Dqk,
                positions);
  for (const MlaSpan& sp : spans) {
    float* crow = sp.cache->rows.data() + (sp.cache_row0 + sp.p0) * row;
    const float* kv = kva + sp.row0 * row;
    for (int64_t t = 0; t < sp.T; ++t)
      w.kv_a_layernorm.forward(ctx, kv + t * row, crow + t * row, 1);  // norm on c_kv [L] only
    copy_rows(ctx, kv + L, row, crow + L, row, R, sp.T);
    const int32_t* pos = positions + sp.row0;
    kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, crow + L, sp.T, 1, row, row, pos);
    if (tape != nullptr)
      record_rope(ctx, &rope, kernels::RopeLayout::Interleaved, crow + L, sp.T, 1, row, row, pos);
  }

  kernels::AttentionParams ap;
  ap.H = H;
  ap.scale = cfg.softmax_scale;
  float* o_heads = buffer(sc.o_heads, n * H * Dv);  // [n, H, Dv] before o_proj
  // Consecutive spans of one path form a run: an absorbed run shares one absorbed_attention
  // (one matmul_batch over all its rows' heads: batched decode); a naive run of spans stacked
  // back to back in one cache from position 0 (training micro-batches) decompresses once.
  for (size_t i = 0; i < spans.size();) {
    size_t e = i + 1;
    const MlaSpan& first = spans[i];
    if (first.path == MlaPath::Absorbed) {
      while (e < spans.size() && spans[e].path == MlaPath::Absorbed) ++e;
    } else if (first.p0 == 0) {
      while (e < spans.size() && spans[e].path == MlaPath::Naive && spans[e].p0 == 0 &&
             spans[e].cache == first.cache &&
             spans[e].cache_row0 == spans[e - 1].cache_row0 + spans[e - 1].T)
        ++e;
    }
    const int64_t r0 = first.row0, nr = spans[e - 1].row0 + spans[e - 1].T - r0;
    if (first.path == MlaPath::Absorbed) {
      absorbed_attention(ctx, cfg, w, q + r0 * H * Dqk, nr, o_heads + r0 * H * Dv, sc,
                         [&](const float* qa, float* o_lat) {
                           ap.Hkv = 1;
                           ap.Hd_k = row;
                           ap.Hd_v = L;
                           ap.k_pos_stride = row;
                           ap.v_pos_stride = row;
                           for (size_t j = i; j < e; ++j) {
                             const MlaSpan& sp = spans[j];
                             const float* rows = sp.cache->rows.data() + sp.cache_row0 * row;
                             ap.T = sp.T;
                             ap.p0 = sp.p0;
                             const int64_t o = sp.row0 - r0;
                             kernels::attention(ap, qa + o * H * row, rows, rows,
                                                o_lat + o * H * L, ctx.pool);
                           }
                         });
      i = e;
      continue;
    }
    // Naive: decompress the run's cached positions (S rows from its first span's cache row):
    // kv [S, H, Dn + Dv] = kv_b_proj(c_kv) (eq. 10-11).
    const int64_t S = first.p0 + nr;
    const float* crows = first.cache->rows.data() + first.cache_row0 * row;
    std::vector<float> c_local, kv_local, k_local, v_local;
    float* c = buffer(c_local, S * L);
    float* kv = buffer(kv_local, S * H * (Dn + Dv));
    float* k = buffer(k_local, S * H * Dqk);
    float* v = buffer(v_local, S * H * Dv);
    copy_rows(ctx, crows, row, c, L, L, S);
    if (w.kv_b_proj.weight().defined()) {
      w.kv_b_proj.forward(ctx, c, kv, S);
    } else {
      // Per-head weights only (GGUF): an f32 kv_b_proj for this call (H*(Dn+Dv)*L floats, small
      // next to the decompressed K/V of a prefill), freed on return.
      R1_CHECK(tape == nullptr && w.w_uk.defined() && w.w_uv.defined(),
               "naive MLA needs kv_b_proj (or w_uk/w_uv, inference only)");
      std::vector<float> kvb(static_cast<size_t>(H * (Dn + Dv) * L));
      kv_b_f32_from_heads(w.w_uk, w.w_uv, kvb.data());
      kernels::WeightView wv;
      wv.dtype = DType::F32;
      wv.data = kvb.data();
      wv.n = H * (Dn + Dv);
      wv.k = L;
      wv.row_bytes = size_t(L) * sizeof(float);
      kernels::matmul(wv, c, kv, S, ctx.pool);
    }
    // k [S, H, Dn + R] = [k_nope_h | k_pe] (eq. 17), v [S, H, Dv].
    for (int64_t h = 0; h < H; ++h) {
      copy_rows(ctx, kv + h * (Dn + Dv), H * (Dn + Dv), k + h * Dqk, H * Dqk, Dn, S);
      copy_rows(ctx, crows + L, row, k + h * Dqk + Dn, H * Dqk, R, S);
      copy_rows(ctx, kv + h * (Dn + Dv) + Dn, H * (Dn + Dv), v + h * Dv, H * Dv, Dv, S);
    }
    ap.Hkv = H;
    ap.Hd_k = Dqk;
    ap.Hd_v = Dv;
    ap.k_pos_stride = 0;
    ap.v_pos_stride = 0;
    for (size_t j = i; j < e; ++j) {  // causal within each span's own rows
      const MlaSpan& sp = spans[j];
      const int64_t o = sp.cache_row0 - first.cache_row0;  // the span's position 0 in k/v
      ap.T = sp.T;
      ap.p0 = sp.p0;
      const float* qi = q + sp.row0 * H * Dqk;
      const float* ki = k + o * H * Dqk;
      const float* vi = v + o * H * Dv;
      float* oi = o_heads + sp.row0 * H * Dv;
      kernels::attention(ap, qi, ki, vi, oi, ctx.pool);
      if (tape != nullptr) record_attention(ctx, ap, qi, ki, vi, oi);
    }
    i = e;
  }
  w.o_proj.forward(ctx, o_heads, out, n);
}

void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t T, int64_t p0,
                 MlaCache& cache, MlaPath path, float* out, MlaScratch* scratch) {
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(p0 + t);
  const MlaSpan sp{0, T, p0, &cache, 0, path};
  mla_forward(ctx, cfg, w, rope, x, T, pos.data(), {&sp, 1}, out, scratch);
}

}  // namespace r1::nn

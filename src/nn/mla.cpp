// MLA forward: shared projection/cache code, then either the naive (decompressed) or the absorbed
// (latent-space) attention. Equations follow DeepSeek-V2 report §2.1.2-2.1.3 (eq. 9-19).
#include "nn/mla.h"

#include <cstring>

#include "kernels/attention.h"
#include "kernels/matmul_batch.h"
#include "kernels/ops.h"
#include "nn/grad.h"
#include "quant/iq_codec.h"

namespace r1::nn {

namespace {
// One row to f32 for any weight dtype: IQ/TQ/MXFP4 rows through their codec (quant-iq), the rest
// through core's conversion.
void any_row_to_f32(DType t, const void* src, float* dst, int64_t n) {
  if (quant::iq::is_iq_dtype(t))
    quant::iq::dequantize_row(t, src, dst, n);
  else
    convert_row_to_f32(t, src, dst, n);
}
}  // namespace

Tensor weight_to_f32(const Tensor& w, const Tensor* scale_inv, int64_t block_n, int64_t block_k) {
  R1_CHECK(w.ndim() == 2, "weight_to_f32 wants a 2-d weight, got {}", w.shape_str());
  if (quant::iq::is_iq_dtype(w.dtype())) {
    Tensor out = Tensor::zeros(DType::F32, {w.dim(0), w.dim(1)});
    for (int64_t n = 0; n < w.dim(0); ++n)
      any_row_to_f32(w.dtype(), w.row(n), out.data<float>() + n * w.dim(1), w.dim(1));
    return out;
  }
  if (w.dtype() != DType::F8_E4M3) return w.to_f32();
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
      any_row_to_f32(uk.dtype(), uk.row(h * L + l), r.data(), Dn);
      for (int64_t j = 0; j < Dn; ++j) oh[j * L + l] = r[size_t(j)];
    }
    for (int64_t j = 0; j < Dv; ++j)
      any_row_to_f32(uv.dtype(), uv.row(h * Dv + j), oh + (Dn + j) * L, L);
  }
}

void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t T, int64_t p0,
                 MlaCache& cache, MlaPath path, float* out, MlaScratch* scratch) {
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  R1_CHECK(cache.row == row, "MLA cache rows of {} floats, layer wants {}", cache.row, row);
  R1_CHECK(p0 >= 0 && p0 + T <= cache.capacity, "MLA positions {}..{} past cache capacity {}", p0,
           p0 + T - 1, cache.capacity);
  R1_CHECK(rope.rot_dim == R, "rope table of {} dims for qk_rope_head_dim {}", rope.rot_dim, R);
  const int64_t S = p0 + T;

  // Training (ctx.tape): every intermediate comes from the tape and norms run out of place, so
  // the backward nodes find their saved inputs intact (nn/grad.h).
  autograd::Tape* tape = ctx.tape;
  MlaScratch local;
  MlaScratch& sc =
      scratch != nullptr && tape == nullptr && T <= kMlaScratchMaxTokens ? *scratch : local;
  std::vector<int32_t>& pos = sc.pos;
  pos.resize(size_t(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(p0 + t);
  R1_CHECK(tape == nullptr || path == MlaPath::Naive, "MLA training uses the naive path");
  auto buffer = [&](std::vector<float>& local, int64_t n) {
    if (tape != nullptr) return tape->alloc(n);
    local.resize(size_t(n));
    return local.data();
  };
  if (tape != nullptr) tape->grad(cache.rows.data(), int64_t(cache.rows.size()));  // one region

  // Queries q [T, H, Dn + R] (eq. 12-13 / V3 eq. 6-8), latent and shared rope key kv_a
  // [T, L + R] = [c_kv | k_pe] (eq. 9, 14). kv_a goes straight into the cache rows p0 .. p0+T-1
  // (the cache row layout is the projection's output layout); when training, into a tape buffer
  // first, then normed / copied into the cache rows.
  std::vector<float> cqn_local, kva_local;
  float* q = buffer(sc.q, T * H * Dqk);
  float* cq = cfg.q_lora_rank > 0 ? buffer(sc.cq, T * cfg.q_lora_rank) : nullptr;  // c_q
  const Linear& q_in = cfg.q_lora_rank > 0 ? w.q_a_proj : w.q_proj;  // the projection of x
  float* q_in_out = cq != nullptr ? cq : q;
  float* crow = cache.rows.data() + p0 * row;
  float* kva = tape != nullptr ? buffer(kva_local, T * row) : crow;
  // Inference: both projections of x in one kernels::matmul_batch (same results as two
  // Linear::forward calls: one pool round-trip and one Q8_0 rounding of x instead of two).
  const bool fused = tape == nullptr && !q_in.has_bias() && !w.kv_a_proj_with_mqa.has_bias();
  if (fused) {
    auto& jobs = sc.jobs;
    jobs.clear();
    jobs.push_back({q_in.view(), x, q_in_out, T});
    jobs.push_back({w.kv_a_proj_with_mqa.view(), x, kva, T});
    kernels::matmul_batch(jobs, ctx.pool);
  } else {
    q_in.forward(ctx, x, q_in_out, T);
  }
  if (cfg.q_lora_rank > 0) {
    float* cqn = tape != nullptr ? buffer(cqn_local, T * cfg.q_lora_rank) : cq;
    w.q_a_layernorm.forward(ctx, cq, cqn, T);
    w.q_b_proj.forward(ctx, cqn, q, T);
  }
  // q_pe is the last R dims of each head.
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, q + Dn, T, H, H * Dqk, Dqk,
                      pos.data());
  if (tape != nullptr)
    record_rope(ctx, &rope, kernels::RopeLayout::Interleaved, q + Dn, T, H, H * Dqk, Dqk,
                pos.data());

  if (!fused) w.kv_a_proj_with_mqa.forward(ctx, x, kva, T);
  for (int64_t t = 0; t < T; ++t)
    w.kv_a_layernorm.forward(ctx, kva + t * row, crow + t * row, 1);  // norm on c_kv [L] only
  if (tape != nullptr) copy_rows(ctx, kva + L, row, crow + L, row, R, T);
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, crow + L, T, 1, row, row, pos.data());
  if (tape != nullptr)
    record_rope(ctx, &rope, kernels::RopeLayout::Interleaved, crow + L, T, 1, row, row,
                pos.data());

  kernels::AttentionParams ap;
  ap.T = T;
  ap.H = H;
  ap.p0 = p0;
  ap.scale = cfg.softmax_scale;
  float* o_heads = buffer(sc.o_heads, T * H * Dv);  // [T, H, Dv] before o_proj

  if (path == MlaPath::Naive) {
    // Decompress every cached position: kv [S, H, Dn + Dv] = kv_b_proj(c_kv) (eq. 10-11).
    std::vector<float> c_local, kv_local, k_local, v_local;
    float* c = buffer(c_local, S * L);
    float* kv = buffer(kv_local, S * H * (Dn + Dv));
    float* k = buffer(k_local, S * H * Dqk);
    float* v = buffer(v_local, S * H * Dv);
    copy_rows(ctx, cache.rows.data(), row, c, L, L, S);
    if (w.kv_b_proj.weight().defined()) {
      w.kv_b_proj.forward(ctx, c, kv, S);
    } else {
      // Per-head weights only (GGUF): an f32 kv_b_proj for this call (H*(Dn+Dv)*L floats, small
      // next to the decompressed K/V of a prefill), freed on return.
      R1_CHECK(tape == nullptr && w.w_uk.defined() && w.w_uv.defined(),
               "naive MLA needs kv_b_proj (or w_uk/w_uv, inference only)");
      std::vector<float> kvb(static_cast<size_t>(H * (Dn + Dv) * L));
      kv_b_f32_from_heads(w.w_uk, w.w_uv, kvb.data());
      kernels::WeightView v;
      v.dtype = DType::F32;
      v.data = kvb.data();
      v.n = H * (Dn + Dv);
      v.k = L;
      v.row_bytes = size_t(L) * sizeof(float);
      kernels::matmul(v, c, kv, S, ctx.pool);
    }
    // k [S, H, Dn + R] = [k_nope_h | k_pe] (eq. 17), v [S, H, Dv].
    for (int64_t h = 0; h < H; ++h) {
      copy_rows(ctx, kv + h * (Dn + Dv), H * (Dn + Dv), k + h * Dqk, H * Dqk, Dn, S);
      copy_rows(ctx, cache.rows.data() + L, row, k + h * Dqk + Dn, H * Dqk, R, S);
      copy_rows(ctx, kv + h * (Dn + Dv) + Dn, H * (Dn + Dv), v + h * Dv, H * Dv, Dv, S);
    }
    ap.Hkv = H;
    ap.Hd_k = Dqk;
    ap.Hd_v = Dv;
    kernels::attention(ap, q, k, v, o_heads, ctx.pool);
    if (tape != nullptr) record_attention(ctx, ap, q, k, v, o_heads);
  } else {
    const bool per_head = w.w_uk.defined();
    kernels::WeightView uk, uv;  // per_head: all heads, [H*L, Dn] and [H*Dv, L]
    const float* wkv = nullptr;  // else: kv_b_f32 [H, Dn + Dv, L]
    if (per_head) {
      R1_CHECK(w.w_uk.ndim() == 3 && w.w_uk.dim(0) == H && w.w_uk.dim(1) == L &&
                   w.w_uk.dim(2) == Dn && w.w_uv.ndim() == 3 && w.w_uv.dim(0) == H &&
                   w.w_uv.dim(1) == Dv && w.w_uv.dim(2) == L,
               "absorbed MLA: w_uk {} / w_uv {}, expected [{}, {}, {}] / [{}, {}, {}]",
               w.w_uk.shape_str(), w.w_uv.shape_str(), H, L, Dn, H, Dv, L);
      uk = kernels::weight_view(w.w_uk.reshape({H * L, Dn}));
      uv = kernels::weight_view(w.w_uv.reshape({H * Dv, L}));
    } else {
      R1_CHECK(w.kv_b_f32.defined() && w.kv_b_f32.numel() == H * (Dn + Dv) * L,
               "absorbed MLA needs kv_b_f32 [H*(Dn+Dv), L] or w_uk/w_uv");
      wkv = w.kv_b_f32.data<float>();
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
    ap.Hkv = 1;
    ap.Hd_k = row;
    ap.Hd_v = L;
    ap.k_pos_stride = row;
    ap.v_pos_stride = row;
    kernels::attention(ap, qa.data(), cache.rows.data(), cache.rows.data(), o_lat.data(), ctx.pool);
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
  w.o_proj.forward(ctx, o_heads, out, T);
}

}  // namespace r1::nn

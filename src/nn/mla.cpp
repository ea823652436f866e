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
                 const kernels::RopeTable& rope, const float* x, int64_t T, int64_t p0,
                 MlaCache& cache, MlaPath path, float* out, MlaScratch* scratch,
                 int64_t n_seq) {
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  R1_CHECK(cache.row == row, "MLA cache rows of {} floats, layer wants {}", cache.row, row);
  R1_CHECK(p0 >= 0 && p0 + T <= cache.capacity, "MLA positions {}..{} past cache capacity {}", p0,
           p0 + T - 1, cache.capacity);
  R1_CHECK(rope.rot_dim == R, "rope table of {} dims for qk_rope_head_dim {}", rope.rot_dim, R);
  R1_CHECK(n_seq >= 1 && T % n_seq == 0 && (n_seq == 1 || (p0 == 0 && path == MlaPath::Naive)),
           "MLA: {} tokens as {} sequences at position {} ({} path)", T, n_seq, p0,
           path == MlaPath::Naive ? "naive" : "absorbed");
  const int64_t S = p0 + T;
  const int64_t Ts = T / n_seq;  // tokens per sequence

  // Training (ctx.tape): every intermediate comes from the tape and norms run out of place, so
  // the backward nodes find their saved inputs intact (nn/grad.h).
  autograd::Tape* tape = ctx.tape;
  MlaScratch local;
  MlaScratch& sc =
      scratch != nullptr && tape == nullptr && T <= kMlaScratchMaxTokens ? *scratch : local;
  std::vector<int32_t>& pos = sc.pos;
  pos.resize(size_t(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(p0 + t % Ts);
  R1_CHECK(tape == nullptr || path == MlaPath::Naive, "MLA training uses the naive path");
  auto buffer = [&](std::vector<float>& local, int64_t n) {
    if (tape != nullptr) return tape->alloc(n);
    local.resize(size_t(n));
    return local.data();
  };
  if (tape != nullptr) tape->grad(cache.rows.data(), int64_t(cache.rows.size()));  // one region

  // Queries q [T, H, Dn + R] and the latent + shared rope key kv_a [T, L + R]. kv_a goes
  // straight into the cache rows p0 .. p0+T-1 (the cache row layout is the projection's output
  // layout); when training, into a tape buffer first, then normed / copied into the cache rows.
  std::vector<float> cqn_local, kva_local;
  float* q = buffer(sc.q, T * H * Dqk);
  float* cq = cfg.q_lora_rank > 0 ? buffer(sc.cq, T * cfg.q_lora_rank) : nullptr;  // c_q
  float* cqn = cq != nullptr && tape != nullptr ? buffer(cqn_local, T * cfg.q_lora_rank) : cq;
  float* crow = cache.rows.data() + p0 * row;
  float* kva = tape != nullptr ? buffer(kva_local, T * row) : crow;
  project(ctx, cfg, w, x, T, q, cq, cqn, kva, sc.jobs);
  // q_pe is the last R dims of each head.
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, q + Dn, T, H, H * Dqk, Dqk,
                      pos.data());
  if (tape != nullptr)
    record_rope(ctx, &rope, kernels::RopeLayout::Interleaved, q + Dn, T, H, H * Dqk, Dqk,
                pos.data());

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
    ap.T = Ts;
    for (int64_t i = 0; i < n_seq; ++i) {  // causal within each sequence's own rows
      const float* qi = q + i * Ts * H * Dqk;
      const float* ki = k + i * Ts * H * Dqk;
      const float* vi = v + i * Ts * H * Dv;
      float* oi = o_heads + i * Ts * H * Dv;
      kernels::attention(ap, qi, ki, vi, oi, ctx.pool);
      if (tape != nullptr) record_attention(ctx, ap, qi, ki, vi, oi);
    }
  } else {
    absorbed_attention(ctx, cfg, w, q, T, o_heads, sc, [&](const float* qa, float* o_lat) {
      ap.Hkv = 1;
      ap.Hd_k = row;
      ap.Hd_v = L;
      ap.k_pos_stride = row;
      ap.v_pos_stride = row;
      kernels::attention(ap, qa, cache.rows.data(), cache.rows.data(), o_lat, ctx.pool);
    });
  }
  w.o_proj.forward(ctx, o_heads, out, T);
}

void mla_decode_batch(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                      const kernels::RopeTable& rope, const float* x, int64_t B,
                      const int32_t* pos, MlaCache* const* caches, float* out,
                      MlaScratch& scratch) {
  R1_CHECK(ctx.tape == nullptr, "batched MLA decode is inference only");
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  R1_CHECK(rope.rot_dim == R, "rope table of {} dims for qk_rope_head_dim {}", rope.rot_dim, R);
  for (int64_t b = 0; b < B; ++b)
    R1_CHECK(caches[b]->row == row && pos[b] >= 0 && pos[b] < caches[b]->capacity,
             "MLA batch row {}: position {} in a cache of {} rows of {} floats (layer wants {})",
             b, pos[b], caches[b]->capacity, caches[b]->row, row);
  MlaScratch& sc = scratch;
  sc.q.resize(size_t(B * H * Dqk));
  sc.cq.resize(size_t(B * std::max<int64_t>(cfg.q_lora_rank, 0)));
  sc.kva.resize(size_t(B * row));
  sc.o_heads.resize(size_t(B * H * Dv));
  float* q = sc.q.data();
  float* cq = cfg.q_lora_rank > 0 ? sc.cq.data() : nullptr;
  float* kva = sc.kva.data();
  project(ctx, cfg, w, x, B, q, cq, cq, kva, sc.jobs);
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, q + Dn, B, H, H * Dqk, Dqk, pos);
  // Each row's latent goes to its own cache at its own position (as mla_forward's T == 1 step).
  for (int64_t b = 0; b < B; ++b) {
    float* crow = caches[b]->rows.data() + int64_t(pos[b]) * row;
    w.kv_a_layernorm.forward(ctx, kva + b * row, crow, 1);  // norm on c_kv [L] only
    std::memcpy(crow + L, kva + b * row + L, size_t(R) * sizeof(float));
    kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, crow + L, 1, 1, row, row,
                        pos + b);
  }
  absorbed_attention(ctx, cfg, w, q, B, sc.o_heads.data(), sc, [&](const float* qa,
                                                                     float* o_lat) {
    kernels::AttentionParams ap;
    ap.T = 1;
    ap.H = H;
    ap.scale = cfg.softmax_scale;
    ap.Hkv = 1;
    ap.Hd_k = row;
    ap.Hd_v = L;
    ap.k_pos_stride = row;
    ap.v_pos_stride = row;
    for (int64_t b = 0; b < B; ++b) {
      ap.p0 = pos[b];
      const float* rows = caches[b]->rows.data();
      kernels::attention(ap, qa + b * H * row, rows, rows, o_lat + b * H * L, ctx.pool);
    }
  });
  w.o_proj.forward(ctx, sc.o_heads.data(), out, B);
}

}  // namespace r1::nn

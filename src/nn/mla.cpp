// MLA forward: shared projection/cache code, then either the naive (decompressed) or the absorbed
// (latent-space) attention. Equations follow DeepSeek-V2 report §2.1.2-2.1.3 (eq. 9-19).
#include "nn/mla.h"

#include <cstring>
#include <functional>

#include "kernels/attention.h"
#include "kernels/ops.h"

namespace r1::nn {

Tensor weight_to_f32(const Tensor& w, const Tensor* scale_inv, int64_t block_n, int64_t block_k) {
  R1_CHECK(w.ndim() == 2, "weight_to_f32 wants a 2-d weight, got {}", w.shape_str());
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

void mla_forward(Context& ctx, const MlaConfig& cfg, const MlaWeights& w,
                 const kernels::RopeTable& rope, const float* x, int64_t T, int64_t p0,
                 MlaCache& cache, MlaPath path, float* out) {
  const int64_t H = cfg.n_head, L = cfg.kv_lora_rank, R = cfg.qk_rope_head_dim;
  const int64_t Dn = cfg.qk_nope_head_dim, Dv = cfg.v_head_dim, Dqk = cfg.qk_head_dim();
  const int64_t row = cfg.cache_row();
  R1_CHECK(cache.row == row, "MLA cache rows of {} floats, layer wants {}", cache.row, row);
  R1_CHECK(p0 >= 0 && p0 + T <= cache.capacity, "MLA positions {}..{} past cache capacity {}", p0,
           p0 + T - 1, cache.capacity);
  R1_CHECK(rope.rot_dim == R, "rope table of {} dims for qk_rope_head_dim {}", rope.rot_dim, R);
  const int64_t S = p0 + T;

  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(p0 + t);

  // Queries q [T, H, Dn + R] (eq. 12-13 / V3 eq. 6-8).
  std::vector<float> q(static_cast<size_t>(T * H * Dqk));
  if (cfg.q_lora_rank > 0) {
    std::vector<float> cq(static_cast<size_t>(T * cfg.q_lora_rank));  // c_q [T, q_lora_rank]
    w.q_a_proj.forward(ctx, x, cq.data(), T);
    w.q_a_layernorm.forward(ctx, cq.data(), cq.data(), T);
    w.q_b_proj.forward(ctx, cq.data(), q.data(), T);
  } else {
    w.q_proj.forward(ctx, x, q.data(), T);
  }
  // q_pe is the last R dims of each head.
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, q.data() + Dn, T, H, H * Dqk, Dqk,
                      pos.data());

  // Latent and shared rope key: kv_a [T, L + R] = [c_kv | k_pe] (eq. 9, 14), written straight
  // into the cache rows p0 .. p0+T-1 (the cache row layout is the projection's output layout).
  float* crow = cache.rows.data() + p0 * row;
  w.kv_a_proj_with_mqa.forward(ctx, x, crow, T);
  for (int64_t t = 0; t < T; ++t)
    w.kv_a_layernorm.forward(ctx, crow + t * row, crow + t * row, 1);  // norm on c_kv [L] only
  kernels::rope_apply(rope, kernels::RopeLayout::Interleaved, crow + L, T, 1, row, row, pos.data());

  kernels::AttentionParams ap;
  ap.T = T;
  ap.H = H;
  ap.p0 = p0;
  ap.scale = cfg.softmax_scale;
  std::vector<float> o_heads(static_cast<size_t>(T * H * Dv));  // [T, H, Dv] before o_proj

  if (path == MlaPath::Naive) {
    // Decompress every cached position: kv [S, H, Dn + Dv] = kv_b_proj(c_kv) (eq. 10-11).
    std::vector<float> c(static_cast<size_t>(S * L));
    for (int64_t s = 0; s < S; ++s)
      std::memcpy(c.data() + s * L, cache.rows.data() + s * row, size_t(L) * sizeof(float));
    std::vector<float> kv(static_cast<size_t>(S * H * (Dn + Dv)));
    w.kv_b_proj.forward(ctx, c.data(), kv.data(), S);
    // k [S, H, Dn + R] = [k_nope_h | k_pe] (eq. 17), v [S, H, Dv].
    std::vector<float> k(static_cast<size_t>(S * H * Dqk)), v(static_cast<size_t>(S * H * Dv));
    for (int64_t s = 0; s < S; ++s) {
      const float* kpe = cache.rows.data() + s * row + L;
      for (int64_t h = 0; h < H; ++h) {
        const float* src = kv.data() + (s * H + h) * (Dn + Dv);
        float* kd = k.data() + (s * H + h) * Dqk;
        std::memcpy(kd, src, size_t(Dn) * sizeof(float));
        std::memcpy(kd + Dn, kpe, size_t(R) * sizeof(float));
        std::memcpy(v.data() + (s * H + h) * Dv, src + Dn, size_t(Dv) * sizeof(float));
      }
    }
    ap.Hkv = H;
    ap.Hd_k = Dqk;
    ap.Hd_v = Dv;
    kernels::attention(ap, q.data(), k.data(), v.data(), o_heads.data(), ctx.pool);
  } else {
    R1_CHECK(w.kv_b_f32.defined() && w.kv_b_f32.numel() == H * (Dn + Dv) * L,
             "absorbed MLA needs kv_b_f32 [H*(Dn+Dv), L]");
    const float* wkv = w.kv_b_f32.data<float>();  // [H, Dn + Dv, L]
    // q_abs [T, H, L + R]: q_nope_h . W_UK_h (latent side) then q_pe; K and V rows are the cache
    // rows themselves (K = [c_kv | k_pe], V = c_kv), one shared KV head (V2 report §2.1.2 end).
    std::vector<float> qa(static_cast<size_t>(T * H * row));
    // Each (token, head) item costs Dn*L (resp. Dv*L) multiply-adds; below ~64K in all a pool
    // round-trip costs more than the work (tiny models, or an oversubscribed machine).
    auto for_items = [&](int64_t per_item, const std::function<void(int64_t, int64_t, int)>& fn) {
      if (T * H * per_item < (1 << 16)) {
        fn(0, T * H, 0);
      } else {
        ctx.pool.parallel_for(T * H, 1, fn);
      }
    };
    for_items(Dn * L, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t h = i % H;
        const float* qn = q.data() + i * Dqk;
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
    });
    std::vector<float> o_lat(static_cast<size_t>(T * H * L));  // [T, H, L]
    ap.Hkv = 1;
    ap.Hd_k = row;
    ap.Hd_v = L;
    ap.k_pos_stride = row;
    ap.v_pos_stride = row;
    kernels::attention(ap, qa.data(), cache.rows.data(), cache.rows.data(), o_lat.data(), ctx.pool);
    // o_h [Dv] = W_UV_h [Dv, L] . o_lat_h.
    for_items(Dv * L, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t h = i % H;
        const float* ol = o_lat.data() + i * L;
        const float* wuv = wkv + (h * (Dn + Dv) + Dn) * L;  // [Dv, L]
        float* dst = o_heads.data() + i * Dv;
        for (int64_t d = 0; d < Dv; ++d) {
          const float* wr = wuv + d * L;
          float acc = 0;
          for (int64_t l = 0; l < L; ++l) acc += wr[l] * ol[l];
          dst[d] = acc;
        }
      }
    });
  }
  w.o_proj.forward(ctx, o_heads.data(), out, T);
}

}  // namespace r1::nn

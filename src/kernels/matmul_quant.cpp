// Integer kernels of matmul_quant.h for Q4_1, Q5_0, Q5_1, IQ4_NL, the K-quants and IQ4_XS. Each
// weight block is unpacked once into small integers and integer scales (quant/kquants_unpack.h)
// and dotted with up to 4 activation rows; the inner loops are int8 x int8 -> int32 sums over 16
// or 32 elements. The file is compiled once per SIMD target (Highway foreach_target) so those
// loops are vectorised with AVX2 / AVX-512 / NEON where the CPU has them. Arithmetic per block
// follows ggml's vec_dot_*_q8_* (ggml-cpu/quants.c):
//  K-quants / IQ4_XS: dx * (dw * sum_s scale_s * sum(q * xq) - dmin * sum_s min_s * bsum_s)
//  Q5_0 / IQ4_NL:     (dw * dx) * sum(q * xq)
//  Q4_1 / Q5_1:       (dw * dx) * sum(q * xq) + m * s_x   (s_x = dx * sum(xq), the Q8_1 s)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_quant.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/matmul_quant.h"
#include "quant/blocks_k.h"
#include "quant/kquants.h"
#include "quant/kquants_unpack.h"
#include "quant/quantize.h"

HWY_BEFORE_NAMESPACE();
namespace r1::kernels::detail {
namespace HWY_NAMESPACE {

constexpr int kTokTile = 4;

template <int kSub>
HWY_INLINE int32_t SubDot(const int8_t* HWY_RESTRICT q, const int8_t* HWY_RESTRICT x) {
  int32_t s = 0;
  for (int i = 0; i < kSub; ++i) s += int32_t(q[i]) * int32_t(x[i]);
  return s;
}

template <DType kT>
void DotK(const uint8_t* w_row, int64_t K, const uint8_t* acts, size_t act_row_bytes, int TT,
          float* res) {
  constexpr int64_t kBytes = kT == DType::Q2_K   ? sizeof(BlockQ2_K)
                             : kT == DType::Q3_K ? sizeof(BlockQ3_K)
                             : kT == DType::Q4_K ? sizeof(BlockQ4_K)
                             : kT == DType::Q5_K ? sizeof(BlockQ5_K)
                             : kT == DType::Q6_K ? sizeof(BlockQ6_K)
                                                 : sizeof(BlockIQ4_XS);
  constexpr int kSub = (kT == DType::Q2_K || kT == DType::Q3_K || kT == DType::Q6_K) ? 16 : 32;
  constexpr bool kMin = kT == DType::Q2_K || kT == DType::Q4_K || kT == DType::Q5_K;
  for (int t = 0; t < TT; ++t) res[t] = 0;
  quant::UnpackedK u;
  for (int64_t b = 0; b < K / kQK_K; ++b) {
    quant::unpack::unpack_block_k<kT>(w_row + b * kBytes, u);
    for (int t = 0; t < TT; ++t) {
      const auto& y = reinterpret_cast<const BlockQ8_K*>(acts + size_t(t) * act_row_bytes)[b];
      int32_t sumi = 0;
      for (int s = 0; s < kQK_K / kSub; ++s)
        sumi += int32_t(u.scale[s]) * SubDot<kSub>(u.q + s * kSub, y.qs + s * kSub);
      float r = (y.d * u.d) * float(sumi);
      if constexpr (kMin) {
        int32_t summ = 0;
        for (int s = 0; s < kQK_K / kSub; ++s) {
          const int32_t bs = kSub == 16 ? y.bsums[s] : y.bsums[2 * s] + y.bsums[2 * s + 1];
          summ += int32_t(u.min[s]) * bs;
        }
        r -= (y.d * u.dmin) * float(summ);
      }
      res[t] += r;
    }
  }
}

template <DType kT>
void Dot32(const uint8_t* w_row, int64_t K, const uint8_t* acts, size_t act_row_bytes, int TT,
           float* res) {
  constexpr int64_t kBytes = kT == DType::Q4_1   ? sizeof(BlockQ4_1)
                             : kT == DType::Q5_0 ? sizeof(BlockQ5_0)
                             : kT == DType::Q5_1 ? sizeof(BlockQ5_1)
                                                 : sizeof(BlockIQ4_NL);
  constexpr bool kQ81 = kT == DType::Q4_1 || kT == DType::Q5_1;
  for (int t = 0; t < TT; ++t) res[t] = 0;
  quant::Unpacked32 u;
  for (int64_t b = 0; b < K / 32; ++b) {
    quant::unpack::unpack_block32<kT>(w_row + b * kBytes, u);
    for (int t = 0; t < TT; ++t) {
      const uint8_t* row = acts + size_t(t) * act_row_bytes;
      if constexpr (kQ81) {
        const auto& y = reinterpret_cast<const BlockQ8_1*>(row)[b];
        res[t] += (u.d * f16_to_f32(y.d)) * float(SubDot<32>(u.q, y.qs)) + u.m * f16_to_f32(y.s);
      } else {
        const auto& y = reinterpret_cast<const BlockQ8_0*>(row)[b];
        res[t] += (u.d * f16_to_f32(y.d)) * float(SubDot<32>(u.q, y.qs));
      }
    }
  }
}

template <class Dot>
void RowsWith(Dot dot, const WeightView& w, const BlockActs& acts, float* y, int64_t n0,
              int64_t n1) {
  float res[kTokTile];
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
    for (int64_t t0 = 0; t0 < acts.T; t0 += kTokTile) {
      const int tt = int(std::min<int64_t>(kTokTile, acts.T - t0));
      dot(row, w.k, acts.row(t0), acts.row_bytes, tt, res);
      for (int t = 0; t < tt; ++t) y[(t0 + t) * w.n + n] = res[t];
    }
  }
}

void RowsKQuant(const WeightView& w, const BlockActs& acts, float* y, int64_t n0, int64_t n1) {
  switch (w.dtype) {
    case DType::Q4_1: return RowsWith(Dot32<DType::Q4_1>, w, acts, y, n0, n1);
    case DType::Q5_0: return RowsWith(Dot32<DType::Q5_0>, w, acts, y, n0, n1);
    case DType::Q5_1: return RowsWith(Dot32<DType::Q5_1>, w, acts, y, n0, n1);
    case DType::IQ4_NL: return RowsWith(Dot32<DType::IQ4_NL>, w, acts, y, n0, n1);
    case DType::Q2_K: return RowsWith(DotK<DType::Q2_K>, w, acts, y, n0, n1);
    case DType::Q3_K: return RowsWith(DotK<DType::Q3_K>, w, acts, y, n0, n1);
    case DType::Q4_K: return RowsWith(DotK<DType::Q4_K>, w, acts, y, n0, n1);
    case DType::Q5_K: return RowsWith(DotK<DType::Q5_K>, w, acts, y, n0, n1);
    case DType::Q6_K: return RowsWith(DotK<DType::Q6_K>, w, acts, y, n0, n1);
    case DType::IQ4_XS: return RowsWith(DotK<DType::IQ4_XS>, w, acts, y, n0, n1);
    default: R1_CHECK(false, "matmul_rows_kquant: dtype {}", dtype_name(w.dtype));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace r1::kernels::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace r1::kernels::detail {

HWY_EXPORT(RowsKQuant);

void matmul_rows_kquant(const WeightView& w, const BlockActs& acts, float* y, int64_t n0,
                        int64_t n1) {
  HWY_DYNAMIC_DISPATCH(RowsKQuant)(w, acts, y, n0, n1);
}

namespace {

// The weight types matmul_quant computes with, each with its activation type (llama.cpp's
// vec_dot_type) and rows kernel.
constexpr QuantDot kQuantDots[] = {
    {DType::Q4_1, DType::Q8_1, matmul_rows_kquant},
    {DType::Q5_0, DType::Q8_0, matmul_rows_kquant},
    {DType::Q5_1, DType::Q8_1, matmul_rows_kquant},
    {DType::IQ4_NL, DType::Q8_0, matmul_rows_kquant},
    {DType::Q2_K, DType::Q8_K, matmul_rows_kquant},
    {DType::Q3_K, DType::Q8_K, matmul_rows_kquant},
    {DType::Q4_K, DType::Q8_K, matmul_rows_kquant},
    {DType::Q5_K, DType::Q8_K, matmul_rows_kquant},
    {DType::Q6_K, DType::Q8_K, matmul_rows_kquant},
    {DType::IQ4_XS, DType::Q8_K, matmul_rows_kquant},
};

int64_t row_grain(int64_t n, const ThreadPool& pool) {
  const int64_t per = (n + int64_t(pool.size()) * 8 - 1) / (int64_t(pool.size()) * 8);
  return std::max<int64_t>(1, per);
}

}  // namespace

void quantize_block_acts(DType act, const float* x, int64_t T, int64_t K, BlockActs& a,
                         ThreadPool& pool) {
  R1_CHECK(act == DType::Q8_0 || act == DType::Q8_1 || act == DType::Q8_K,
           "activation type {} (want Q8_0, Q8_1 or Q8_K)", dtype_name(act));
  R1_CHECK(is_whole_blocks(act, K), "{} activations need K % {} == 0, got K={}", dtype_name(act),
           dtype_traits(act).block_size, K);
  a.type = act;
  a.T = T;
  a.K = K;
  a.row_bytes = size_t(dtype_bytes(act, K));
  a.data.resize(a.row_bytes * size_t(T));
  pool.parallel_for(T, 4, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      uint8_t* dst = a.data.data() + size_t(t) * a.row_bytes;
      switch (act) {
        case DType::Q8_0: quant::quantize_row_q8_0(x + t * K, reinterpret_cast<BlockQ8_0*>(dst), K); break;
        case DType::Q8_1: quant::quantize_row_q8_1(x + t * K, reinterpret_cast<BlockQ8_1*>(dst), K); break;
        default: quant::quantize_row_q8_K(x + t * K, reinterpret_cast<BlockQ8_K*>(dst), K); break;
      }
    }
  });
}

const QuantDot* quant_dot(DType t) {
  for (const QuantDot& q : kQuantDots)
    if (q.weight == t) return &q;
  return nullptr;
}

void matmul_quant(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  const QuantDot* qd = quant_dot(w.dtype);
  R1_CHECK(qd != nullptr, "matmul: no integer kernel for {}", dtype_name(w.dtype));
  R1_CHECK(is_whole_blocks(w.dtype, w.k), "{} weight with K={} (not whole blocks of {})",
           dtype_name(w.dtype), w.k, dtype_traits(w.dtype).block_size);
  // Per calling thread, reused across calls (no allocation per token once grown); the workers
  // see the caller's buffer through this reference.
  thread_local BlockActs acts_buf;
  BlockActs& acts = acts_buf;
  quantize_block_acts(qd->act, x, T, w.k, acts, pool);
  pool.parallel_for(w.n, row_grain(w.n, pool), [&](int64_t b, int64_t e, int) {
    qd->rows(w, acts, y, b, e);
  });
}

}  // namespace r1::kernels::detail
#endif  // HWY_ONCE

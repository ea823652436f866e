// Portable SIMD matmul kernels (Highway, runtime dispatch over SSE4/AVX2/AVX-512/NEON): one
// weight row at a time against up to 4 tokens, so each weight row is loaded once per 4 tokens.
// Float weights (F32/BF16/F16/F8 via a converted row) use f32 FMA; Q8_0/Q4_0 weights take Q8_0
// activations and integer dot products (int8 -> int16 widening multiply-add into int32, as
// llama.cpp's generic path), one f32 scale multiply per 32-element block.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "kernels/matmul_detail.h"
#include "quant/blocks.h"

HWY_BEFORE_NAMESPACE();
namespace r1::kernels::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kTokTile = 4;

// IEEE f16 -> f32 for block scales, inlined (the per-block call of r1::f16_to_f32 costs more than
// the block's arithmetic). Exact for normals and subnormals: the 10+5 bits move into f32
// position and a multiply by 2^112 rebiases the exponent; inf/NaN take the slow path.
HWY_INLINE float F16Scale(uint16_t h) {
  if (HWY_UNLIKELY((h & 0x7C00u) == 0x7C00u)) return f16_to_f32(h);
  const uint32_t bits = uint32_t(h & 0x7FFFu) << 13;
  float f;
  std::memcpy(&f, &bits, 4);
  f *= 0x1p112f;
  return (h & 0x8000u) ? -f : f;
}

// Dot products of one float-like weight row w[K] with TT token rows x[t*K ..]. `load` returns a
// vector of f32 weights at element i; `scalar` one weight (tails).
template <int TT, class Load, class Scalar>
HWY_INLINE void FloatRowTile(const uint8_t* w, const float* x, int64_t K, float* res, Load load,
                             Scalar scalar) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  // Two accumulator sets hide the FMA latency (one chain per token would cap decode at
  // one vector per 4 cycles).
  hn::Vec<decltype(df)> acc0[TT], acc1[TT];
  for (int t = 0; t < TT; ++t) acc0[t] = acc1[t] = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= K; i += 2 * N) {
    const auto w0 = load(df, w, i), w1 = load(df, w, i + N);
    for (int t = 0; t < TT; ++t) {
      acc0[t] = hn::MulAdd(w0, hn::LoadU(df, x + t * K + i), acc0[t]);
      acc1[t] = hn::MulAdd(w1, hn::LoadU(df, x + t * K + i + N), acc1[t]);
    }
  }
  for (; i + N <= K; i += N) {
    const auto wv = load(df, w, i);
    for (int t = 0; t < TT; ++t) acc0[t] = hn::MulAdd(wv, hn::LoadU(df, x + t * K + i), acc0[t]);
  }
  for (int t = 0; t < TT; ++t) res[t] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0[t], acc1[t])));
  for (; i < K; ++i) {
    const float wi = scalar(w, i);
    for (int t = 0; t < TT; ++t) res[t] += wi * x[t * K + i];
  }
}

template <int TT>
HWY_INLINE void FloatRow(DType dt, const uint8_t* w, const float* x, int64_t K, float* res) {
  switch (dt) {
    case DType::F32:
      FloatRowTile<TT>(
          w, x, K, res,
          [](auto df, const uint8_t* p, int64_t i) {
            return hn::LoadU(df, reinterpret_cast<const float*>(p) + i);
          },
          [](const uint8_t* p, int64_t i) { return reinterpret_cast<const float*>(p)[i]; });
      return;
    case DType::BF16:
      FloatRowTile<TT>(
          w, x, K, res,
          [](auto df, const uint8_t* p, int64_t i) {
            const hn::Rebind<hwy::bfloat16_t, decltype(df)> dbf;
            return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(p) + i));
          },
          [](const uint8_t* p, int64_t i) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            return bf16_to_f32(h);
          });
      return;
    case DType::F16:
      FloatRowTile<TT>(
          w, x, K, res,
          [](auto df, const uint8_t* p, int64_t i) {
            const hn::Rebind<hwy::float16_t, decltype(df)> dh;
            return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p) + i));
          },
          [](const uint8_t* p, int64_t i) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            return f16_to_f32(h);
          });
      return;
    default:
      R1_CHECK(false, "FloatRow: dtype {}", dtype_name(dt));
  }
}

// Q8_0 weight row (nb blocks) . TT Q8_0 activation rows -> res[TT].
template <int TT>
HWY_INLINE void Q8RowTile(const BlockQ8_0* wb, int64_t nb, const QuantizedActs& a, int64_t t0,
                          float* res) {
  const hn::CappedTag<int16_t, 32> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<float, decltype(d32)> df;
  const int64_t N16 = int64_t(hn::Lanes(d16)), nbp = a.kp / 32;
  hn::Vec<decltype(df)> acc[TT];
  for (int t = 0; t < TT; ++t) acc[t] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    const float dw = F16Scale(wb[b].d);
    hn::Vec<decltype(d32)> s0[TT], s1[TT];
    for (int t = 0; t < TT; ++t) s0[t] = s1[t] = hn::Zero(d32);
    for (int64_t j = 0; j < 32; j += N16) {
      const auto wv = hn::PromoteTo(d16, hn::LoadU(d8, wb[b].qs + j));
      for (int t = 0; t < TT; ++t) {
        const int8_t* xq = a.qs.data() + (t0 + t) * a.kp + b * 32 + j;
        const auto xv = hn::PromoteTo(d16, hn::LoadU(d8, xq));
        s0[t] = hn::ReorderWidenMulAccumulate(d32, wv, xv, s0[t], s1[t]);
      }
    }
    for (int t = 0; t < TT; ++t) {
      const auto isum = hn::RearrangeToOddPlusEven(s0[t], s1[t]);
      acc[t] = hn::MulAdd(hn::ConvertTo(df, isum), hn::Set(df, dw * a.d[size_t((t0 + t) * nbp + b)]),
                          acc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) res[t] = hn::GetLane(hn::SumOfLanes(df, acc[t]));
}

// Q4_0 weight row . TT Q8_0 activation rows. Byte j of a block holds element j (low nibble)
// and element j + 16 (high nibble); values are nibble - 8.
template <int TT>
HWY_INLINE void Q4RowTile(const BlockQ4_0* wb, int64_t nb, const QuantizedActs& a, int64_t t0,
                          float* res) {
  const hn::CappedTag<int16_t, 16> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<float, decltype(d32)> df;
  const int64_t N16 = int64_t(hn::Lanes(d16)), nbp = a.kp / 32;
  const auto mask = hn::Set(du8, uint8_t(0x0F));
  const auto eight = hn::Set(d8, int8_t(8));
  hn::Vec<decltype(df)> acc[TT];
  for (int t = 0; t < TT; ++t) acc[t] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    const float dw = F16Scale(wb[b].d);
    hn::Vec<decltype(d32)> s0[TT], s1[TT];
    for (int t = 0; t < TT; ++t) s0[t] = s1[t] = hn::Zero(d32);
    for (int64_t j = 0; j < 16; j += N16) {
      const auto raw = hn::LoadU(du8, wb[b].qs + j);
      const auto lo = hn::PromoteTo(d16, hn::Sub(hn::BitCast(d8, hn::And(raw, mask)), eight));
      const auto hi = hn::PromoteTo(d16, hn::Sub(hn::BitCast(d8, hn::ShiftRight<4>(raw)), eight));
      for (int t = 0; t < TT; ++t) {
        const int8_t* xq = a.qs.data() + (t0 + t) * a.kp + b * 32 + j;
        s0[t] = hn::ReorderWidenMulAccumulate(d32, lo, hn::PromoteTo(d16, hn::LoadU(d8, xq)),
                                              s0[t], s1[t]);
        s0[t] = hn::ReorderWidenMulAccumulate(d32, hi, hn::PromoteTo(d16, hn::LoadU(d8, xq + 16)),
                                              s0[t], s1[t]);
      }
    }
    for (int t = 0; t < TT; ++t) {
      const auto isum = hn::RearrangeToOddPlusEven(s0[t], s1[t]);
      acc[t] = hn::MulAdd(hn::ConvertTo(df, isum), hn::Set(df, dw * a.d[size_t((t0 + t) * nbp + b)]),
                          acc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) res[t] = hn::GetLane(hn::SumOfLanes(df, acc[t]));
}

template <int TT>
HWY_INLINE void RowTile(const WeightView& w, int64_t n, const float* x, const QuantizedActs* qa,
                        int64_t t0, std::vector<float>& scratch, float* res) {
  const uint8_t* row = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
  switch (w.dtype) {
    case DType::Q8_0:
      Q8RowTile<TT>(reinterpret_cast<const BlockQ8_0*>(row), w.k / 32, *qa, t0, res);
      return;
    case DType::Q4_0:
      Q4RowTile<TT>(reinterpret_cast<const BlockQ4_0*>(row), w.k / 32, *qa, t0, res);
      return;
    case DType::F8_E4M3: {
      // Dequantise the row once (table + block scale), then an f32 dot per token.
      scratch.resize(size_t(w.k));
      const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
      const float* srow = w.scale_inv + (n / w.block_n) * kb;
      convert_row_to_f32(DType::F8_E4M3, row, scratch.data(), w.k);
      for (int64_t i = 0; i < w.k; ++i) scratch[size_t(i)] *= srow[i / w.block_k];
      FloatRow<TT>(DType::F32, reinterpret_cast<const uint8_t*>(scratch.data()),
                   x + t0 * w.k, w.k, res);
      return;
    }
    default:
      FloatRow<TT>(w.dtype, row, x + t0 * w.k, w.k, res);
  }
}

void RowsGeneric(const WeightView& w, const float* x, const QuantizedActs* qa, float* y, int64_t T,
                 int64_t n0, int64_t n1) {
  thread_local std::vector<float> scratch;
  float res[kTokTile];
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t t0 = 0; t0 < T; t0 += kTokTile) {
      const int64_t tt = std::min<int64_t>(kTokTile, T - t0);
      switch (tt) {
        case 4: RowTile<4>(w, n, x, qa, t0, scratch, res); break;
        case 3: RowTile<3>(w, n, x, qa, t0, scratch, res); break;
        case 2: RowTile<2>(w, n, x, qa, t0, scratch, res); break;
        default: RowTile<1>(w, n, x, qa, t0, scratch, res); break;
      }
      for (int64_t t = 0; t < tt; ++t) y[(t0 + t) * w.n + n] = res[t];
    }
  }
}

// Q8_0 quantisation of one activation row, bit-identical to quant::quantize_row_q8_0:
// d = max|x| / 127 (f32), q = rint(x * (127 / max|x|)); the stored scale is d rounded to f16.
void QuantizeRowQ8Acts(const float* x, int64_t K, int8_t* qs, float* d, int32_t* sums) {
  const hn::CappedTag<float, 32> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = int64_t(hn::Lanes(df));
  const hn::CappedTag<float, 1> d1;
  const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
  HWY_ALIGN int32_t tmp[32];
  for (int64_t b = 0; b < K / 32; ++b) {
    const float* xb = x + b * 32;
    auto vmax = hn::Zero(df);
    for (int64_t j = 0; j < 32; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, xb + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    const float dd = amax / 127.0f;
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    // The stored scale is f16 (as in a Q8_0 block). On AVX2+ (F16C) a 1-lane vector conversion
    // rounds to nearest even and is much cheaper than the scalar bit-twiddling per block;
    // Highway's emulation on older targets truncates, so they take the scalar path.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    d[b] = hn::GetLane(hn::PromoteTo(d1, hn::DemoteTo(dh1, hn::Set(d1, dd))));
#else
    (void)d1;
    (void)dh1;
    d[b] = f16_to_f32(f32_to_f16(dd));
#endif
    const auto vid = hn::Set(df, id);
    for (int64_t j = 0; j < 32; j += N)
      hn::StoreU(hn::NearestInt(hn::Mul(hn::LoadU(df, xb + j), vid)), di, tmp + j);
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      qs[b * 32 + j] = int8_t(tmp[j]);
      s += tmp[j];
    }
    sums[b] = s;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace r1::kernels::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace r1::kernels::detail {

HWY_EXPORT(RowsGeneric);
HWY_EXPORT(QuantizeRowQ8Acts);

void matmul_rows_generic(const WeightView& w, const float* x, const QuantizedActs* qa, float* y,
                         int64_t T, int64_t n0, int64_t n1) {
  HWY_DYNAMIC_DISPATCH(RowsGeneric)(w, x, qa, y, T, n0, n1);
}

void quantize_row_q8_acts(const float* x, int64_t K, int8_t* qs, float* d, int32_t* sums) {
  HWY_DYNAMIC_DISPATCH(QuantizeRowQ8Acts)(x, K, qs, d, sums);
}

}  // namespace r1::kernels::detail
#endif  // HWY_ONCE

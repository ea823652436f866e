// AVX512-VNNI kernels for Q8_0 / Q4_0 weights against Q8_0 activations: the one intrinsic path,
// isolated here because Highway 1.0.3 has no int8 dot-product op (its ReorderWidenMulAccumulate
// is int16 only). Compiled with a target attribute and used only when the CPU reports
// AVX512F/BW/VL + AVX512-VNNI at run time; everything else falls back to matmul_hwy.cpp.
//
// Two 32-element blocks fill one 512-bit register. vpdpbusd multiplies unsigned by signed bytes,
// so the weights are made the unsigned operand and the Q8_0 activations x the signed one:
//  - Q8_0 weights w (signed): u = w ^ 0x80 = w + 128, and sum(u * x) = sum(w * x) + 128 * sum(x);
//  - Q4_0 weights (nibbles n in 0..15, value n - 8): sum(n * x) = sum((n - 8) * x) + 8 * sum(x).
// The correction -128 * sum(x) or -8 * sum(x) depends on the activations only; it is precomputed
// per block (QuantizedActs::q8init / q4init, in lane 0 of the block's 8 lanes) and is the start
// value of the accumulator, so each (row, token, 2 blocks) costs one vpdpbusd.
// A tile of R weight rows x TT tokens shares each weight load across TT tokens (prefill is
// matrix-matrix) and each activation load across R rows.
#include <cstring>

#include "core/check.h"
#include "kernels/matmul_detail.h"
#include "quant/blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* placeholders inside inlined AVX-512 intrinsics as
// uninitialised (a false positive; GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define R1_VNNI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#define R1_VNNI_INLINE R1_VNNI_TARGET inline __attribute__((always_inline))

namespace r1::kernels::detail {

bool vnni_available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

// f16 scales of blocks A and B -> [dA x 8, dB x 8] as f32.
R1_VNNI_INLINE __m512 scale_pair(const uint8_t* a, const uint8_t* b) {
  uint16_t ha, hb;
  std::memcpy(&ha, a, 2);
  std::memcpy(&hb, b, 2);
  const __m256i h = _mm256_mask_blend_epi16(__mmask16(0xFF00), _mm256_set1_epi16(short(ha)),
                                            _mm256_set1_epi16(short(hb)));
  return _mm512_cvtph_ps(h);
}

template <bool kQ4>
R1_VNNI_INLINE __m512i load_weights(const uint8_t* a, const uint8_t* b) {
  if constexpr (!kQ4) {
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 2));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(qa), qb, 1),
                            _mm512_set1_epi8(char(0x80)));
  } else {
    const __m128i qa = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 2));
    const __m128i qb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(qa), qb, 1);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(q, m4);                         // [A 0..15 | B 0..15]
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);  // [A 16..31 | B 16..31]
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));  // [A lo, A hi, B lo, B hi]
  }
}

// One step of a tile: blocks b and b+1 (at pa[r], pb[r]) of R rows against TT tokens.
template <bool kQ4, int R, int TT>
R1_VNNI_INLINE void tile_step(__m512 (&acc)[R][TT], const uint8_t* const* pa,
                              const uint8_t* const* pb, const QuantizedActs& a, int64_t t0,
                              int64_t b, int64_t nbp) {
  __m512i w[R];
  __m512 dw[R];
  for (int r = 0; r < R; ++r) {
    w[r] = load_weights<kQ4>(pa[r], pb[r]);
    dw[r] = scale_pair(pa[r], pb[r]);
  }
  for (int t = 0; t < TT; ++t) {
    const int64_t tok = t0 + t;
    const __m512 dx = _mm512_loadu_ps(a.dexp.data() + (tok * nbp + b) * 8);
    const __m512i xs = _mm512_loadu_si512(a.qs.data() + tok * a.kp + b * 32);
    const int32_t* init = (kQ4 ? a.q4init : a.q8init).data() + (tok * nbp + b) * 8;
    const __m512i i0 = _mm512_loadu_si512(init);
    for (int r = 0; r < R; ++r) {
      const __m512i dot = _mm512_dpbusd_epi32(i0, w[r], xs);
      acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][t]);
    }
  }
}

template <bool kQ4, int R, int TT>
R1_VNNI_TARGET void tile(const uint8_t* const* rows, int64_t nb, const QuantizedActs& a,
                         int64_t t0, float* out) {
  constexpr int64_t kBS = kQ4 ? int64_t(sizeof(BlockQ4_0)) : int64_t(sizeof(BlockQ8_0));
  const int64_t nbp = a.kp / 32;
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  const uint8_t* pa[R];
  const uint8_t* pb[R];
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    for (int r = 0; r < R; ++r) {
      pa[r] = rows[r] + b * kBS;
      pb[r] = pa[r] + kBS;
    }
    tile_step<kQ4, R, TT>(acc, pa, pb, a, t0, b, nbp);
  }
  if (b < nb) {  // an odd last block: pair it with a zero block (scale 0), never read past the row
    alignas(64) uint8_t pad[R][2 * kBS];
    for (int r = 0; r < R; ++r) {
      std::memcpy(pad[r], rows[r] + b * kBS, kBS);
      std::memset(pad[r] + kBS, 0, kBS);
      pa[r] = pad[r];
      pb[r] = pad[r] + kBS;
    }
    tile_step<kQ4, R, TT>(acc, pa, pb, a, t0, b, nbp);
  }
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) out[t * R + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <bool kQ4, int R>
void row_tile(const uint8_t* const* rows, int64_t nb, const QuantizedActs& a, int64_t t0,
              int64_t tt, float* out) {
  switch (tt) {
    case 4: tile<kQ4, R, 4>(rows, nb, a, t0, out); break;
    case 3: tile<kQ4, R, 3>(rows, nb, a, t0, out); break;
    case 2: tile<kQ4, R, 2>(rows, nb, a, t0, out); break;
    default: tile<kQ4, R, 1>(rows, nb, a, t0, out); break;
  }
}

template <bool kQ4>
void rows_vnni(const WeightView& w, const QuantizedActs& a, float* y, int64_t t0, int64_t t1,
               int64_t n0, int64_t n1) {
  constexpr int kR = 4, kTT = 4;
  const int64_t nb = w.k / 32;
  const auto* base = static_cast<const uint8_t*>(w.data);
  float out[kR * kTT];
  for (int64_t n = n0; n < n1; n += kR) {
    const int64_t r = std::min<int64_t>(kR, n1 - n);
    const uint8_t* rows[kR];
    for (int64_t i = 0; i < r; ++i) rows[i] = base + size_t(n + i) * w.row_bytes;
    for (int64_t t = t0; t < t1; t += kTT) {
      const int64_t tt = std::min<int64_t>(kTT, t1 - t);
      if (r == kR) {
        row_tile<kQ4, kR>(rows, nb, a, t, tt, out);
        for (int64_t j = 0; j < tt; ++j)
          for (int64_t i = 0; i < kR; ++i) y[(t + j) * w.n + n + i] = out[j * kR + i];
      } else {
        for (int64_t i = 0; i < r; ++i) {
          row_tile<kQ4, 1>(rows + i, nb, a, t, tt, out);
          for (int64_t j = 0; j < tt; ++j) y[(t + j) * w.n + n + i] = out[j];
        }
      }
    }
  }
}

}  // namespace

void matmul_rows_vnni(const WeightView& w, const QuantizedActs& qa, float* y, int64_t t0,
                      int64_t t1, int64_t n0, int64_t n1) {
  R1_CHECK(qa.K == w.k && t1 <= qa.T, "VNNI matmul: activations [{}, {}] for weight K={}", qa.T,
           qa.K, w.k);
  if (w.dtype == DType::Q8_0)
    rows_vnni<false>(w, qa, y, t0, t1, n0, n1);
  else if (w.dtype == DType::Q4_0)
    rows_vnni<true>(w, qa, y, t0, t1, n0, n1);
  else
    R1_CHECK(false, "VNNI matmul: dtype {}", dtype_name(w.dtype));
}

}  // namespace r1::kernels::detail

#else  // not x86-64: no VNNI path

namespace r1::kernels::detail {
bool vnni_available() { return false; }
void matmul_rows_vnni(const WeightView&, const QuantizedActs&, float*, int64_t, int64_t, int64_t,
                      int64_t) {
  R1_CHECK(false, "the AVX512-VNNI path exists only on x86-64");
}
}  // namespace r1::kernels::detail

#endif

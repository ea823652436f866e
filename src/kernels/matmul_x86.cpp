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
// Decode (1..3 tokens) takes separate 256-bit tiles (decode_tile below) with less work per block.
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
// The decode tiles also permute bytes across registers (AVX512-VBMI: Ice Lake, Zen4 and later).
#define R1_DECODE_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,f16c,fma")))
#define R1_DECODE_INLINE R1_DECODE_TARGET inline __attribute__((always_inline))

namespace r1::kernels::detail {

bool vnni_available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

// Weight rows per decode tile for one token (activation loads are shared across them). Measured
// on Zen4: 8 rows help Q4_0 a little; Q8_0 streams slower from DRAM with 8 rows than with 4.
template <bool kQ4>
constexpr int kDecodeRows1 = kQ4 ? 8 : 4;
// Up to this many tokens the decode tiles run; more take the 512-bit prefill tiles.
constexpr int64_t kDecodeMaxTokens = 3;

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

// The f16 scales of 8 consecutive blocks at p (a row's block b) as f32, by byte permutes of
// the block bytes (a gather is far slower on Zen4). Reads only inside the 8 blocks.
template <bool kQ4>
R1_DECODE_INLINE __m256 scales8(const uint8_t* p) {
  if constexpr (kQ4) {  // 18-byte blocks: scales at 0, 18, .., 126 < 128 = two registers
    const __m512i idx = _mm512_set_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 126, 109, 108, 91, 90, 73, 72, 55, 54,
        37, 36, 19, 18, 1, 0);
    const __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi8(z0, idx, z1)));
  } else {  // 34-byte blocks: scales at 0, 34, 68, 102 and 136 + (0, 34, 68, 102) = 128 + 8 ..
    const __m512i idx = _mm512_set_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 111, 110, 77, 76, 43, 42, 9, 8, 103, 102,
        69, 68, 35, 34, 1, 0);
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(p), idx,
                                                _mm512_loadu_si512(p + 64));
    const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(p + 128), idx,
                                                _mm512_loadu_si512(p + 192));
    return _mm256_cvtph_ps(_mm_blend_epi16(_mm512_castsi512_si128(lo), _mm512_castsi512_si128(hi),
                                           0xF0));
  }
}

// ---- Decode tiles (1..3 tokens): 256-bit registers, one block per register ----
// Decode is bound by the work per weight block, so this path trims it to one load, one
// and/xor, one vpdpbusd, one convert and one FMA per (row, block, token):
//  - Q4_0: the 16 nibble bytes are broadcast to both 128-bit halves and ANDed with
//    [0x0F x 16 | 0xF0 x 16]: the low half holds elements 0..15 (low nibbles), the high half
//    elements 16..31 as 16 * n (high nibbles, unshifted). That matches the natural order of the
//    Q8_0 activations, so no shuffle is needed; lanes 4..7 of every accumulator are 16 times too
//    large, which one exact multiply by 1/16 undoes at the end.
//  - Q8_0: u = w ^ 0x80 as in the 512-bit tiles.
//  - Scales: for 8 blocks at a time one gather fetches the 8 f16 weight scales of a row
//    (4 bytes at each block start, inside the block), one convert + one multiply with the 8
//    activation scales gives dw * dx, stored to a small array; each block then broadcasts its
//    factor from memory (a load, no ALU work).
//  - The unsigned-offset correction (-8 or -128 * sum(x) per block) is a float dot of the
//    weight scales with QuantizedActs::xsd (dx * sum(q)), one FMA per 8 blocks.
template <bool kQ4, int R, int TT>
R1_DECODE_TARGET void decode_tile(const uint8_t* const* rows, int64_t nb, const QuantizedActs& a,
                                int64_t t0, float* out) {
  constexpr int kBS = kQ4 ? int(sizeof(BlockQ4_0)) : int(sizeof(BlockQ8_0));
  constexpr float kCorr = kQ4 ? -8.0f : -128.0f;
  const int64_t nbp = a.kp / 32;
  const __m256i wmask =
      kQ4 ? _mm256_setr_epi64x(0x0F0F0F0F0F0F0F0FLL, 0x0F0F0F0F0F0F0F0FLL,
                               int64_t(0xF0F0F0F0F0F0F0F0ULL), int64_t(0xF0F0F0F0F0F0F0F0ULL))
          : _mm256_set1_epi8(char(0x80));
  __m256 acc[R][TT], corr[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = corr[r][t] = _mm256_setzero_ps();
  const int8_t* xq[TT];
  const float* xd[TT];
  const float* xsd[TT];
  for (int t = 0; t < TT; ++t) {
    xq[t] = a.qs.data() + (t0 + t) * a.kp;
    xd[t] = a.d.data() + (t0 + t) * nbp;
    xsd[t] = a.xsd.data() + (t0 + t) * nbp;
  }
  alignas(32) float s[R][TT][8];
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    for (int r = 0; r < R; ++r) {
      const __m256 dw = scales8<kQ4>(rows[r] + b * kBS);
      for (int t = 0; t < TT; ++t) {
        _mm256_store_ps(s[r][t], _mm256_mul_ps(dw, _mm256_loadu_ps(xd[t] + b)));
        corr[r][t] = _mm256_fmadd_ps(dw, _mm256_loadu_ps(xsd[t] + b), corr[r][t]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m256i xs[TT];
      for (int t = 0; t < TT; ++t)
        xs[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t] + (b + j) * 32));
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = rows[r] + (b + j) * kBS + 2;
        __m256i w;
        if constexpr (kQ4)
          w = _mm256_and_si256(
              _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
              wmask);
        else
          w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), wmask);
        for (int t = 0; t < TT; ++t) {
          const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xs[t]);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_broadcast_ss(&s[r][t][j]),
                                      acc[r][t]);
        }
      }
    }
  }
  for (; b < nb; ++b) {  // blocks past the last group of 8: the scale from a scalar load
    __m256i xs[TT];
    for (int t = 0; t < TT; ++t)
      xs[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t] + b * 32));
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = rows[r] + b * kBS;
      uint16_t h;
      std::memcpy(&h, blk, 2);
      const float dw = _cvtsh_ss(h);
      __m256i w;
      if constexpr (kQ4)
        w = _mm256_and_si256(_mm256_broadcastsi128_si256(
                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2))),
                             wmask);
      else
        w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)),
                             wmask);
      for (int t = 0; t < TT; ++t) {
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xs[t]);
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dw * xd[t][b]),
                                    acc[r][t]);
        // Spread over the 8 lanes (x 1/8, exact) so the final lane sum adds it once.
        corr[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw), _mm256_set1_ps(0.125f * xsd[t][b]),
                                     corr[r][t]);
      }
    }
  }
  const __m256 lane_scale = kQ4 ? _mm256_setr_ps(1, 1, 1, 1, 0.0625f, 0.0625f, 0.0625f, 0.0625f)
                                : _mm256_set1_ps(1.0f);
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) {
      const __m256 v =
          _mm256_fmadd_ps(corr[r][t], _mm256_set1_ps(kCorr), _mm256_mul_ps(acc[r][t], lane_scale));
      const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
      out[t * R + r] = _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
    }
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

// Decode (t1 - t0 <= kDecodeMaxTokens): R-row tiles of decode_tile, single rows at the end.
template <bool kQ4, int TT>
void rows_decode_tt(const WeightView& w, const QuantizedActs& a, float* y, int64_t t0,
                    int64_t n0, int64_t n1) {
  constexpr int kR = TT == 1 ? kDecodeRows1<kQ4> : 4;
  const int64_t nb = w.k / 32;
  const auto* base = static_cast<const uint8_t*>(w.data);
  float out[kR * TT];
  const uint8_t* rows[kR];
  int64_t n = n0;
  for (; n + kR <= n1; n += kR) {
    for (int i = 0; i < kR; ++i) rows[i] = base + size_t(n + i) * w.row_bytes;
    decode_tile<kQ4, kR, TT>(rows, nb, a, t0, out);
    for (int j = 0; j < TT; ++j)
      for (int i = 0; i < kR; ++i) y[(t0 + j) * w.n + n + i] = out[j * kR + i];
  }
  if constexpr (kR > 4) {
    for (; n + 4 <= n1; n += 4) {
      for (int i = 0; i < 4; ++i) rows[i] = base + size_t(n + i) * w.row_bytes;
      decode_tile<kQ4, 4, TT>(rows, nb, a, t0, out);
      for (int j = 0; j < TT; ++j)
        for (int i = 0; i < 4; ++i) y[(t0 + j) * w.n + n + i] = out[j * 4 + i];
    }
  }
  for (; n < n1; ++n) {
    rows[0] = base + size_t(n) * w.row_bytes;
    decode_tile<kQ4, 1, TT>(rows, nb, a, t0, out);
    for (int j = 0; j < TT; ++j) y[(t0 + j) * w.n + n] = out[j];
  }
}

template <bool kQ4>
void rows_decode(const WeightView& w, const QuantizedActs& a, float* y, int64_t t0, int64_t t1,
                 int64_t n0, int64_t n1) {
  switch (t1 - t0) {
    case 3: rows_decode_tt<kQ4, 3>(w, a, y, t0, n0, n1); break;
    case 2: rows_decode_tt<kQ4, 2>(w, a, y, t0, n0, n1); break;
    default: rows_decode_tt<kQ4, 1>(w, a, y, t0, n0, n1); break;
  }
}

template <bool kQ4>
void rows_vnni(const WeightView& w, const QuantizedActs& a, float* y, int64_t t0, int64_t t1,
               int64_t n0, int64_t n1) {
  constexpr int kR = 4, kTT = 4;
  const int64_t nb = w.k / 32;
  const auto* base = static_cast<const uint8_t*>(w.data);
  float out[kR * kTT];
  static const bool vbmi = __builtin_cpu_supports("avx512vbmi");
  if (t1 - t0 <= kDecodeMaxTokens && vbmi) {
    rows_decode<kQ4>(w, a, y, t0, t1, n0, n1);
    return;
  }
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

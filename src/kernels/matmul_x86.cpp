// AVX512-VNNI kernels for Q8_0 / Q4_0 weights against Q8_0 activations: the one intrinsic path,
// isolated here because Highway 1.0.3 has no int8 dot-product op (its ReorderWidenMulAccumulate
// is int16 only). Compiled with a target attribute and used only when the CPU reports
// AVX512F/BW/VL + AVX512-VNNI at run time; everything else falls back to matmul_hwy.cpp.
//
// vpdpbusd multiplies unsigned by signed bytes, so the weights are made the unsigned operand and
// the Q8_0 activations x the signed one:
//  - Q8_0 weights w (signed): u = w ^ 0x80 = w + 128, and sum(u * x) = sum(w * x) + 128 * sum(x);
//  - Q4_0 weights (nibbles n in 0..15, value n - 8): sum(n * x) = sum((n - 8) * x) + 8 * sum(x).
// The correction -128 * sum(x) or -8 * sum(x) depends on the activations only.
// Prefill (4+ tokens) takes 512-bit tiles of 16 row-interleaved weight rows (il_tile below; the
// correction, QuantizedActs::q8off / q4off, is the start value of each block's integer dot);
// decode (1..3 tokens) takes 256-bit tiles (decode_tile) with less work per block.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

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
// Software prefetch distance of the decode tiles, in bytes ahead of each row's current group of
// 8 blocks (env R1_DECODE_PREFETCH overrides it; 0 turns it off). Every row of a tile is its own
// stream (8 per core for Q4_0), and the hardware prefetchers alone fall behind. Same-binary A/B on
// Zen4 (batches of 4-6 alternating runs) of 0, 128, 256, 288, 512, 1024 and 4096 bytes: 256 was
// best for Q4_0 and 512 for Q8_0 (about 15 blocks); with this tile, 1.5B decode gained 6% (Q4_0)
// and 18% (Q8_0), DeepSeek-V2-Lite Q4_0 neither gained nor lost.
template <bool kQ4>
inline int64_t decode_prefetch_bytes() {
  static const int64_t bytes = [] {
    const char* e = std::getenv("R1_DECODE_PREFETCH");
    return e ? std::max<int64_t>(0, std::atoll(e)) : int64_t(kQ4 ? 256 : 512);
  }();
  return bytes;
}

// Up to this many tokens the decode tiles run; more take the 512-bit prefill tiles.
constexpr int64_t kDecodeMaxTokens = 3;

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
//  - Scales: for 8 blocks at a time byte permutes (scales8) fetch the 8 f16 weight scales of a
//    row, one convert + one multiply with the 8 activation scales gives dw * dx in a register;
//    each block takes its lane with one permute. An earlier version stored the products to a
//    stack array and broadcast them back: depending on where the stack and the activations
//    fell modulo 4 KiB (the binary's layout, even its file name via argv), decode of the same
//    code ran at 24 or 42 tok/s (1.5B Q4_0). With several tokens (TT > 1) there are not enough
//    registers, so that path still goes through the array.
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
  __m256 sc[R][TT];
  int64_t b = 0;
  const int64_t pf_dist = decode_prefetch_bytes<kQ4>();
  for (; b + 8 <= nb; b += 8) {
    for (int r = 0; r < R; ++r) {
      if (pf_dist > 0) {  // 3 (Q4_0) or 4 (Q8_0) lines per group of 8 blocks, as measured
        const char* pf = reinterpret_cast<const char*>(rows[r] + b * kBS) + pf_dist;
        _mm_prefetch(pf, _MM_HINT_T0);
        _mm_prefetch(pf + 64, _MM_HINT_T0);
        _mm_prefetch(pf + 128, _MM_HINT_T0);
        if constexpr (!kQ4) _mm_prefetch(pf + 192, _MM_HINT_T0);
      }
      const __m256 dw = scales8<kQ4>(rows[r] + b * kBS);
      for (int t = 0; t < TT; ++t) {
        sc[r][t] = _mm256_mul_ps(dw, _mm256_loadu_ps(xd[t] + b));
        if constexpr (TT > 1) _mm256_store_ps(s[r][t], sc[r][t]);
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
          // One token: lane j of the register (no store and reload through the stack, whose
          // address could alias the activation loads modulo 4 KiB and stall them).
          const __m256 scale = TT == 1 ? _mm256_permutevar8x32_ps(sc[r][t], _mm256_set1_epi32(j))
                                       : _mm256_broadcast_ss(&s[r][t][j]);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[r][t]);
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

// ---- Prefill tiles (4+ tokens): 16 weight rows interleaved, one row per 32-bit lane ----
// The 2-block tiles above reduce each (row, token) inside a register, so every block costs a
// convert, a scale multiply and an FMA per (row, token). Here a register holds dword j of one
// block for 16 rows (lane i = row i), as llama.cpp's repacked Q4_0 GEMM does: a block of a
// token is 8 vpdpbusd against broadcast activation dwords, then one convert + multiply + FMA for
// all 16 rows. The rows are repacked once per token chunk into a per-thread buffer (unsigned
// bytes: Q4_0 nibbles unpacked, Q8_0 as w ^ 0x80), so the unpacking is shared by every token.
constexpr int kIlRows = 16;
constexpr int kIlTokens = 8;

struct alignas(64) Line64 {
  uint8_t b[64];
};

// Blocks [0, nb) of 16 rows -> w[b * 8 + j] (lane i = bytes 4j..4j+3 of row i's 32 unsigned
// values in element order) and ds[b * 16 + i] (row i's scale as f32).
template <bool kQ4>
R1_VNNI_TARGET void il_repack(const uint8_t* const* rows, int64_t nb, Line64* w, float* ds) {
  constexpr int kBS = kQ4 ? int(sizeof(BlockQ4_0)) : int(sizeof(BlockQ8_0));
  constexpr int kWords = kQ4 ? 4 : 8;  // packed dwords per block
  alignas(64) uint32_t p[kWords][kIlRows];
  for (int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < kIlRows; ++i) {
      const uint8_t* blk = rows[i] + b * kBS;
      uint16_t h;
      std::memcpy(&h, blk, 2);
      ds[b * kIlRows + i] = _cvtsh_ss(h);
      for (int m = 0; m < kWords; ++m) std::memcpy(&p[m][i], blk + 2 + 4 * m, 4);
    }
    for (int m = 0; m < kWords; ++m) {
      const __m512i v = _mm512_load_si512(p[m]);
      if constexpr (kQ4) {  // low nibbles: elements 4m..4m+3; high nibbles: 16 + 4m..
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        _mm512_store_si512(w[b * 8 + m].b, _mm512_and_si512(v, m4));
        _mm512_store_si512(w[b * 8 + m + 4].b, _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
      } else {
        _mm512_store_si512(w[b * 8 + m].b, _mm512_xor_si512(v, _mm512_set1_epi8(char(0x80))));
      }
    }
  }
}

// y[t0 + t][0..15] (row stride ldy) for TT tokens from the repacked 16 rows.
template <bool kQ4, int TT>
R1_VNNI_TARGET void il_tile(const Line64* w, const float* ds, int64_t nb, const QuantizedActs& a,
                            int64_t t0, float* y, int64_t ldy) {
  const int64_t nbp = a.kp / 32;
  __m512 acc[TT];
  const int8_t* xq[TT];
  const float* xd[TT];
  const int32_t* xi[TT];
  for (int t = 0; t < TT; ++t) {
    acc[t] = _mm512_setzero_ps();
    xq[t] = a.qs.data() + (t0 + t) * a.kp;
    xd[t] = a.d.data() + (t0 + t) * nbp;
    xi[t] = (kQ4 ? a.q4off : a.q8off).data() + (t0 + t) * nbp;
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i wr[8];
    for (int j = 0; j < 8; ++j) wr[j] = _mm512_load_si512(w[b * 8 + j].b);
    const __m512 dw = _mm512_loadu_ps(ds + b * kIlRows);
    for (int t = 0; t < TT; ++t) {
      int32_t xw[8];
      std::memcpy(xw, xq[t] + b * 32, 32);
      __m512i dot = _mm512_set1_epi32(xi[t][b]);  // -8 or -128 * sum(x): the offset term
      for (int j = 0; j < 8; ++j) dot = _mm512_dpbusd_epi32(dot, wr[j], _mm512_set1_epi32(xw[j]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(xd[t][b])),
                               acc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) _mm512_storeu_ps(y + (t0 + t) * ldy, acc[t]);
}

template <bool kQ4>
void il_tokens(const Line64* w, const float* ds, int64_t nb, const QuantizedActs& a, int64_t t0,
               int64_t t1, float* y, int64_t ldy) {
  int64_t t = t0;
  for (; t + kIlTokens <= t1; t += kIlTokens) il_tile<kQ4, kIlTokens>(w, ds, nb, a, t, y, ldy);
  switch (t1 - t) {
    case 7: il_tile<kQ4, 7>(w, ds, nb, a, t, y, ldy); break;
    case 6: il_tile<kQ4, 6>(w, ds, nb, a, t, y, ldy); break;
    case 5: il_tile<kQ4, 5>(w, ds, nb, a, t, y, ldy); break;
    case 4: il_tile<kQ4, 4>(w, ds, nb, a, t, y, ldy); break;
    case 3: il_tile<kQ4, 3>(w, ds, nb, a, t, y, ldy); break;
    case 2: il_tile<kQ4, 2>(w, ds, nb, a, t, y, ldy); break;
    case 1: il_tile<kQ4, 1>(w, ds, nb, a, t, y, ldy); break;
    default: break;
  }
}

// Rows [n0, n1) by the interleaved tiles. A last group of fewer than 16 rows repeats its last
// row in the missing lanes and stores only the valid lanes.
template <bool kQ4>
void rows_interleaved(const WeightView& w, const QuantizedActs& a, float* y, int64_t t0,
                      int64_t t1, int64_t n0, int64_t n1) {
  const int64_t nb = w.k / 32;
  const auto* base = static_cast<const uint8_t*>(w.data);
  thread_local std::vector<Line64> wbuf;
  thread_local std::vector<float> dbuf, ybuf;
  wbuf.resize(size_t(nb * 8));
  dbuf.resize(size_t(nb * kIlRows));
  const uint8_t* rows[kIlRows];
  for (int64_t n = n0; n < n1; n += kIlRows) {
    const int64_t r = std::min<int64_t>(kIlRows, n1 - n);
    for (int64_t i = 0; i < kIlRows; ++i)
      rows[i] = base + size_t(n + std::min(i, r - 1)) * w.row_bytes;
    il_repack<kQ4>(rows, nb, wbuf.data(), dbuf.data());
    if (r == kIlRows) {
      il_tokens<kQ4>(wbuf.data(), dbuf.data(), nb, a, t0, t1, y + n, w.n);
    } else {  // into a [T, 16] scratch, then the valid columns
      ybuf.resize(size_t(t1 * kIlRows));
      il_tokens<kQ4>(wbuf.data(), dbuf.data(), nb, a, t0, t1, ybuf.data(), kIlRows);
      for (int64_t t = t0; t < t1; ++t)
        std::memcpy(y + t * w.n + n, ybuf.data() + t * kIlRows, size_t(r) * sizeof(float));
    }
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
  static const bool vbmi = __builtin_cpu_supports("avx512vbmi");
  if (t1 - t0 <= kDecodeMaxTokens && vbmi)
    rows_decode<kQ4>(w, a, y, t0, t1, n0, n1);
  else
    rows_interleaved<kQ4>(w, a, y, t0, t1, n0, n1);
}

}  // namespace

int64_t vnni_row_unit(int64_t tokens) { return tokens <= kDecodeMaxTokens ? 4 : kIlRows; }

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
int64_t vnni_row_unit(int64_t) { return 4; }
void matmul_rows_vnni(const WeightView&, const QuantizedActs&, float*, int64_t, int64_t, int64_t,
                      int64_t) {
  R1_CHECK(false, "the AVX512-VNNI path exists only on x86-64");
}
}  // namespace r1::kernels::detail

#endif

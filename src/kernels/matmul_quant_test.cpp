// The integer matmul of the K-quants, Q4_1, Q5_x and IQ4 weights (matmul_quant) and matmul's
// prefill path for them (dequantised rows + sgemm) against matmul_ref, on random blocks (random
// bytes with sane f16 scales), odd N and T = 1..9.
//
// Tolerances, per output y[t, n] with a = sum_i |w_i x_i|:
//  - matmul_quant against matmul_ref on the activations it used (xq, dequantised from the Q8_K /
//    Q8_0 / Q8_1 blocks): the integer sums are exact, so only the f32 block scaling rounds:
//    1e-5 * a. Q8_1 stores s = d * sum(q) in f16, so Q4_1 / Q5_1 add sum_b |m_b| |s_b| 2^-10.
//  - matmul (any path) against matmul_ref on the original x: the activation rounding,
//    sum_i |w_i| |x_i - xq_i| (zero on the sgemm path) + 1e-5 * a.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_quant.h"
#include "quant/blocks_k.h"
#include "quant/dequantize.h"

namespace r1::kernels {
namespace {

// Byte offsets of the f16 scale fields of each block (ggml-common.h layouts).
std::vector<size_t> f16_fields(DType t) {
  switch (t) {
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q5_0: case DType::IQ4_NL: case DType::IQ4_XS: return {0};
    case DType::Q2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case DType::Q3_K: return {offsetof(BlockQ3_K, d)};
    case DType::Q6_K: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

struct Weights {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Weights random_weights(DType t, int64_t N, int64_t K, std::mt19937& rng) {
  Weights w;
  const auto& tr = dtype_traits(t);
  const size_t rb = size_t(dtype_bytes(t, K));
  w.bytes.resize(rb * size_t(N));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> sc(0.001f, 0.05f);
  for (auto& b : w.bytes) b = uint8_t(byte(rng));
  for (size_t blk = 0; blk < w.bytes.size() / size_t(tr.block_bytes); ++blk)
    for (size_t off : f16_fields(t)) {
      const float v = sc(rng) * (byte(rng) & 1 ? 1.0f : -1.0f);
      const uint16_t h = f32_to_f16(v);
      std::memcpy(w.bytes.data() + blk * size_t(tr.block_bytes) + off, &h, 2);
    }
  w.view.dtype = t;
  w.view.data = w.bytes.data();
  w.view.n = N;
  w.view.k = K;
  w.view.row_bytes = rb;
  return w;
}

// The activations the integer path uses, dequantised, and the Q8_1 s-rounding slack per token
// and block.
std::vector<float> dequantized_acts(const detail::BlockActs& a) {
  std::vector<float> xq(size_t(a.T * a.K));
  for (int64_t t = 0; t < a.T; ++t) {
    const uint8_t* row = a.row(t);
    float* o = xq.data() + t * a.K;
    if (a.type == DType::Q8_K) {
      const auto* b = reinterpret_cast<const BlockQ8_K*>(row);
      for (int64_t i = 0; i < a.K; ++i) o[i] = b[i / 256].d * float(b[i / 256].qs[i % 256]);
    } else {  // Q8_0 and Q8_1: f16 d at offset 0; qs at the end of the block
      const int64_t bytes = dtype_traits(a.type).block_bytes;
      for (int64_t i = 0; i < a.K; ++i) {
        const uint8_t* b = row + (i / 32) * bytes;
        uint16_t d;
        std::memcpy(&d, b, 2);
        o[i] = f16_to_f32(d) * float(int8_t(b[bytes - 32 + i % 32]));
      }
    }
  }
  return xq;
}

// Q8_1's s = f16(d * sum(q)) against m * sum(d16 * q): both f16 roundings, 2^-10 relative.
double q81_slack(DType t, const Weights& w, const detail::BlockActs& acts, int64_t tt, int64_t n) {
  if (acts.type != DType::Q8_1) return 0;
  double slack = 0;
  for (int64_t b = 0; b < w.view.k / 32; ++b) {
    const auto& yb = reinterpret_cast<const BlockQ8_1*>(acts.row(tt))[b];
    uint16_t m;
    std::memcpy(&m, w.bytes.data() + size_t(n) * w.view.row_bytes + size_t(b * dtype_traits(t).block_bytes) + 2, 2);
    slack += std::fabs(f16_to_f32(m) * f16_to_f32(yb.s)) * 0x1p-10;
  }
  return slack;
}

const DType kTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                        DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS};

TEST(MatmulQuant, IntegerDotsMatchReferenceOnQuantisedActs) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  ThreadPool pool(2);
  for (DType t : kTypes) {
    const int64_t bs = dtype_traits(t).block_size;
    const int64_t K = bs == 256 ? 768 : 160, N = 37;
    const Weights w = random_weights(t, N, K, rng);
    std::vector<float> wf(size_t(N * K));
    for (int64_t n = 0; n < N; ++n) quant::dequantize_row(t, w.bytes.data() + n * w.view.row_bytes, wf.data() + n * K, K);
    for (int64_t T = 1; T <= 9; ++T) {
      std::vector<float> x(size_t(T * K)), y(size_t(T * N)), ref(size_t(T * N));
      for (auto& v : x) v = nd(rng);
      detail::matmul_quant(w.view, x.data(), y.data(), T, pool);
      detail::BlockActs acts;
      detail::quantize_block_acts(detail::quant_dot(t)->act, x.data(), T, K, acts, pool);
      const auto xq = dequantized_acts(acts);
      matmul_ref(w.view, xq.data(), ref.data(), T);
      for (int64_t tt = 0; tt < T; ++tt)
        for (int64_t n = 0; n < N; ++n) {
          double a = 0;
          for (int64_t i = 0; i < K; ++i) a += std::fabs(double(wf[size_t(n * K + i)]) * xq[size_t(tt * K + i)]);
          const double slack = q81_slack(t, w, acts, tt, n);
          const size_t i = size_t(tt * N + n);
          ASSERT_LE(std::fabs(double(y[i]) - ref[i]), 1e-5 * a + slack + 1e-30)
              << dtype_name(t) << " T=" << T << " t=" << tt << " n=" << n;
        }
    }
  }
}

TEST(MatmulQuant, MatmulWithinActivationRounding) {
  std::mt19937 rng(12);
  std::normal_distribution<float> nd;
  ThreadPool pool(2);
  for (DType t : kTypes) {
    const int64_t bs = dtype_traits(t).block_size;
    const int64_t K = bs == 256 ? 512 : 96, N = 19;
    const Weights w = random_weights(t, N, K, rng);
    std::vector<float> wf(size_t(N * K));
    for (int64_t n = 0; n < N; ++n) quant::dequantize_row(t, w.bytes.data() + n * w.view.row_bytes, wf.data() + n * K, K);
    for (int64_t T : {1, 3, 5, 8, 9}) {
      std::vector<float> x(size_t(T * K)), y(size_t(T * N)), ref(size_t(T * N));
      for (auto& v : x) v = nd(rng);
      matmul(w.view, x.data(), y.data(), T, pool);
      matmul_ref(w.view, x.data(), ref.data(), T);
      detail::BlockActs acts;
      detail::quantize_block_acts(detail::quant_dot(t)->act, x.data(), T, K, acts, pool);
      const auto xq = dequantized_acts(acts);
      for (int64_t tt = 0; tt < T; ++tt)
        for (int64_t n = 0; n < N; ++n) {
          double a = 0, rounding = 0;
          for (int64_t i = 0; i < K; ++i) {
            const size_t j = size_t(tt * K + i);
            a += std::fabs(double(wf[size_t(n * K + i)]) * x[j]);
            rounding += std::fabs(wf[size_t(n * K + i)]) * std::fabs(double(x[j]) - xq[j]);
          }
          const size_t i = size_t(tt * N + n);
          const double slack = T < 8 ? q81_slack(t, w, acts, tt, n) : 0.0;
          ASSERT_LE(std::fabs(double(y[i]) - ref[i]), rounding * 1.001 + slack + 2e-5 * a + 1e-30)
              << dtype_name(t) << " T=" << T << " t=" << tt << " n=" << n;
        }
    }
  }
}

TEST(MatmulQuant, PartialBlockRowIsAnError) {
  std::mt19937 rng(13);
  Weights w = random_weights(DType::Q4_K, 2, 256, rng);
  w.view.k = 200;  // not whole 256-element blocks
  std::vector<float> x(200), y(2);
  ThreadPool pool(1);
  EXPECT_THROW(matmul(w.view, x.data(), y.data(), 1, pool), CheckError);
}

}  // namespace
}  // namespace r1::kernels

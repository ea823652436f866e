// matmul on IQ / TQ / MXFP4 weights (matmul_iq.cpp) against references built from the scalar
// codecs. Weights are random blocks (random bytes are valid blocks of these formats; only the
// scales are set finite), N odd, T = 1..9 and a prefill-sized T.
//
// Tolerances, per output y[t, n] with a = sum_i |w_i * xq_i|:
//  - against dequant(W) . dequant(Q8_K(x)) in f64 (Q8_0 for MXFP4): the kernel's integer sums are
//    exact, only the per-block f32 scaling and summation over K/256 blocks round, so
//    |y - ref| <= 1e-5 * a.
//  - against matmul_ref (unquantised x): the activation rounding, |y - ref| <= sum_i |w_i| *
//    |x_i - xq_i| + 1e-5 * a.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/check.h"
#include "kernels/matmul.h"
#include "kernels/matmul_iq.h"
#include "quant/iq_codec.h"
#include "quant/quantize.h"

namespace r1::kernels {
namespace {

namespace iq = quant::iq;

const DType kTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                        DType::IQ1_S,   DType::IQ1_M,  DType::TQ1_0, DType::TQ2_0,   DType::MXFP4};

void set_scale(DType t, uint8_t* b, float d, uint8_t e) {
  const uint16_t h = f32_to_f16(d);
  switch (t) {
    case DType::TQ1_0: std::memcpy(b + 52, &h, 2); return;
    case DType::TQ2_0: std::memcpy(b + 64, &h, 2); return;
    case DType::MXFP4: b[0] = e; return;
    case DType::IQ1_M: {
      uint16_t sc[4];
      std::memcpy(sc, b + 48, 8);
      for (int i = 0; i < 4; ++i) sc[i] = uint16_t((sc[i] & 0x0fff) | (((h >> (4 * i)) & 0xf) << 12));
      std::memcpy(b + 48, sc, 8);
      return;
    }
    default: std::memcpy(b, &h, 2); return;
  }
}

struct Weights {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Weights random_weights(DType t, int64_t N, int64_t K, std::mt19937& rng) {
  const auto& tr = dtype_traits(t);
  Weights w;
  w.bytes.resize(size_t(N * (K / tr.block_size) * tr.block_bytes));
  for (auto& c : w.bytes) c = uint8_t(rng());
  std::uniform_real_distribution<float> ud(0.001f, 0.05f);
  std::uniform_int_distribution<int> ue(118, 124);
  for (size_t off = 0; off < w.bytes.size(); off += size_t(tr.block_bytes))
    set_scale(t, w.bytes.data() + off, ud(rng), uint8_t(ue(rng)));
  w.view.dtype = t;
  w.view.data = w.bytes.data();
  w.view.n = N;
  w.view.k = K;
  w.view.row_bytes = size_t(dtype_bytes(t, K));
  return w;
}

// x quantised and dequantised the way the kernel sees it (Q8_K, or Q8_0 for MXFP4).
std::vector<float> activations_as_seen(DType t, const std::vector<float>& x, int64_t T, int64_t K) {
  std::vector<float> xq(x.size());
  for (int64_t r = 0; r < T; ++r) {
    if (t == DType::MXFP4) {
      std::vector<BlockQ8_0> b(size_t(K / 32));
      quant::quantize_row_q8_0(x.data() + r * K, b.data(), K);
      quant::dequantize_row_q8_0(b.data(), xq.data() + r * K, K);
    } else {
      std::vector<int8_t> q(static_cast<size_t>(K));
      std::vector<float> d(size_t(K / 256));
      iq::quantize_row_q8_K(x.data() + r * K, q.data(), d.data(), K);
      for (int64_t i = 0; i < K; ++i) xq[size_t(r * K + i)] = d[size_t(i / 256)] * float(q[size_t(i)]);
    }
  }
  return xq;
}

void check(DType t, int64_t N, int64_t K, int64_t T, ThreadPool& pool, std::mt19937& rng) {
  SCOPED_TRACE(std::string(dtype_name(t)) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
               " T=" + std::to_string(T));
  Weights w = random_weights(t, N, K, rng);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(T * K));
  for (auto& v : x) v = nd(rng);
  std::vector<float> y(size_t(T * N)), ref(size_t(T * N));
  matmul(w.view, x.data(), y.data(), T, pool);
  matmul_ref(w.view, x.data(), ref.data(), T);
  const std::vector<float> xq = activations_as_seen(t, x, T, K);
  std::vector<float> wrow(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    iq::dequantize_row(t, w.bytes.data() + size_t(n) * w.view.row_bytes, wrow.data(), K);
    for (int64_t r = 0; r < T; ++r) {
      double exact_q = 0, a = 0, round_bound = 0;
      for (int64_t i = 0; i < K; ++i) {
        const double wi = wrow[size_t(i)], xi = x[size_t(r * K + i)], qi = xq[size_t(r * K + i)];
        exact_q += wi * qi;
        a += std::fabs(wi * qi);
        round_bound += std::fabs(wi) * std::fabs(xi - qi);
      }
      const double yv = y[size_t(r * N + n)];
      ASSERT_NEAR(yv, exact_q, 1e-5 * a + 1e-30) << "row " << n << " token " << r;
      ASSERT_NEAR(yv, ref[size_t(r * N + n)], round_bound + 1e-5 * a + 1e-30)
          << "row " << n << " token " << r;
    }
  }
}

TEST(MatmulIq, DecodeShapesEveryType) {
  ThreadPool pool(2);
  std::mt19937 rng(11);
  for (DType t : kTypes)
    for (int64_t T = 1; T <= 9; ++T) check(t, T % 2 ? 37 : 1, T % 3 ? 512 : 256, T, pool, rng);
}

TEST(MatmulIq, PrefillShapesAndOneThread) {
  ThreadPool pool(2), one(1);
  std::mt19937 rng(12);
  for (DType t : kTypes) {
    check(t, 19, 768, 33, pool, rng);
    check(t, 5, 256, 3, one, rng);
  }
}

TEST(MatmulIq, EveryCompiledSimdTarget) {
  // The Highway dot (matmul_iq_hwy.cpp) as compiled for each target this CPU runs (SSE4, AVX2,
  // AVX-512 on one x86 machine), not only the best one.
  ThreadPool pool(2);
  std::mt19937 rng(14);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType t : {DType::IQ2_XXS, DType::IQ3_XXS, DType::IQ1_M})
      for (int64_t T : {1, 4}) check(t, 7, 512, T, pool, rng);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
}

TEST(MatmulIq, PartialBlocksAreRejected) {
  ThreadPool pool(1);
  std::mt19937 rng(13);
  Weights w = random_weights(DType::IQ2_XXS, 2, 256, rng);
  w.view.k = 128;  // not a whole super-block
  std::vector<float> x(128), y(2);
  EXPECT_THROW(matmul(w.view, x.data(), y.data(), 1, pool), CheckError);
}

}  // namespace
}  // namespace r1::kernels

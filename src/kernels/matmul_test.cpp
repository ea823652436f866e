// Every matmul path against the scalar reference (matmul_ref: dequantised weights, f64
// accumulation) over random shapes with odd tails, for each weight dtype.
//
// Tolerances (per output y[t, n], with a = sum_i |w[n, i] * x[t, i]|):
//  - float weights (F32/BF16/F16/F8): |y - ref| <= 1e-5 * a + 1e-30 — f32 accumulation over K
//    terms in a few SIMD lanes (error ~ K/lanes * 2^-24 * a, far below 1e-5 * a for K < 10^4).
//  - Q8_0/Q4_0 weights: the fast paths quantise x to Q8_0 first (as llama.cpp), so they are held
//    against matmul_ref on the dequantised activations xq with the same 1e-5 * a bound (the
//    integer dot products are exact; only the per-block f32 scaling rounds). Separately, against
//    the unquantised x: |y - ref| <= sum_i |w_i| * |x_i - xq_i| + 1e-5 * a, the exact
//    activation-rounding bound.
#include "kernels/matmul.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/matmul_detail.h"
#include "quant/quantize.h"

namespace r1::kernels {
namespace {

using detail::MatmulPath;

struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightView view;
};

Weights make_weights(DType dt, int64_t N, int64_t K, std::mt19937& rng, int64_t bn = 128,
                     int64_t bk = 128) {
  std::normal_distribution<float> nd;
  Weights w;
  const size_t rb = size_t(dtype_bytes(dt, K));
  w.bytes.resize(rb * size_t(N));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    for (auto& v : row) v = nd(rng) * (dt == DType::F8_E4M3 ? 50.0f : 1.0f);
    quant::quantize_row(dt, row.data(), w.bytes.data() + size_t(n) * rb, K);
  }
  w.view.dtype = dt;
  w.view.data = w.bytes.data();
  w.view.n = N;
  w.view.k = K;
  w.view.row_bytes = rb;
  if (dt == DType::F8_E4M3) {
    const int64_t sn = (N + bn - 1) / bn, sk = (K + bk - 1) / bk;
    std::uniform_real_distribution<float> u(0.001f, 0.05f);
    w.scales.resize(size_t(sn * sk));
    for (auto& s : w.scales) s = u(rng);
    w.view.scale_inv = w.scales.data();
    w.view.block_n = bn;
    w.view.block_k = bk;
  }
  return w;
}

// sum_i |w[n, i] x[t, i]| per output, from the dequantised weights.
std::vector<double> abs_products(const WeightView& w, const std::vector<float>& x, int64_t T) {
  WeightView wa = w;
  std::vector<float> xa(x.size());
  for (size_t i = 0; i < x.size(); ++i) xa[i] = std::fabs(x[i]);
  // |w| via a reference matmul of |w| is not expressible for packed dtypes; dequantise instead.
  std::vector<float> row(static_cast<size_t>(w.k));
  std::vector<double> out(size_t(T * w.n));
  const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
  for (int64_t n = 0; n < w.n; ++n) {
    convert_row_to_f32(w.dtype, static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes,
                       row.data(), w.k);
    if (w.dtype == DType::F8_E4M3)
      for (int64_t i = 0; i < w.k; ++i) row[size_t(i)] *= w.scale_inv[(n / w.block_n) * kb + i / w.block_k];
    for (int64_t t = 0; t < T; ++t) {
      double a = 0;
      for (int64_t i = 0; i < w.k; ++i) a += std::fabs(double(row[size_t(i)]) * xa[size_t(t * w.k + i)]);
      out[size_t(t * w.n + n)] = a;
    }
  }
  (void)wa;
  return out;
}

std::vector<float> dequantized_acts(const std::vector<float>& x, int64_t T, int64_t K) {
  std::vector<float> xq(x.size());
  std::vector<BlockQ8_0> blk(size_t(K / 32));
  for (int64_t t = 0; t < T; ++t) {
    quant::quantize_row_q8_0(x.data() + t * K, blk.data(), K);
    quant::dequantize_row_q8_0(blk.data(), xq.data() + t * K, K);
  }
  return xq;
}

void check_case(DType dt, int64_t N, int64_t K, int64_t T, MatmulPath path, ThreadPool& pool,
                std::mt19937& rng, int64_t bn = 128, int64_t bk = 128) {
  auto w = make_weights(dt, N, K, rng, bn, bk);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(T * K));
  for (auto& v : x) v = nd(rng);
  std::vector<float> y(size_t(T * N), NAN), ref(y.size());
  detail::matmul_path(w.view, x.data(), y.data(), T, pool, path);
  const bool quant = dt == DType::Q8_0 || dt == DType::Q4_0;
  const auto xq = quant ? dequantized_acts(x, T, K) : x;
  matmul_ref(w.view, xq.data(), ref.data(), T);
  const auto a = abs_products(w.view, xq, T);
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], ref[i], 1e-5 * a[i] + 1e-30)
        << dtype_name(dt) << " N=" << N << " K=" << K << " T=" << T << " path=" << int(path)
        << " at t=" << i / size_t(N) << " n=" << i % size_t(N);
  if (quant) {
    // Against the unquantised activations: the activation rounding bound.
    std::vector<float> exact(y.size());
    matmul_ref(w.view, x.data(), exact.data(), T);
    std::vector<float> dx(x.size());
    for (size_t i = 0; i < x.size(); ++i) dx[i] = x[i] - xq[i];
    const auto bound = abs_products(w.view, dx, T);
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_LE(std::fabs(double(y[i]) - exact[i]), bound[i] + 1e-5 * a[i] + 1e-30) << i;
  }
}

std::vector<MatmulPath> paths() {
  std::vector<MatmulPath> p = {MatmulPath::Auto, MatmulPath::Generic};
  if (detail::vnni_available()) p.push_back(MatmulPath::Vnni);
  return p;
}

TEST(Matmul, FloatWeightsRandomShapes) {
  ThreadPool pool(2);
  std::mt19937 rng(1);
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t K : {1, 7, 16, 33, 130})
      for (int64_t N : {1, 5, 19})
        for (int64_t T : {1, 3, 4, 9}) check_case(dt, N, K, T, MatmulPath::Auto, pool, rng);
}

TEST(Matmul, Fp8BlockScales) {
  ThreadPool pool(2);
  std::mt19937 rng(2);
  // Partial blocks in both directions; T=9 takes the convert + sgemm path.
  for (int64_t T : {1, 2, 9}) {
    check_case(DType::F8_E4M3, 37, 300, T, MatmulPath::Auto, pool, rng);
    check_case(DType::F8_E4M3, 20, 45, T, MatmulPath::Auto, pool, rng, 8, 16);
  }
}

TEST(Matmul, QuantizedAllPathsRandomShapes) {
  ThreadPool pool(2);
  std::mt19937 rng(3);
  for (DType dt : {DType::Q8_0, DType::Q4_0})
    for (MatmulPath p : paths())
      for (int64_t K : {32, 64, 96, 224})  // odd and even block counts
        for (int64_t N : {1, 3, 4, 9})
          for (int64_t T : {1, 2, 4, 5, 11}) check_case(dt, N, K, T, p, pool, rng);
}

TEST(Matmul, QuantizedLongRowsAndTokenChunks) {
  ThreadPool pool(2);
  std::mt19937 rng(4);
  // K = 1536 (Qwen2-1.5B hidden); T = 37 crosses the VNNI 32-token chunk.
  for (DType dt : {DType::Q8_0, DType::Q4_0})
    for (MatmulPath p : paths()) check_case(dt, 13, 1536, 37, p, pool, rng);
}

TEST(Matmul, QuantizedDecodeTiles) {
  // The VNNI decode tiles (T <= 3) take 8 blocks per step plus single tail blocks and R-row
  // tiles plus single tail rows: block counts 8, 11, 16, 17, 48 and N off the tile multiple.
  ThreadPool pool(2);
  std::mt19937 rng(8);
  for (DType dt : {DType::Q8_0, DType::Q4_0})
    for (MatmulPath p : paths())
      for (int64_t K : {256, 352, 512, 544, 1536})
        for (int64_t N : {1, 7, 12, 13})
          for (int64_t T : {1, 2, 3, 5}) check_case(dt, N, K, T, p, pool, rng);
  // One thread gets all rows in one chunk, so the 8-row tiles and their 4-row and single-row
  // leftovers all run (a pool of 2 splits few rows into 4-row chunks).
  ThreadPool one(1);
  for (DType dt : {DType::Q8_0, DType::Q4_0})
    for (int64_t N : {8, 13, 29})
      for (int64_t T : {1, 2, 3}) check_case(dt, N, 352, T, MatmulPath::Auto, one, rng);
}

TEST(Matmul, QuantizedInterleavedPrefillTiles) {
  // The VNNI prefill path (T >= 4) takes 16-row groups (one row per lane) with 8-token tiles and
  // 1..7-token tails, 4-row tiles for the rows past the last group, one block at a time (odd
  // block counts). N = 16, 35 (two groups + 3), 48; T crosses 8-token tiles and token chunks.
  ThreadPool pool(2), one(1);
  std::mt19937 rng(9);
  for (DType dt : {DType::Q8_0, DType::Q4_0})
    for (MatmulPath p : paths()) {
      for (int64_t K : {32, 96, 352})
        for (int64_t N : {16, 35, 48})
          for (int64_t T : {4, 7, 8, 13}) check_case(dt, N, K, T, p, pool, rng);
      check_case(dt, 35, 1536, 77, p, pool, rng);
      check_case(dt, 51, 224, 21, p, one, rng);
      check_case(dt, 17, 64, 530, p, pool, rng);  // crosses the 512-token pass
    }
}

TEST(Matmul, ActivationQuantizerMatchesReferenceCodec) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  const int64_t K = 32 * 7;
  std::vector<float> x(static_cast<size_t>(K));
  for (auto& v : x) v = nd(rng) * 3;
  x[5] = 0.5f * (x[0] = 127.0f) / 127.0f;  // an exact tie (0.5 * d): rint rounds it to even
  // Subnormal-f16 and huge scales too: d = max/127 below 2^-14 and near the f16 maximum.
  for (int j = 0; j < 32; ++j) x[size_t(64 + j)] = 1e-4f * float(j - 16);
  for (int j = 0; j < 32; ++j) x[size_t(96 + j)] = 6e6f * float(j - 16) / 16;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
  hwy::SetSupportedTargetsForTest(target);
  SCOPED_TRACE(hwy::TargetName(target));
  std::vector<int8_t> qs(static_cast<size_t>(K));
  std::vector<float> d(size_t(K / 32));
  std::vector<int32_t> sums(size_t(K / 32));
  detail::quantize_row_q8_acts(x.data(), K, qs.data(), d.data(), sums.data());
  std::vector<BlockQ8_0> ref(size_t(K / 32));
  quant::quantize_row_q8_0(x.data(), ref.data(), K);
  for (int64_t b = 0; b < K / 32; ++b) {
    EXPECT_EQ(d[size_t(b)], f16_to_f32(ref[size_t(b)].d));
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      ASSERT_EQ(qs[size_t(b * 32 + j)], ref[size_t(b)].qs[j]) << b << " " << j;
      s += ref[size_t(b)].qs[j];
    }
    EXPECT_EQ(sums[size_t(b)], s);
  }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Matmul, GenericPathOnEveryCompiledTarget) {
  // Runs the Highway kernels as compiled for each target this CPU supports (e.g. SSE4, AVX2 and
  // AVX-512 on one x86 machine), not only the best one.
  ThreadPool pool(2);
  std::mt19937 rng(7);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0, DType::F8_E4M3})
      for (int64_t T : {1, 5}) check_case(dt, 7, dt == DType::Q8_0 || dt == DType::Q4_0 ? 96 : 41, T,
                                         MatmulPath::Generic, pool, rng, 4, 16);
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the real CPU
}

TEST(Matmul, SingleThreadMatchesPool) {
  ThreadPool one(1), two(2);
  std::mt19937 rng(6);
  auto w = make_weights(DType::Q4_0, 50, 128, rng);
  std::vector<float> x(3 * 128, 0.25f), a(150), b(150);
  matmul(w.view, x.data(), a.data(), 3, one);
  matmul(w.view, x.data(), b.data(), 3, two);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace r1::kernels

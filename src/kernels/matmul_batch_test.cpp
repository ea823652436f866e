// matmul_batch must give each job exactly what kernels::matmul gives it alone (the same row
// kernels and activation rounding), for fused small jobs and for large ones that fall back.
#include "kernels/matmul_batch.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "quant/quantize.h"

namespace r1::kernels {
namespace {

struct Weights {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Weights make_weights(DType dt, int64_t N, int64_t K, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  Weights w;
  const size_t rb = size_t(dtype_bytes(dt, K));
  w.bytes.resize(rb * size_t(N));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    for (auto& v : row) v = nd(rng);
    quant::quantize_row(dt, row.data(), w.bytes.data() + size_t(n) * rb, K);
  }
  w.view.dtype = dt;
  w.view.data = w.bytes.data();
  w.view.n = N;
  w.view.k = K;
  w.view.row_bytes = rb;
  return w;
}

TEST(MatmulBatch, EachJobEqualsMatmulAlone) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  ThreadPool pool(3);
  struct Spec {
    DType dt;
    int64_t N, K, T;
    int x;  // which activation buffer (jobs 0 and 1 share one: quantised once)
  };
  // Odd row counts (not whole 4-row units), a shared x, T = 1 (decode), T = 5, a quantised job
  // over the fused token limit (40) and a float one at sgemm size (9) that fall back.
  const std::vector<Spec> specs = {
      {DType::Q4_0, 37, 64, 1, 0}, {DType::Q4_0, 45, 64, 1, 0}, {DType::Q8_0, 13, 96, 5, 1},
      {DType::F32, 11, 40, 3, 2},  {DType::BF16, 9, 32, 2, 3},  {DType::Q4_0, 21, 64, 40, 4},
      {DType::F32, 7, 16, 9, 5},   {DType::Q8_0, 130, 128, 1, 6}};
  std::vector<Weights> ws;
  std::vector<std::vector<float>> xs(7);
  const int64_t xk[7] = {64, 96, 40, 32, 64, 16, 128};
  const int64_t xt[7] = {1, 5, 3, 2, 40, 9, 1};
  for (int i = 0; i < 7; ++i) {
    xs[size_t(i)].resize(size_t(xk[i] * xt[i]));
    for (auto& v : xs[size_t(i)]) v = nd(rng);
  }
  std::vector<std::vector<float>> got(specs.size()), want(specs.size());
  std::vector<MatmulJob> jobs;
  for (size_t j = 0; j < specs.size(); ++j) {
    const Spec& s = specs[j];
    ASSERT_EQ(xk[s.x], s.K);
    ASSERT_EQ(xt[s.x], s.T);
    ws.push_back(make_weights(s.dt, s.N, s.K, rng));
    got[j].assign(size_t(s.N * s.T), -1.0f);
    want[j].assign(size_t(s.N * s.T), -2.0f);
  }
  for (size_t j = 0; j < specs.size(); ++j)
    jobs.push_back({ws[j].view, xs[size_t(specs[j].x)].data(), got[j].data(), specs[j].T});
  for (int rep = 0; rep < 2; ++rep) {  // the second call reuses the grown buffers
    matmul_batch(jobs, pool);
    for (size_t j = 0; j < specs.size(); ++j) {
      matmul(ws[j].view, xs[size_t(specs[j].x)].data(), want[j].data(), specs[j].T, pool);
      for (size_t i = 0; i < got[j].size(); ++i)
        ASSERT_EQ(got[j][i], want[j][i]) << "job " << j << " element " << i << " rep " << rep;
    }
  }
  matmul_batch({}, pool);  // no jobs: nothing to do
}

}  // namespace
}  // namespace r1::kernels

// DeepSeekMoE: routing rules on hand-made logits (bias only for selection, group limiting by the
// sum of the top-2, normalisation and scaling, V2 softmax variants) and the grouped dispatch
// against the token-by-token reference.
#include "nn/moe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "quant/quantize.h"

namespace r1::nn {
namespace {

float logit(float p) { return std::log(p / (1.0f - p)); }  // sigmoid^-1

TEST(MoeRoute, NoauxTcGroupsBiasAndWeights) {
  // 8 experts in 4 groups of 2; keep 2 groups; top-3.
  MoeConfig c;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 3;
  c.n_group = 4;
  c.topk_group = 2;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5f;
  //                 g0          g1          g2          g3
  const float p[] = {0.9f, 0.1f, 0.6f, 0.55f, 0.7f, 0.2f, 0.3f, 0.35f};
  float lg[8];
  for (int i = 0; i < 8; ++i) lg[i] = logit(p[i]);
  // Group sums of top-2: g0 1.0, g1 1.15, g2 0.9, g3 0.65 -> keep g1, g0 (g2's 0.7 is masked
  // although it beats 0.6 and 0.55: group limiting).
  MoeRouting r;
  moe_route(c, lg, nullptr, 1, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 2, 3}));
  const float sum = 0.9f + 0.6f + 0.55f;
  EXPECT_NEAR(r.weights[0], 0.9f / sum * 2.5f, 1e-5);
  EXPECT_NEAR(r.weights[1], 0.6f / sum * 2.5f, 1e-5);
  EXPECT_NEAR(r.weights[2], 0.55f / sum * 2.5f, 1e-5);

  // A bias on expert 7 lifts group 3 (0.3 + 0.35 + 1.0) and selects expert 7 first, but its
  // weight stays the unbiased score.
  float bias[8] = {0, 0, 0, 0, 0, 0, 0, 1.0f};
  moe_route(c, lg, bias, 1, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{7, 2, 3}));
  const float sum2 = 0.35f + 0.6f + 0.55f;
  EXPECT_NEAR(r.weights[0], 0.35f / sum2 * 2.5f, 1e-5);

  // Without normalisation: scores times the scale.
  c.norm_topk_prob = false;
  moe_route(c, lg, nullptr, 1, r);
  EXPECT_NEAR(r.weights[0], 0.9f * 2.5f, 1e-5);
}

TEST(MoeRoute, V2SoftmaxVariants) {
  MoeConfig c;
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.scoring = MoeScoring::Softmax;
  c.topk_method = MoeTopkMethod::Greedy;
  c.routed_scaling_factor = 2.0f;
  const float lg[] = {0.0f, 2.0f, 1.0f, 1.5f};
  double z = 0;
  for (float v : lg) z += std::exp(v);
  MoeRouting r;
  moe_route(c, lg, nullptr, 1, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{1, 3}));
  EXPECT_NEAR(r.weights[0], std::exp(2.0) / z * 2.0, 1e-5);  // not normalised: scaled
  c.norm_topk_prob = true;  // V2: normalised, not scaled
  moe_route(c, lg, nullptr, 1, r);
  EXPECT_NEAR(r.weights[0], std::exp(2.0) / (std::exp(2.0) + std::exp(1.5)), 1e-5);
  // group_limited_greedy: groups {0,1} max 2.0 vs {2,3} max 1.5; keep 1 group.
  c.topk_method = MoeTopkMethod::GroupLimitedGreedy;
  c.n_group = 2;
  c.topk_group = 1;
  moe_route(c, lg, nullptr, 1, r);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{1, 0}));
}

Tensor rand_tensor(std::mt19937& rng, std::initializer_list<int64_t> shape, float scale) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

TEST(Moe, GroupedDispatchEqualsTokenLoop) {
  ThreadPool pool(2);
  Context ctx{pool};
  std::mt19937 rng(11);
  const int64_t D = 16, F = 8, E = 6, T = 13;
  MoeConfig c;
  c.n_routed_experts = E;
  c.num_experts_per_tok = 2;
  c.n_group = 3;
  c.topk_group = 2;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 1.5f;
  MoeWeights w;
  w.gate = Linear(rand_tensor(rng, {E, D}, 0.5f));
  w.e_score_correction_bias = Tensor::zeros(DType::F32, {E});
  const float bias[] = {0.1f, -0.1f, 0.0f, 0.05f, 0.2f, -0.2f};
  std::copy(bias, bias + E, w.e_score_correction_bias.data<float>());
  for (int64_t e = 0; e < E; ++e)
    w.experts.emplace_back(Linear(rand_tensor(rng, {F, D}, 0.3f)),
                           Linear(rand_tensor(rng, {F, D}, 0.3f)),
                           Linear(rand_tensor(rng, {D, F}, 0.3f)));
  w.shared_experts = SwiGluMlp(Linear(rand_tensor(rng, {2 * F, D}, 0.3f)),
                               Linear(rand_tensor(rng, {2 * F, D}, 0.3f)),
                               Linear(rand_tensor(rng, {D, 2 * F}, 0.3f)));
  w.has_shared = true;
  Tensor x = rand_tensor(rng, {T, D}, 1.0f);
  std::vector<float> a(static_cast<size_t>(T * D)), b(static_cast<size_t>(T * D));
  std::vector<int64_t> counts(size_t(E), 0);
  MoeRouting r;
  moe_forward(ctx, c, w, x.data<float>(), T, a.data(), counts.data(), &r);
  moe_forward_ref(ctx, c, w, x.data<float>(), T, b.data());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << i;
  int64_t total = 0;
  for (int64_t e = 0; e < E; ++e) {
    int64_t n = 0;
    for (int32_t id : r.experts) n += id == e;
    EXPECT_EQ(counts[size_t(e)], n);
    total += counts[size_t(e)];
  }
  EXPECT_EQ(total, T * 2);
}

// Quantised experts (as a Q4_0/Q8_0 GGUF has them) through the batched inference path with a
// reused scratch: decode (T = 1), a small batch, and a batch whose busiest experts exceed the
// fused token limit (their products fall back to kernels::matmul), against the
// token-by-token reference. Both use the same kernels and activation rounding.
TEST(Moe, QuantisedExpertsWithScratchMatchReference) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  Context ctx{pool};
  const int64_t E = 8, D = 64, F = 96;
  MoeConfig c;
  c.n_routed_experts = E;
  c.num_experts_per_tok = 3;
  c.n_group = 1;
  c.topk_group = 1;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0f;
  c.scoring = MoeScoring::Softmax;
  c.topk_method = MoeTopkMethod::Greedy;
  auto quantised = [&](DType dt, int64_t n, int64_t k) {
    Tensor f = rand_tensor(rng, {n, k}, 0.3f);
    Tensor q = Tensor::zeros(dt, {n, k});
    for (int64_t r = 0; r < n; ++r)
      quant::quantize_row(dt, f.data<float>() + r * k, q.mutable_bytes() + size_t(r) * q.row_bytes(), k);
    return Linear(q);
  };
  MoeWeights w;
  w.gate = Linear(rand_tensor(rng, {E, D}, 0.5f));
  for (int64_t e = 0; e < E; ++e) {
    const DType dt = e % 2 ? DType::Q8_0 : DType::Q4_0;
    w.experts.emplace_back(quantised(dt, F, D), quantised(dt, F, D), quantised(dt, D, F));
  }
  w.shared_experts = SwiGluMlp(quantised(DType::Q4_0, 2 * F, D),
                               quantised(DType::Q4_0, 2 * F, D),
                               quantised(DType::Q4_0, D, 2 * F));
  w.has_shared = true;
  MoeScratch scratch;
  for (int64_t T : {1, 1, 4, 100, 1}) {
    Tensor x = rand_tensor(rng, {T, D}, 1.0f);
    std::vector<float> a(static_cast<size_t>(T * D)), b(static_cast<size_t>(T * D));
    std::vector<int64_t> counts(size_t(E), 0);
    moe_forward(ctx, c, w, x.data<float>(), T, a.data(), counts.data(), nullptr, &scratch);
    moe_forward_ref(ctx, c, w, x.data<float>(), T, b.data());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << "T " << T << " " << i;
    int64_t total = 0;
    for (int64_t v : counts) total += v;
    EXPECT_EQ(total, 3 * T);
  }
}

}  // namespace
}  // namespace r1::nn

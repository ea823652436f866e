// Finite-difference checks of the DeepSeekMoE backward rules (moe.cpp: record_moe_router,
// record_gather, record_combine, and the experts' SwiGLU through them): for every routing variant
// the configs allow (V3 sigmoid + normalised top-k + e_score_correction_bias + group limiting +
// routed scaling; the same without normalisation; V2 softmax greedy, scaled or normalised; V2
// group-limited greedy; K = 1), d L / d x and d L / d every weight entry of L = sum c * moe(x)
// against central differences of the inference forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "autograd/tape.h"
#include "nn/moe.h"

namespace r1::nn {
namespace {

Tensor rand_tensor(std::mt19937& rng, std::initializer_list<int64_t> shape, float scale) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

struct Case {
  std::string name;
  MoeConfig cfg;
  bool shared = true;
  bool bias = false;  // a non-zero e_score_correction_bias (NoauxTc selection only)
};

MoeConfig base_cfg(MoeScoring s, MoeTopkMethod m, int64_t E, int64_t K, int64_t n_group,
                   int64_t topk_group, bool norm, float scale) {
  MoeConfig c;
  c.n_routed_experts = E;
  c.num_experts_per_tok = K;
  c.n_group = n_group;
  c.topk_group = topk_group;
  c.norm_topk_prob = norm;
  c.routed_scaling_factor = scale;
  c.scoring = s;
  c.topk_method = m;
  return c;
}

class MoeGrad : public ::testing::TestWithParam<Case> {};

TEST_P(MoeGrad, BackwardMatchesFiniteDifferences) {
  const Case& cs = GetParam();
  const MoeConfig& c = cs.cfg;
  const int64_t E = c.n_routed_experts, D = 12, F = 6, T = 7;
  ThreadPool pool(1);
  std::mt19937 rng(21);
  MoeWeights w;
  std::vector<Tensor> params;  // every weight (views shared with w), for perturbation
  std::vector<std::string> names;
  auto add = [&](const Tensor& t, const std::string& n) {
    params.push_back(t);
    names.push_back(n);
    return t;
  };
  w.gate = Linear(add(rand_tensor(rng, {E, D}, 0.5f), "gate"));
  if (cs.bias) w.e_score_correction_bias = rand_tensor(rng, {E}, 0.2f);
  for (int64_t e = 0; e < E; ++e) {
    const std::string p = "experts." + std::to_string(e) + ".";
    w.experts.emplace_back(Linear(add(rand_tensor(rng, {F, D}, 0.5f), p + "gate_proj")),
                           Linear(add(rand_tensor(rng, {F, D}, 0.5f), p + "up_proj")),
                           Linear(add(rand_tensor(rng, {D, F}, 0.5f), p + "down_proj")));
  }
  if (cs.shared) {
    auto lin = [&](int64_t n, int64_t k, const char* name) {
      return Linear(add(rand_tensor(rng, {n, k}, 0.5f), std::string("shared.") + name));
    };
    w.shared_experts = SwiGluMlp(lin(2 * F, D, "gate_proj"), lin(2 * F, D, "up_proj"),
                                 lin(D, 2 * F, "down_proj"));
    w.has_shared = true;
  }
  Tensor x = add(rand_tensor(rng, {T, D}, 1.0f), "x");
  const Tensor cw = rand_tensor(rng, {T, D}, 1.0f);  // L = sum cw * out

  // L and the routing, by the inference forward (f32, the grouped dispatch).
  auto loss = [&](std::vector<int32_t>* experts) {
    Context ctx{pool};
    std::vector<float> out(static_cast<size_t>(T * D));
    MoeRouting r;
    moe_forward(ctx, c, w, x.data<float>(), T, out.data(), nullptr, &r);
    if (experts) *experts = r.experts;
    double l = 0;
    for (int64_t i = 0; i < T * D; ++i) l += double(cw.data<float>()[i]) * out[size_t(i)];
    return l;
  };
  std::vector<int32_t> routing0;
  loss(&routing0);

  // Backward on the tape: dL/dout = cw.
  autograd::Tape tape;
  std::vector<std::vector<float>> grads(params.size());
  for (size_t i = 0; i + 1 < params.size(); ++i) {  // the weights; x is an activation below
    grads[i].assign(size_t(params[i].numel()), 0.0f);
    tape.add_param(params[i].data<float>(), params[i].numel(), grads[i].data());
  }
  {
    Context ctx{pool, &tape};
    float* xb = tape.alloc(T * D);
    std::copy(x.data<float>(), x.data<float>() + T * D, xb);
    float* out = tape.alloc(T * D);
    MoeRouting r;
    moe_forward(ctx, c, w, xb, T, out, nullptr, &r);
    ASSERT_EQ(r.experts, routing0) << "training and inference route differently";
    float* gx = tape.grad(xb, T * D);
    std::copy(cw.data<float>(), cw.data<float>() + T * D, tape.grad(out, T * D));
    tape.backward();
    grads.back().assign(gx, gx + T * D);
    tape.clear();
  }

  // Central differences, Richardson-extrapolated from steps h and h/2 (truncation O(h^4)), so
  // the error is f32 rounding noise: L sums T*D = 84 outputs of magnitude ~3 computed in f32, and
  // is off by ~1.5e-5 (measured: the worst error times h stays ~1.5e-5 for h = 5e-3 .. 8e-2), so a
  // quotient carries ~1.5e-5 / h = 4e-4 at h = 4e-2 (measured max 2.3e-4 .. 3.9e-4 over the
  // cases). Tolerance 1e-3 + 1e-3 |g|. A step that changes the routing (a top-k or group choice
  // flips: L jumps) says nothing about the gradient; such coordinates are skipped, and must stay
  // rare (12 of 2340 at most here).
  const double h = 4e-2;
  int64_t checked = 0, skipped = 0;
  double worst = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    float* p = params[i].data<float>();
    for (int64_t j = 0; j < params[i].numel(); ++j) {
      const float p0 = p[j];
      double l[4];
      bool flipped = false;
      const double steps[4] = {h, -h, h / 2, -h / 2};
      for (int k = 0; k < 4; ++k) {
        p[j] = float(double(p0) + steps[k]);
        std::vector<int32_t> r;
        l[k] = loss(&r);
        flipped |= r != routing0;
      }
      p[j] = p0;
      if (flipped) {
        ++skipped;
        continue;
      }
      const double d1 = (l[0] - l[1]) / (2 * h), d2 = (l[2] - l[3]) / h;
      const double fd = (4 * d2 - d1) / 3;
      const double an = grads[i][size_t(j)];
      worst = std::max(worst, std::abs(fd - an));
      EXPECT_NEAR(an, fd, 1e-3 + 1e-3 * std::abs(fd))
          << cs.name << " " << names[i] << "[" << j << "]";
      ++checked;
    }
  }
  std::printf("[ %s ] %lld coordinates checked, %lld skipped (routing flips), "
              "max |fd - grad| %.2g\n",
              cs.name.c_str(), (long long)checked, (long long)skipped, worst);
  EXPECT_LT(skipped, checked / 10) << "too many routing flips to trust the check";
}

INSTANTIATE_TEST_SUITE_P(
    Routing, MoeGrad,
    ::testing::Values(
        // V3: sigmoid, selection bias, 4 groups keep 2, normalised top-3, routed scaling 2.5.
        Case{"V3SigmoidNormBiasGroups",
             base_cfg(MoeScoring::Sigmoid, MoeTopkMethod::NoauxTc, 8, 3, 4, 2, true, 2.5f), true,
             true},
        // V3 scoring without normalisation: w = 2.5 * sigmoid (no shared expert).
        Case{"V3SigmoidNotNormalised",
             base_cfg(MoeScoring::Sigmoid, MoeTopkMethod::NoauxTc, 8, 2, 1, 1, false, 2.5f), false,
             true},
        // V2 (DeepSeek-V2-Lite): softmax, greedy top-2, not normalised, scaled.
        Case{"V2SoftmaxGreedyScaled",
             base_cfg(MoeScoring::Softmax, MoeTopkMethod::Greedy, 8, 2, 1, 1, false, 2.0f)},
        // V2 with norm_topk_prob: normalised and (as DeepseekV2MoEGate) not scaled.
        Case{"V2SoftmaxGreedyNormalised",
             base_cfg(MoeScoring::Softmax, MoeTopkMethod::Greedy, 8, 3, 1, 1, true, 3.0f)},
        // V2 (DeepSeek-V2): group-limited greedy, groups by max score.
        Case{"V2SoftmaxGroupLimited",
             base_cfg(MoeScoring::Softmax, MoeTopkMethod::GroupLimitedGreedy, 8, 2, 4, 2, false,
                      1.5f)},
        // K = 1 with norm_topk_prob: V2 normalises only for K > 1, so scaled, not normalised.
        Case{"V2SoftmaxTop1", base_cfg(MoeScoring::Softmax, MoeTopkMethod::Greedy, 4, 1, 1, 1,
                                       true, 1.7f)}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace r1::nn

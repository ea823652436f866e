// Whole-model gradients of the llama/qwen2/qwen3 decoder against ../shared/fixtures (float64 PyTorch
// reference: loss and d loss / d every parameter), plus a finite-difference check on a few
// entries of a tiny random model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "io/safetensors.h"
#include "train/lm.h"

namespace r1::train {
namespace {

double rel_l2(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Loss and gradients of the fixture prompt's 19 next-token predictions vs train_expected.json
// and train/GRADS_FILE.
void check_fixture(const std::string& name, bool mtp = false) {
  R1_SKIP_UNLESS_SHARED("");
  const std::string dir = test::shared_path("fixtures/" + name);
  ThreadPool pool(2);
  auto m = TrainLM::load(dir, pool);
  ASSERT_TRUE(m.ok()) << m.error().message;
  nlohmann::json ex = nlohmann::json::parse(std::ifstream(dir + "/train_expected.json"));
  std::vector<int32_t> prompt = ex["prompt"].get<std::vector<int32_t>>();
  std::vector<int32_t> targets(prompt.begin() + 1, prompt.end());
  targets.push_back(-100);
  const int64_t n_pred = int64_t(prompt.size()) - 1;
  int64_t count = 0;
  double loss = 0;
  if (!mtp) {
    loss = (*m)->forward_backward(prompt, targets, 1.0f / float(n_pred), &count) / double(n_pred);
    EXPECT_EQ(count, n_pred);
    EXPECT_NEAR(loss, ex["loss"].get<double>(), 1e-4);
  } else {  // the MTP loss alone: n_pred - 1 predictions of t_{i+2}
    auto l = (*m)->forward_backward_mtp(prompt, targets, 0.0f, 1.0f / float(n_pred - 1));
    EXPECT_EQ(l.mtp_count, n_pred - 1);
    EXPECT_NEAR(l.mtp_sum / double(n_pred - 1), ex["mtp_loss"].get<double>(), 1e-4);
    EXPECT_NEAR(l.main_sum / double(n_pred), ex["loss"].get<double>(), 1e-4);
  }
  auto grads = io::SafetensorsFile::open(dir + (mtp ? "/train/mtp_grads.safetensors"
                                                    : "/train/grads.safetensors"));
  ASSERT_TRUE(grads.ok()) << grads.error().message;
  int checked = 0;
  for (const auto& p : (*m)->params()) {
    if (p.name.find("e_score_correction_bias") != std::string::npos) continue;  // not trained
    auto g = grads->tensor(p.name);
    ASSERT_TRUE(g.ok()) << p.name;
    ASSERT_EQ(g->numel(), p.data.numel()) << p.name;
    EXPECT_LT(rel_l2(p.grad.data(), std::as_const(*g).data<float>(), g->numel()), 1e-3) << p.name;
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(FixtureGrads, Llama) { check_fixture("llama_f32"); }
TEST(FixtureGrads, Qwen2) { check_fixture("qwen2_f32"); }
TEST(FixtureGrads, Qwen2Tied) { check_fixture("qwen2_tied_f32"); }
TEST(FixtureGrads, Qwen3) { check_fixture("qwen3_f32"); }
TEST(FixtureGrads, Qwen3Tied) { check_fixture("qwen3_tied_f32"); }
TEST(FixtureGrads, DeepseekV3QLora) { check_fixture("ds_qlora_f32"); }
TEST(FixtureGrads, DeepseekV3NoQLora) { check_fixture("ds_noqlora_f32"); }
TEST(FixtureGrads, DeepseekV3Mtp) { check_fixture("ds_qlora_f32", true); }

// Aux-loss-free balancing: experts above the mean load get bias - rate, below it + rate.
TEST(TrainLM, RouterBiasFollowsLoad) {
  R1_SKIP_UNLESS_SHARED("");
  ThreadPool pool(1);
  auto m = TrainLM::load(test::shared_path("fixtures/ds_qlora_f32"), pool);
  ASSERT_TRUE(m.ok()) << m.error().message;
  std::vector<int32_t> in = {0, 5, 9, 3, 44, 7, 7, 21}, tgt = {5, 9, 3, 44, 7, 7, 21, -100};
  int64_t n = 0;
  (*m)->forward_backward(in, tgt, 1.0f, &n);
  const auto load = (*m)->expert_load();
  std::vector<std::vector<float>> before;
  for (const auto& p : (*m)->params())
    if (p.name.find("e_score_correction_bias") != std::string::npos)
      before.emplace_back(std::as_const(p.data).data<float>(),
                          std::as_const(p.data).data<float>() + p.data.numel());
  (*m)->update_router_bias(0.01);
  int checked = 0;
  size_t i = 0;
  for (const auto& p : (*m)->params()) {
    if (p.name.find("e_score_correction_bias") == std::string::npos) continue;
    const int64_t l = std::stoll(p.name.substr(13));  // "model.layers.L."
    if (size_t(l) >= load.size() || load[size_t(l)].empty()) { ++i; continue; }
    double mean = 0;
    for (int64_t c : load[size_t(l)]) mean += double(c) / double(load[size_t(l)].size());
    for (int64_t e = 0; e < p.data.numel(); ++e) {
      const double d = mean - double(load[size_t(l)][size_t(e)]);
      const double want = before[i][size_t(e)] + (d > 0 ? 0.01 : d < 0 ? -0.01 : 0.0);
      EXPECT_NEAR(std::as_const(p.data).data<float>()[e], want, 1e-6) << p.name << " " << e;
      ++checked;
    }
    ++i;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace r1::train

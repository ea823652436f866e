// Whole-model finite-difference checks of DeepSeek training (TrainLM::forward_backward_mtp: MLA,
// dense SwiGLU, DeepSeekMoE, MTP, the tied/untied heads) on tiny random configs built in the
// test, so they never skip: V3 with q-LoRA, dense + MoE layers and the MTP loss; V3 without
// q-LoRA; a V2-style model (softmax routing, greedy top-k, not normalised, routed scaling). For a
// sample of entries of EVERY parameter tensor, d loss / d w from the tape against central
// differences of the inference forward's loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "models/deepseek_v3/model.h"
#include "models/init_model.h"
#include "models/model_info.h"
#include "models/tensor_source.h"
#include "train/lm.h"

namespace r1::train {
namespace {

namespace ds = models::deepseek_v3;

constexpr int64_t kVocab = 40;

nlohmann::json config(int64_t q_lora_rank, int64_t layers, int64_t mtp, const std::string& scoring,
                      const std::string& topk_method, bool norm, double scale, int64_t n_group,
                      int64_t n_shared) {
  nlohmann::json j = {{"model_type", "deepseek_v3"},  {"vocab_size", kVocab},
                      {"hidden_size", 24},            {"intermediate_size", 32},
                      {"moe_intermediate_size", 12},  {"num_hidden_layers", layers},
                      {"first_k_dense_replace", 1},   {"moe_layer_freq", 1},
                      {"num_attention_heads", 3},     {"num_key_value_heads", 3},
                      {"n_routed_experts", 4},        {"n_shared_experts", n_shared},
                      {"num_experts_per_tok", 2},     {"n_group", n_group},
                      {"topk_group", 1},              {"routed_scaling_factor", scale},
                      {"norm_topk_prob", norm},       {"scoring_func", scoring},
                      {"topk_method", topk_method},   {"kv_lora_rank", 10},
                      {"qk_nope_head_dim", 6},        {"qk_rope_head_dim", 4},
                      {"v_head_dim", 5},              {"rope_theta", 10000.0},
                      {"rms_norm_eps", 1e-6},         {"max_position_embeddings", 64},
                      {"tie_word_embeddings", false}, {"num_nextn_predict_layers", mtp},
                      {"bos_token_id", 0},            {"eos_token_id", 1}};
  j["q_lora_rank"] = q_lora_rank > 0 ? nlohmann::json(q_lora_rank) : nlohmann::json(nullptr);
  return j;
}

// Sum of cross-entropies (natural log) of rows [n, V] against targets (< 0 ignored), in double.
double ce_sum(const float* logits, const int32_t* targets, int64_t n) {
  double s = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (targets[t] < 0) continue;
    const float* row = logits + t * kVocab;
    double mx = row[0];
    for (int64_t v = 1; v < kVocab; ++v) mx = std::max(mx, double(row[v]));
    double z = 0;
    for (int64_t v = 0; v < kVocab; ++v) z += std::exp(double(row[v]) - mx);
    s += mx + std::log(z) - double(row[targets[t]]);
  }
  return s;
}

void check_model(const std::string& what, const nlohmann::json& cfg_json, float mtp_scale) {
  test::TempDir tmp;
  ThreadPool pool(1);
  // Random model, then weights rescaled so every block matters to the loss (N(0, 0.02) leaves
  // the deep blocks' gradients near f32 noise): matrices N(0, 0.3), norms 1 + N(0, 0.3), the
  // selection bias N(0, 0.05). Saved and reloaded so every copy made at load sees them.
  auto w = models::write_random_deepseek_v3(cfg_json, tmp.file("init"), 3);
  ASSERT_TRUE(w.ok()) << w.message();
  {
    auto m0 = TrainLM::load(tmp.file("init"), pool);
    ASSERT_TRUE(m0.ok()) << m0.error().message;
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    for (auto& p : (*m0)->params()) {
      const bool bias = p.name.find("e_score_correction_bias") != std::string::npos;
      for (int64_t i = 0; i < p.data.numel(); ++i)
        p.data.data<float>()[i] = bias ? nd(rng) / 6 : p.decay ? nd(rng) : 1.0f + nd(rng);
    }
    std::filesystem::create_directories(tmp.file("model"));
    auto s = (*m0)->save_weights(tmp.file("model"));
    ASSERT_TRUE(s.ok()) << s.message();
  }
  auto m = TrainLM::load(tmp.file("model"), pool);
  ASSERT_TRUE(m.ok()) << m.error().message;
  TrainLM& lm = **m;
  auto dcfg = ds::parse_config(cfg_json, "cfg");
  ASSERT_TRUE(dcfg.ok()) << dcfg.error().message;
  models::MemoryTensorSource src("params");  // views of the TrainLM's parameters
  for (const auto& p : lm.params()) src.add(p.name, p.data);
  models::ModelInfo info;
  auto model = ds::DeepseekV3::load(*dcfg, src, models::LoadOptions{}, info, pool);
  ASSERT_TRUE(model.ok()) << model.error().message;
  ds::DeepseekV3& fwd = **model;

  const std::vector<int32_t> in = {0, 5, 9, 3, 22, 7, 7, 21, 13, 2};
  std::vector<int32_t> tgt(in.begin() + 1, in.end());
  tgt.push_back(-100);
  const int64_t T = int64_t(in.size());
  // The loss the tape differentiates, by the inference forward (naive MLA for T > 1; MTP row i
  // predicts tgt[i + 1]); *routing gets every MoE layer's expert choices.
  auto loss = [&](std::vector<std::vector<int32_t>>* routing) {
    auto sess = fwd.new_session(T);
    auto& s = static_cast<ds::DeepseekV3Session&>(*sess);
    s.set_record_routing(true);
    std::vector<float> logits(size_t(T * kVocab));
    fwd.forward(in, s, logits.data(), true);
    double l = ce_sum(logits.data(), tgt.data(), T);
    if (mtp_scale != 0.0f) {
      std::vector<float> ml(size_t((T - 1) * kVocab));
      fwd.mtp_logits(in, ml.data());
      l += double(mtp_scale) * ce_sum(ml.data(), tgt.data() + 1, T - 1);
    }
    routing->clear();
    for (int64_t layer = 0; layer < dcfg->num_hidden_layers; ++layer)
      routing->push_back(s.routing(layer));
    return l;
  };
  std::vector<std::vector<int32_t>> routing0;
  const double l0 = loss(&routing0);
  lm.zero_grad();
  const auto tl = lm.forward_backward_mtp(in, tgt, 1.0f, mtp_scale);
  // The tape's forward and the inference forward: same loss up to f32 summation order.
  EXPECT_NEAR(tl.main_sum + double(mtp_scale) * tl.mtp_sum, l0, 1e-4 * std::abs(l0)) << what;

  // Central differences, Richardson-extrapolated from h and h/2 (truncation O(h^4)), so the
  // error is the f32 rounding of the loss (~35 nats): measured ~1e-5 (the worst |fd - grad|
  // times h stayed 0.7-1.3e-5 for h = 5e-3 .. 4e-2), i.e. ~1e-5 / h in a quotient. Tolerance
  // 3e-5 / h + 2e-2 |g|: 3e-3 + 2e-2 |g| at h = 1e-2. A step that flips an expert choice makes
  // the loss jump: routing changes in the main layers are seen directly, and the entry is
  // retried at h / 4 (fewer flips, looser tolerance 1.2e-2 + 2e-2 |g|), then skipped; elsewhere
  // (the MTP block's MoE) a jump J shows as |d(h) - d(h/2)| >= J / 2h and is skipped above a
  // third of the tolerance, which bounds what an unseen jump adds to the estimate
  // ((7/3) |d(h) - d(h/2)|). Skips must stay rare.
  std::mt19937 pick(5);
  int64_t checked = 0, skipped = 0, tensors = 0;
  double worst_rel = 0;
  for (auto& p : lm.params()) {
    if (!p.trainable) continue;  // e_score_correction_bias: selection only, no gradient
    ++tensors;
    const int64_t n = p.data.numel();
    // The two largest-gradient entries and two at random.
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    const int64_t top = std::min<int64_t>(2, n);
    std::partial_sort(idx.begin(), idx.begin() + top, idx.end(), [&](int64_t a, int64_t b) {
      return std::abs(p.grad[size_t(a)]) > std::abs(p.grad[size_t(b)]);
    });
    idx.resize(size_t(top));
    for (int k = 0; k < 2; ++k) idx.push_back(int64_t(pick() % uint64_t(n)));
    for (int64_t j : idx) {
      float* v = p.data.data<float>() + j;
      const float v0 = *v;
      const double an = p.grad[size_t(j)];
      bool done = false;
      for (const double h : {1e-2, 2.5e-3}) {
        const double steps[4] = {h, -h, h / 2, -h / 2};
        double l[4];
        bool flipped = false;
        for (int k = 0; k < 4; ++k) {
          *v = float(double(v0) + steps[k]);
          std::vector<std::vector<int32_t>> r;
          l[k] = loss(&r);
          flipped |= r != routing0;
        }
        *v = v0;
        const double d1 = (l[0] - l[1]) / (2 * h), d2 = (l[2] - l[3]) / h;
        const double fd = (4 * d2 - d1) / 3;
        const double tol = 3e-5 / h + 2e-2 * std::abs(fd);
        if (flipped || std::abs(d1 - d2) > tol / 3) continue;
        worst_rel = std::max(worst_rel, std::abs(fd - an) / (std::abs(fd) + 1e-2));
        EXPECT_NEAR(an, fd, tol) << what << " " << p.name << "[" << j << "] h " << h;
        done = true;
        break;
      }
      ++(done ? checked : skipped);
    }
  }
  std::printf("[ %s ] %lld tensors, %lld entries checked, %lld skipped (routing flips), worst "
              "|fd - grad| / (|fd| + 0.01) = %.2g\n",
              what.c_str(), (long long)tensors, (long long)checked, (long long)skipped, worst_rel);
  EXPECT_LT(skipped, checked / 10) << what << ": too many routing flips to trust the check";
}

TEST(DeepseekGrad, V3QLoraDenseMoeMtp) {
  check_model("V3 q-LoRA + MTP",
              config(16, 3, 1, "sigmoid", "noaux_tc", true, 2.5, 2, 1), 0.3f);
}

TEST(DeepseekGrad, V3NoQLora) {
  check_model("V3 no q-LoRA", config(0, 2, 0, "sigmoid", "noaux_tc", true, 2.5, 1, 1), 0.0f);
}

TEST(DeepseekGrad, V2SoftmaxRouting) {
  check_model("V2 softmax", config(0, 2, 0, "softmax", "greedy", false, 1.5, 1, 2), 0.0f);
}

}  // namespace
}  // namespace r1::train

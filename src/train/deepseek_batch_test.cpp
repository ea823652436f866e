// DeepSeek-V3 batched training (DeepseekV3::forward_train_batch through
// TrainLM::forward_backward_mtp with B sequences) against B one-sequence calls: losses, the
// gradient of every parameter and the expert load agree. Tiny random configs built here (never
// skip): V3 with q-LoRA, a dense and two MoE layers, shared expert, MTP; and a V2-style model
// (no q-LoRA, softmax routing) without MTP through forward_backward_batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "models/init_model.h"
#include "train/lm.h"

namespace r1::train {
namespace {

constexpr int64_t kVocab = 40;

nlohmann::json config(bool q_lora, int64_t mtp, const std::string& scoring,
                      const std::string& topk_method) {
  nlohmann::json j = {{"model_type", "deepseek_v3"},  {"vocab_size", kVocab},
                      {"hidden_size", 24},            {"intermediate_size", 32},
                      {"moe_intermediate_size", 12},  {"num_hidden_layers", 3},
                      {"first_k_dense_replace", 1},   {"moe_layer_freq", 1},
                      {"num_attention_heads", 3},     {"num_key_value_heads", 3},
                      {"n_routed_experts", 4},        {"n_shared_experts", 1},
                      {"num_experts_per_tok", 2},     {"n_group", 2},
                      {"topk_group", 1},              {"routed_scaling_factor", 2.0},
                      {"norm_topk_prob", true},       {"scoring_func", scoring},
                      {"topk_method", topk_method},   {"kv_lora_rank", 10},
                      {"qk_nope_head_dim", 6},        {"qk_rope_head_dim", 4},
                      {"v_head_dim", 5},              {"rope_theta", 10000.0},
                      {"rms_norm_eps", 1e-6},         {"max_position_embeddings", 64},
                      {"tie_word_embeddings", false}, {"num_nextn_predict_layers", mtp},
                      {"bos_token_id", 0},            {"eos_token_id", 1}};
  j["q_lora_rank"] = q_lora ? nlohmann::json(8) : nlohmann::json(nullptr);
  return j;
}

// A TrainLM over a random model whose weights are large enough that every block matters
// (matrices N(0, 0.3), norms 1 + N(0, 0.3), selection bias N(0, 0.05); as deepseek_grad_test).
std::unique_ptr<TrainLM> make_model(const nlohmann::json& cfg, test::TempDir& tmp,
                                    ThreadPool& pool) {
  auto w = models::write_random_deepseek_v3(cfg, tmp.file("init"), 5);
  EXPECT_TRUE(w.ok()) << w.message();
  auto m0 = TrainLM::load(tmp.file("init"), pool);
  EXPECT_TRUE(m0.ok()) << m0.error().message;
  if (!m0.ok()) return nullptr;
  std::mt19937 rng(23);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  for (auto& p : (*m0)->params()) {
    const bool bias = p.name.find("e_score_correction_bias") != std::string::npos;
    for (int64_t i = 0; i < p.data.numel(); ++i)
      p.data.data<float>()[i] = bias ? nd(rng) / 6 : p.decay ? nd(rng) : 1.0f + nd(rng);
  }
  std::filesystem::create_directories(tmp.file("model"));
  auto s = (*m0)->save_weights(tmp.file("model"));
  EXPECT_TRUE(s.ok()) << s.message();
  auto m = TrainLM::load(tmp.file("model"), pool);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? std::move(m).value() : nullptr;
}

void check_batch(const std::string& what, const nlohmann::json& cfg, float mtp_scale) {
  test::TempDir tmp;
  ThreadPool pool(2);
  auto lm = make_model(cfg, tmp, pool);
  ASSERT_NE(lm, nullptr);
  constexpr int64_t B = 3, T = 9;
  std::vector<int32_t> in, tgt;
  std::mt19937 rng(11);
  for (int64_t i = 0; i < B * T; ++i) in.push_back(int32_t(rng() % kVocab));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      tgt.push_back(t + 1 < T ? in[size_t(b * T + t + 1)] : (b == 1 ? -100 : int32_t(rng() % kVocab)));

  // B one-sequence calls.
  lm->zero_grad();
  lm->update_router_bias(0.0);  // clears the expert load
  TrainLM::Losses one;
  for (int64_t b = 0; b < B; ++b) {
    const std::span<const int32_t> si(in.data() + b * T, size_t(T)), st(tgt.data() + b * T, size_t(T));
    const auto l = lm->forward_backward_mtp(si, st, 0.5f, mtp_scale);
    one.main_sum += l.main_sum;
    one.mtp_sum += l.mtp_sum;
    one.main_count += l.main_count;
    one.mtp_count += l.mtp_count;
  }
  std::vector<std::vector<float>> g1;
  for (const auto& p : lm->params()) g1.push_back(p.grad);
  const auto load1 = lm->expert_load();

  // One batched call.
  lm->zero_grad();
  lm->update_router_bias(0.0);
  const auto all = mtp_scale != 0.0f ? lm->forward_backward_mtp(in, tgt, 0.5f, mtp_scale, B)
                                     : [&] {
                                         TrainLM::Losses l;
                                         l.main_sum = lm->forward_backward_batch(
                                             in, tgt, B, 0.5f, &l.main_count);
                                         return l;
                                       }();
  EXPECT_EQ(lm->expert_load(), load1) << what;
  EXPECT_EQ(all.main_count, one.main_count);
  EXPECT_EQ(all.mtp_count, one.mtp_count);
  // Both sides do the same arithmetic in another summation order (GEMMs over B*T rows, weight
  // gradients summed over B*T rows at once instead of per sequence). Reordering a sum of n f32
  // terms moves it by at most ~n * eps * sum|terms|; the losses sum B*T = 27 cross-entropies of
  // at most ~30 nats: 27 * 27 * eps ~ 1e-4 relative is a loose bound; 1e-5 relative is 100x
  // the measured difference (~1e-7 relative).
  EXPECT_NEAR(all.main_sum, one.main_sum, 1e-5 * std::fabs(one.main_sum)) << what;
  EXPECT_NEAR(all.mtp_sum, one.mtp_sum, 1e-5 * std::fabs(one.mtp_sum) + 1e-12) << what;
  // Gradients: per tensor, max |diff| <= 2 * B*T * 64 * eps * max |grad| (n = B*T rows per weight
  // gradient sum, each term itself a product through at most 3 blocks + MTP: a factor 64 for the
  // contractions inside each term).
  double worst_rel = 0;
  size_t i = 0;
  for (const auto& p : lm->params()) {
    const auto& a = p.grad;
    const auto& b = g1[i++];
    ASSERT_EQ(a.size(), b.size());
    double mx = 0, d = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      mx = std::max(mx, double(std::fabs(b[k])));
      d = std::max(d, double(std::fabs(a[k] - b[k])));
    }
    if (!p.trainable) continue;
    EXPECT_GT(mx, 0.0) << what << ": " << p.name << " has no gradient";
    const double tol = 2.0 * double(B * T) * 64.0 * FLT_EPSILON * mx;
    EXPECT_LE(d, tol) << what << ": " << p.name << " max |grad diff| " << d << " (max |grad| "
                      << mx << ")";
    if (mx > 0) worst_rel = std::max(worst_rel, d / mx);
  }
  std::printf("%s: loss %.9g vs %.9g, mtp %.9g vs %.9g, worst grad |diff| / max|grad| %.3g\n",
              what.c_str(), all.main_sum, one.main_sum, all.mtp_sum, one.mtp_sum, worst_rel);
}

TEST(DeepseekBatchTrain, V3MoeMtpEqualsSeparateSequences) {
  check_batch("v3 q-lora moe mtp", config(true, 1, "sigmoid", "noaux_tc"), 0.3f);
}

TEST(DeepseekBatchTrain, V2SoftmaxEqualsSeparateSequences) {
  check_batch("v2 softmax no-mtp", config(false, 0, "softmax", "greedy"), 0.0f);
}

}  // namespace
}  // namespace r1::train

// DeepseekV3::forward_batch (one decode step over B sessions) against B separate forward()
// calls, on tiny random configs built here so the test never skips: dense-only, V3 MoE (sigmoid,
// noaux_tc, groups, q-LoRA), V2-style MoE (softmax, greedy, no q-LoRA), and the V3 MoE config
// with BF16 weights (the absorbed path's per-head W_UK/W_UV copies instead of kv_b_proj).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <random>

#include "kernels/ops.h"
#include "models/batch_test_util.h"
#include "models/deepseek_v3/model.h"

namespace r1::models::deepseek_v3 {
namespace {

constexpr int64_t kVocab = 48;

nlohmann::json tiny_config(bool q_lora, int64_t dense_layers, const std::string& scoring,
                           const std::string& topk_method, bool norm, double scale) {
  nlohmann::json j = {{"model_type", "deepseek_v3"},  {"vocab_size", kVocab},
                      {"hidden_size", 32},            {"intermediate_size", 40},
                      {"moe_intermediate_size", 12},  {"num_hidden_layers", 3},
                      {"first_k_dense_replace", dense_layers}, {"moe_layer_freq", 1},
                      {"num_attention_heads", 4},     {"num_key_value_heads", 4},
                      {"n_routed_experts", 8},        {"n_shared_experts", 1},
                      {"num_experts_per_tok", 2},     {"n_group", 2},
                      {"topk_group", 1},              {"routed_scaling_factor", scale},
                      {"norm_topk_prob", norm},       {"scoring_func", scoring},
                      {"topk_method", topk_method},   {"kv_lora_rank", 12},
                      {"qk_nope_head_dim", 8},        {"qk_rope_head_dim", 4},
                      {"v_head_dim", 6},              {"rope_theta", 10000.0},
                      {"rms_norm_eps", 1e-6},         {"max_position_embeddings", 64},
                      {"tie_word_embeddings", false}, {"num_nextn_predict_layers", 0},
                      {"bos_token_id", 0},            {"eos_token_id", 1}};
  j["q_lora_rank"] = q_lora ? nlohmann::json(16) : nlohmann::json(nullptr);
  return j;
}

// Every tensor of tensor_plan(cfg), random: matrices N(0, 0.3) (large enough that the blocks
// matter to the logits and greedy choices are not near-ties), norms 1 + N(0, 0.1), the selection
// bias N(0, 0.05); stored as `dtype` (F32 or BF16).
class RandomSource : public TensorSource {
 public:
  RandomSource(const Config& cfg, DType dtype, uint64_t seed) {
    std::mt19937 rng{uint32_t(seed)};
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (const auto& spec : tensor_plan(cfg)) {
      if (spec.optional) continue;
      const bool is_norm = spec.name.ends_with("norm.weight");
      const bool is_bias = spec.name.ends_with("e_score_correction_bias");
      const DType dt = is_norm || is_bias ? DType::F32 : dtype;
      Tensor t = Tensor::zeros(dt, spec.shape.data(), int(spec.shape.size()));
      for (int64_t i = 0; i < t.numel(); ++i) {
        const float v = is_norm ? 1.0f + 0.1f * nd(rng) : is_bias ? 0.05f * nd(rng) : 0.3f * nd(rng);
        if (dt == DType::F32) {
          t.data<float>()[i] = v;
        } else {
          t.data<uint16_t>()[i] = f32_to_bf16(v);
        }
      }
      by_name_[spec.name] = t;
    }
  }
  const std::string& label() const override { return label_; }
  NameStyle style() const override { return NameStyle::HF; }
  bool has(const std::string& name) const override { return by_name_.count(name) != 0; }
  Result<Tensor> get(const std::string& name) const override {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return make_error("random: tensor {} not found", name);
    return it->second;
  }
  using TensorSource::get;

 private:
  std::string label_ = "random";
  std::map<std::string, Tensor> by_name_;
};

struct Case {
  std::string name;
  nlohmann::json config;
  DType dtype;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class DsBatch : public ::testing::TestWithParam<Case> {};

// For B in {1, 3, 8}: B sessions prefilled with prompts of different lengths, then 16 greedy
// steps, each both as one forward_batch over B "batched" sessions and as B forward() calls on
// twin sessions. Logits agree within the tolerance below, argmax (greedy) tokens are identical,
// and so are each session's expert counts and routing record.
TEST_P(DsBatch, EqualsSeparateForwards) {
  const Case& c = GetParam();
  auto cfg = parse_config(c.config, c.name);
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  ThreadPool pool(2);
  RandomSource src(*cfg, c.dtype, 7);
  auto m = DeepseekV3::load(*cfg, src, LoadOptions{}, ModelInfo{}, pool);
  ASSERT_TRUE(m.ok()) << m.message();
  DeepseekV3& model = **m;
  const int64_t V = kVocab;
  for (int64_t B : {1, 3, 8}) {
    std::vector<std::unique_ptr<Session>> batched, single;
    std::vector<Session*> ptrs;
    std::vector<int32_t> next(static_cast<size_t>(B));
    std::vector<float> prefill(static_cast<size_t>(V));
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int32_t> prompt;
      for (int64_t t = 0; t < 1 + (b * 5) % 9; ++t) prompt.push_back(int32_t((b * 7 + t * 3 + 2) % V));
      for (auto* list : {&batched, &single}) {
        list->push_back(model.new_session(40));
        auto& s = static_cast<DeepseekV3Session&>(*list->back());
        s.set_record_routing(true);
        model.forward(prompt, s, prefill.data(), false);
      }
      ptrs.push_back(batched.back().get());
      next[size_t(b)] = int32_t(kernels::argmax(prefill.data(), V));
    }
    std::vector<float> got(static_cast<size_t>(B * V)), want(static_cast<size_t>(B * V));
    double worst = 0, worst_tol = 0;
    for (int step = 0; step < 16; ++step) {
      model.forward_batch(next, ptrs, got.data());
      for (int64_t b = 0; b < B; ++b)
        model.forward({&next[size_t(b)], 1}, *single[size_t(b)], want.data() + b * V, false);
      for (int64_t b = 0; b < B; ++b) {
        const float* g = got.data() + b * V;
        const float* w = want.data() + b * V;
        // Both sides compute the same products; only the summation order of the matmuls differs
        // (one GEMM over B rows vs B matrix-vector products). A sum of n f32 terms reordered moves
        // by at most ~n * eps * sum|terms|; here n <= 40 (the widest contraction), and the
        // residual stream and normed logits keep sum|terms| within a few times max|logit| over
        // the model's 3 blocks + head: tolerance 4 layers * 40 * eps * (1 + max|logit|) ~
        // 2e-5 * max|logit|, 5x below the fixtures' tolerance (1e-5 x max|logit| per fixture
        // against a different program).
        float mx = 0;
        double d = 0;
        for (int64_t v = 0; v < V; ++v) {
          mx = std::max(mx, std::fabs(w[v]));
          d = std::max(d, double(std::fabs(g[v] - w[v])));
        }
        const double tol = 4.0 * 40.0 * FLT_EPSILON * (1.0 + mx);
        worst = std::max(worst, d);
        worst_tol = std::max(worst_tol, tol);
        ASSERT_LE(d, tol) << c.name << " B=" << B << " step " << step << " row " << b;
        const int32_t tok = int32_t(kernels::argmax(w, V));
        ASSERT_EQ(int32_t(kernels::argmax(g, V)), tok)
            << c.name << " B=" << B << " step " << step << " row " << b << ": greedy differs";
        next[size_t(b)] = tok;
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      const auto& sb = static_cast<const DeepseekV3Session&>(*batched[size_t(b)]);
      const auto& ss = static_cast<const DeepseekV3Session&>(*single[size_t(b)]);
      EXPECT_EQ(sb.n_past(), ss.n_past());
      EXPECT_EQ(sb.expert_counts(), ss.expert_counts()) << c.name << " B=" << B << " row " << b;
      for (int64_t l = 0; l < cfg->num_hidden_layers; ++l)
        EXPECT_EQ(sb.routing(l), ss.routing(l)) << c.name << " B=" << B << " layer " << l;
    }
    std::printf("%s B=%lld: max |batch - single| %.3g (tolerance up to %.3g)\n", c.name.c_str(),
                static_cast<long long>(B), worst, worst_tol);
  }
  // One forward over a mixed batch (a 5-token prefill, three decodes, a 3-token verification:
  // naive and absorbed MLA spans in one call, MoE routing over all rows) equals the same work
  // sequence by sequence, with the caches a fresh prefill leaves; tolerance as above (3 blocks
  // + head, widest contraction 40).
  test::check_mixed_batch(model, 4, 40, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, DsBatch,
    ::testing::Values(
        Case{"dense", tiny_config(true, 3, "sigmoid", "noaux_tc", true, 2.5), DType::F32},
        Case{"v3_moe", tiny_config(true, 1, "sigmoid", "noaux_tc", true, 2.5), DType::F32},
        Case{"v2_softmax", tiny_config(false, 1, "softmax", "greedy", false, 1.5), DType::F32},
        Case{"v3_moe_bf16", tiny_config(true, 1, "sigmoid", "noaux_tc", true, 2.5),
             DType::BF16}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(DsBatchChecks, SameSessionTwiceIsRejected) {
  auto cfg = parse_config(tiny_config(true, 1, "sigmoid", "noaux_tc", true, 2.5), "cfg");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  ThreadPool pool(1);
  RandomSource src(*cfg, DType::F32, 3);
  auto m = DeepseekV3::load(*cfg, src, LoadOptions{}, ModelInfo{}, pool);
  ASSERT_TRUE(m.ok()) << m.message();
  auto s = (*m)->new_session(8);
  std::vector<Session*> two = {s.get(), s.get()};
  std::vector<int32_t> toks = {2, 3};
  std::vector<float> logits(size_t(2 * kVocab));
  try {
    (*m)->forward_batch(toks, two, logits.data());
    ADD_FAILURE() << "a session given twice was accepted";
  } catch (const CheckError& e) {
    EXPECT_NE(std::string(e.what()).find("given twice"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace r1::models::deepseek_v3

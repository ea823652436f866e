// GRPO stays on-policy after an optimizer step, for every trainable architecture: the log-probs
// the sampler records for a rollout (sample_batch through the policy's inference forward: prefill,
// then one-token batched decode, which for deepseek_v3 is the absorbed-MLA path) equal the
// training forward's log-probs of the same tokens (GrpoPolicy::backward_logprobs: the tape
// forward, naive MLA). A weight copy made at load that the optimizer does not update (the
// absorbed path's W_UK / W_UV split of kv_b_proj, issue 14) makes every decoded token after the
// first come from the old weights, and the two disagree. Tiny random models built in the test:
// it needs nothing from ../shared and never skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "engine/test_util.h"
#include "models/init_model.h"
#include "train/grpo.h"
#include "train/optim.h"

namespace r1::train {
namespace {

constexpr int64_t kVocab = 48;

nlohmann::json decoder_config(const std::string& arch) {
  return {{"model_type", arch},        {"vocab_size", kVocab},
          {"hidden_size", 32},         {"intermediate_size", 48},
          {"num_hidden_layers", 2},    {"num_attention_heads", 4},
          {"num_key_value_heads", 2},  {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},     {"max_position_embeddings", 128},
          {"tie_word_embeddings", arch == "qwen2"}, {"bos_token_id", 0},
          {"eos_token_id", 1}};
}

void rollout_logprobs_match_training(const std::string& arch) {
  test::TempDir tmp;
  ThreadPool pool(2);
  const std::string dir = tmp.file("init");
  // Every architecture through the registry's random init and trainable build.
  auto m = TrainLM::init(arch == "deepseek_v3" ? test::tiny_deepseek_v3_config(kVocab)
                                               : decoder_config(arch),
                         "tiny", 5, dir, pool);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto pol = std::make_unique<GrpoPolicy>(**m);
  const double temperature = 0.8;

  // One optimizer step (as GRPO's: AdamW on the TrainLM's params) that raises the log-prob of a
  // completion. At lr 1e-2 Adam moves every weight by ~1e-2, half the init scale 0.02, so
  // attention computed from stale weights would differ by far more than the tolerance.
  const std::vector<int32_t> seq = {5, 9, 2, 11, 12, 13, 14, 15, 16};
  (*m)->zero_grad();
  pol->backward_logprobs(seq, 3, temperature, [](int64_t, double) { return -1.0; });
  AdamWConfig ac;
  ac.weight_decay = 0;
  AdamW opt((*m)->params(), ac);
  opt.step((*m)->params(), 1e-2);

  // Rollouts with the updated policy, exactly as grpo_loop samples them (no EOS in the way: every
  // row runs the whole max_new, so most of its tokens come from one-token decode steps).
  const std::vector<std::vector<int32_t>> prompts = {{5, 9, 2}, {7, 3}, {5, 9, 2, 4, 8}};
  const std::vector<int32_t> eos = {};
  const std::vector<uint64_t> seeds = {11, 12, 13};
  const int64_t max_new = 12;
  const auto samples = sample_batch(pol->model(), *test::byte_tokenizer(), prompts, eos, max_new, temperature, seeds);
  ASSERT_EQ(samples.size(), prompts.size());

  // Tolerance: both sides are f32 forwards of the same weights; they differ only in summation
  // order (naive vs absorbed MLA: (q W_UK^T) c vs q (W_UK c); whole-sequence vs one-token
  // products; grouped vs per-expert MoE). Each f32 dot product of length n <= 48 carries a relative
  // error of at most n u = 48 * 2^-24 ~ 3e-6 of the sum of |terms| (Higham, Accuracy and
  // Stability, eq. 3.5); through ~8 chained products per block and 3-4 blocks that compounds to
  // ~1e-4 relative of the logits, whose magnitude here is < 1 after the step, and a log-prob
  // (logit - logsumexp, / T) moves by at most 2 max|d logit| / T. So 3e-4 bounds agreement
  // (measured: 7e-8 for all three), while decoding from the pre-step attention weights is off by
  // far more (before the fix, deepseek_v3: 33 of the 36 tokens off, up to 6.5e-2; the 3 that
  // agreed were each row's first, sampled from the prefill's naive path).
  const double tol = 3e-4;
  double worst = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    const Sample& s = samples[b];
    ASSERT_EQ(int64_t(s.tokens.size()), max_new);
    ASSERT_EQ(s.logprobs.size(), s.tokens.size());
    std::vector<int32_t> full = prompts[b];
    full.insert(full.end(), s.tokens.begin(), s.tokens.end());
    (*m)->zero_grad();
    const auto train_lp = pol->backward_logprobs(full, int64_t(prompts[b].size()), temperature,
                                                    [](int64_t, double) { return 0.0; });
    ASSERT_EQ(train_lp.size(), s.logprobs.size());
    for (size_t t = 0; t < train_lp.size(); ++t) {
      worst = std::max(worst, std::abs(train_lp[t] - s.logprobs[t]));
      EXPECT_NEAR(s.logprobs[t], train_lp[t], tol)
          << arch << " row " << b << " completion token " << t << " (id " << s.tokens[t] << ")";
    }
  }
  std::printf("[ %s ] max |sampling - training| log-prob after one step: %.3g\n", arch.c_str(),
              worst);
}

TEST(OnPolicy, RolloutLogprobsMatchTrainingLlama) { rollout_logprobs_match_training("llama"); }
TEST(OnPolicy, RolloutLogprobsMatchTrainingQwen2) { rollout_logprobs_match_training("qwen2"); }
TEST(OnPolicy, RolloutLogprobsMatchTrainingDeepseekV3) {
  rollout_logprobs_match_training("deepseek_v3");
}

}  // namespace
}  // namespace r1::train

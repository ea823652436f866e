#include "train/grpo.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/storage.h"
#include "engine/scheduler.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/optim.h"

namespace r1::train {

std::vector<double> GrpoPolicy::completion_logprobs(std::span<const int32_t> tokens, int64_t P,
                                                    double temperature,
                                                    std::vector<double>* entropy) {
  const int64_t T = int64_t(tokens.size()), V = model().info().vocab_size;
  R1_CHECK(P >= 1 && P <= T, "prompt length {} for {} tokens", P, T);
  std::vector<double> out;
  if (entropy) entropy->clear();
  if (T == P) return out;
  auto s = model().new_session(T);
  std::vector<float> logits(size_t((T - 1) * V));
  model().forward(tokens.first(size_t(T - 1)), *s, logits.data(), true);
  for (int64_t t = P; t < T; ++t) {
    double h = 0;
    out.push_back(grpo::token_logprob(logits.data() + (t - 1) * V, V, tokens[size_t(t)],
                                      temperature, &h, nullptr, 0.0));
    if (entropy) entropy->push_back(h);
  }
  return out;
}

std::vector<double> GrpoPolicy::backward_logprobs(
    std::span<const int32_t> tokens, int64_t P, double temperature,
    const std::function<double(int64_t, double)>& coef_fn, std::vector<double>* entropy) {
  const int64_t T = int64_t(tokens.size()), V = model().info().vocab_size;
  R1_CHECK(P >= 1 && P <= T, "prompt length {} for {} tokens", P, T);
  std::vector<double> out;
  if (entropy) entropy->clear();
  if (T == P) return out;
  float* logits = lm_.forward_train(tokens.first(size_t(T - 1)));
  float* dlogits = lm_.tape().grad(logits, (T - 1) * V);  // zero-filled: prompt rows stay 0
  for (int64_t t = P; t < T; ++t) {
    const float* row = logits + (t - 1) * V;
    double h = 0;
    const double lp = grpo::token_logprob(row, V, tokens[size_t(t)], temperature, &h, nullptr, 0.0);
    const double coef = coef_fn(t - P, lp);
    if (coef != 0.0)
      grpo::token_logprob(row, V, tokens[size_t(t)], temperature, nullptr, dlogits + (t - 1) * V,
                          coef);
    out.push_back(lp);
    if (entropy) entropy->push_back(h);
  }
  lm_.backward();
  return out;
}

std::vector<Sample> sample_batch(models::CausalLM& lm, const tok::Tokenizer& tok,
                                 std::span<const std::vector<int32_t>> prompts,
                                 std::span<const int32_t> eos, int64_t max_new, double temperature,
                                 std::span<const uint64_t> rng_seeds) {
  R1_CHECK(prompts.size() == rng_seeds.size(), "{} prompts, {} seeds", prompts.size(),
           rng_seeds.size());
  R1_CHECK(temperature > 0, "sampling temperature must be > 0");
  engine::Scheduler sched(lm, tok);
  std::vector<engine::SeqId> ids;
  for (size_t b = 0; b < prompts.size(); ++b) {
    engine::SequenceRequest req;
    req.prompt = prompts[b];
    // Plain softmax(logits / T) sampling (the policy GRPO's ratio is taken against): no
    // truncation, no penalty.
    req.opts.sampling = engine::SamplerOptions{};
    req.opts.sampling.temperature = static_cast<float>(temperature);
    req.opts.sampling.seed = rng_seeds[b];
    req.opts.max_tokens = max_new;
    req.opts.eos_ids.assign(eos.begin(), eos.end());
    req.opts.sampling_logprobs = true;
    auto id = sched.add(std::move(req));
    R1_CHECK(id.ok(), "rollout {}: {}", b, id.message());
    ids.push_back(*id);
  }
  sched.run();
  std::vector<Sample> out(prompts.size());
  for (size_t b = 0; b < prompts.size(); ++b) {
    engine::GenerateResult r = sched.take(ids[b]);
    R1_CHECK(r.finish_reason != engine::FinishReason::Error, "rollout {}: {}", b, r.error);
    Sample& s = out[b];
    s.tokens = std::move(r.tokens);
    s.logprobs = std::move(r.sampling_logprobs);
    s.truncated = r.finish_reason == engine::FinishReason::Length;
    s.entropy_sum = r.entropy_sum;
  }
  return out;
}

}  // namespace r1::train

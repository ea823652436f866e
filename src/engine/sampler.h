// Token sampling: a chain of pure steps over one row of logits [V] (repetition penalty,
// frequency/presence penalties, temperature, top-k, top-p, min-p) followed by a draw from a seeded RNG. The steps are exposed
// one by one (for tests and for callers that need a different chain); `sample_token` runs the
// standard chain in Hugging Face's order. Used per decoded token by engine::Sequence (so by the
// scheduler that serves run, chat, serve, eval, GRPO and distillation): one SamplerWorkspace per
// thread, one Rng and one SamplerOptions per sequence.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace r1::engine {

/// Sampling settings for one sequence. The defaults are the neutral chain (plain softmax sampling
/// at temperature 1, no truncation, no penalty); `recommended` gives the CLI's defaults.
struct SamplerOptions {
  float temperature = 1.0f;    // logits / T before softmax; <= 0 means greedy (argmax)
  int32_t top_k = 0;           // keep the k highest logits; <= 0 disables
  float top_p = 1.0f;          // nucleus: smallest top set with cumulative prob >= top_p; >= 1 disables
  float min_p = 0.0f;          // drop tokens with prob < min_p * (top prob); <= 0 disables
  float repeat_penalty = 1.0f; // HF/CTRL penalty on already-seen ids; 1 disables
  int32_t repeat_last_n = 64;  // window of history the penalty looks at; < 0: all history
  float frequency_penalty = 0.0f;  // OpenAI's, per occurrence in the completion; 0 disables
  float presence_penalty = 0.0f;   // OpenAI's, once per id present in the completion; 0 disables
  uint64_t seed = 0;           // seeds the sequence's Rng (see Rng)

  /// The defaults the CLI uses: R1-family checkpoints get the DeepSeek-R1 recommendation
  /// (temperature 0.6, top-p 0.95, nothing else; DeepSeek-R1 model card "Usage
  /// Recommendations"); other models get llama.cpp's defaults (temperature 0.8, top-k 40,
  /// top-p 0.95, min-p 0.05).
  static SamplerOptions recommended(bool is_r1);

  /// True when the chain reduces to argmax (temperature <= 0 or top_k == 1).
  bool greedy() const { return temperature <= 0.0f || top_k == 1; }
};

/// A reproducible random source: std::mt19937_64 (its output sequence is fixed by the C++
/// standard) turned into doubles by taking the top 53 bits, so a seed gives the same draws with
/// every compiler and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  void seed(uint64_t s) { state_.seed(s); }
  /// Uniform in [0, 1).
  double uniform();
  uint64_t next_u64() { return state_(); }

 private:
  std::mt19937_64 state_;
};

/// One candidate token: its id and its (possibly penalised/tempered) logit.
struct TokenLogit {
  int32_t id;
  float logit;
};

/// The working set the chain narrows down. `sorted` means items are in descending logit order
/// (ties: ascending id), which top-k and top-p produce and later steps keep.
struct Candidates {
  std::vector<TokenLogit> items;
  bool sorted = false;
  std::vector<double> weights;  // scratch for draw(), kept to avoid an allocation per token
};

// ---- The steps (pure functions of their inputs; each keeps at least one candidate). ----

/// Fills `c` with every id of `logits` [V] in id order. Errors (nothing else is touched): a NaN
/// or +inf logit (names the first offending id), or all logits -inf. -inf alone is allowed: it
/// is how a caller masks a token out. Cost: O(V), no allocation once `c` has capacity V.
Result<void> init_candidates(std::span<const float> logits, Candidates& c);

/// CTRL/Hugging Face repetition penalty (Keskar et al. 2019, eq. 1; HF
/// RepetitionPenaltyLogitsProcessor): for each distinct id among the last `last_n` entries of
/// `history` (all of it when last_n < 0), a positive logit is divided by `penalty` and a
/// negative one multiplied by it. Precondition: `c` straight from init_candidates (id order);
/// ids outside [0, V) are ignored. `seen` is scratch of size >= V, all zero on entry and on exit.
void apply_repetition_penalty(Candidates& c, std::span<const int32_t> history, float penalty,
                              int32_t last_n, std::vector<uint8_t>& seen);

/// OpenAI's frequency and presence penalties (OpenAI API reference, chat.create
/// "frequency_penalty"/"presence_penalty"; the formula of the "Parameter details" guide):
///   logit[t] -= c[t] * frequency + (c[t] > 0) * presence,
/// c[t] the count of t in `generated` (the completion so far; the prompt does not count). Both
/// may be negative (encouraging repeats). Precondition: `c` in id order (straight from
/// init_candidates); ids outside [0, V) are ignored. `counts` is scratch of size >= V, all zero
/// on entry and on exit. Cost: O(len(generated)).
void apply_frequency_presence_penalty(Candidates& c, std::span<const int32_t> generated,
                                      float frequency, float presence,
                                      std::vector<int32_t>& counts);

/// Divides every logit by `temperature` (> 0).
void apply_temperature(Candidates& c, float temperature);

/// Keeps the k highest logits (ties broken towards the lower id) and leaves them sorted.
/// Cost: O(V + k log k) by partial selection, not a full sort. k <= 0 or k >= size: no-op.
void apply_top_k(Candidates& c, int32_t k);

/// Nucleus sampling (Holtzman et al. 2020, §3.1): keeps the smallest highest-probability prefix
/// whose softmax mass (over the current candidates) reaches p, at least one token, and leaves
/// the kept ones sorted. Cost: O(V) for the normaliser plus selection of a growing prefix
/// (O(V) per doubling), not a full sort. p >= 1: no-op.
void apply_top_p(Candidates& c, float p);

/// Min-p (Nguyen et al. 2024): drops candidates whose probability is below p times the top
/// probability, i.e. logit < max_logit + log(p). Keeps order. p <= 0: no-op.
void apply_min_p(Candidates& c, float p);

/// Softmax probabilities of the candidates, in their current order (f64 for the test oracle).
std::vector<double> candidate_probs(const Candidates& c);

/// Draws one candidate with probability softmax(logit) using one rng.uniform() (inverse CDF over
/// the candidates in their current order). Precondition: non-empty. Returns its id.
int32_t draw(Candidates& c, Rng& rng);

/// The highest logit's id (lowest id among ties, like numpy.argmax).
int32_t argmax(const Candidates& c);

/// A token and its log-probability (natural log).
struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0.0f;
};

/// Log-probabilities of the model's own distribution, log_softmax(logits) over the raw row [V]
/// (before penalties, temperature and truncation: what vLLM returns by default and what
/// `r1 logits` gives after a log-softmax). Returns the log-prob of `chosen` and writes the `k`
/// most likely tokens into `top` (descending, ties towards the lower id; k <= 0: empty).
/// -inf logits get -inf; precondition: no NaN/+inf (init_candidates accepted the row).
/// Cost: O(V log k) in double precision; called only when a request asks for log-probs.
float log_softmax_top(std::span<const float> logits, int32_t chosen, int32_t k,
                      std::vector<TokenLogprob>& top);

/// log softmax(logits / temperature)[chosen] over the whole raw row [V] (no penalty, no
/// truncation): the log-probability of a token under plain temperature sampling, which is what
/// policy-gradient methods need (DeepSeekMath §4.1, GRPO's importance ratio pi_theta / pi_old).
/// Writes that distribution's entropy in nats to `entropy` when non-null. temperature <= 0 is
/// taken as 1. Precondition: no NaN/+inf; chosen in [0, V). Cost: O(V) in double precision.
double tempered_logprob(std::span<const float> logits, int32_t chosen, float temperature,
                        double* entropy);

// ---- The standard chain. ----

/// Scratch reused across calls so that sampling allocates nothing per token. One per thread;
/// sized on first use to the vocabulary.
struct SamplerWorkspace {
  Candidates candidates;
  std::vector<uint8_t> seen;
  std::vector<int32_t> counts;
  std::vector<float> masked;  // a constrained sequence's logits with disallowed tokens at -inf
};

/// Samples the next token from logits [V] (f32): repetition penalty over `history` (the
/// sequence so far: prompt and generated ids), frequency/presence penalties over its last
/// `n_generated` ids (the completion), then greedy argmax if opts.greedy(), else temperature,
/// top-k, top-p, min-p and a draw from `rng` (Hugging Face's processor order; vLLM applies
/// OpenAI's penalties before temperature too).
/// Errors: non-finite logits (see init_candidates); the caller stops that sequence.
/// Cost: O(V) plus the partial selections; no allocation after the first call.
Result<int32_t> sample_token(std::span<const float> logits, std::span<const int32_t> history,
                             const SamplerOptions& opts, Rng& rng, SamplerWorkspace& ws,
                             size_t n_generated = 0);

/// One sequence's sampler: its options, its Rng (seeded from opts.seed) and a workspace.
/// Convenience for single-sequence callers; batched callers share workspaces per thread.
class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opts) : opts_(opts), rng_(opts.seed) {}
  Result<int32_t> sample(std::span<const float> logits, std::span<const int32_t> history) {
    return sample_token(logits, history, opts_, rng_, ws_);
  }
  const SamplerOptions& options() const { return opts_; }

 private:
  SamplerOptions opts_;
  Rng rng_;
  SamplerWorkspace ws_;
};

}  // namespace r1::engine

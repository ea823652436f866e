// Perplexity and KL-divergence statistics with llama-perplexity's conventions (llama.cpp
// tools/perplexity/perplexity.cpp, commit 80fb11ac): the text is cut into chunks of n_ctx tokens,
// each chunk's first token is replaced by BOS when the tokenizer adds one, and only the second half
// of each chunk is scored (positions j in [n_ctx/2, n_ctx-2] predict token j+1), so every scored
// token has at least n_ctx/2 tokens of context. The math only: no model, no files.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/result.h"

namespace r1::eval {

/// How a token stream is cut into chunks.
struct ChunkPlan {
  int64_t n_ctx = 0;    // tokens per chunk
  int64_t n_chunk = 0;  // whole chunks evaluated (a trailing partial chunk is dropped)
  int64_t first = 0;    // first scored position in a chunk: n_ctx / 2
  /// Positions scored per chunk: n_ctx - 1 - first (the last position has no next token).
  int64_t scored_per_chunk() const { return n_ctx - 1 - first; }
};

/// Plans floor(n_tokens / n_ctx) chunks, at most max_chunks when max_chunks > 0. Errors:
/// n_ctx < 3 (a chunk would score nothing), n_tokens < n_ctx (not even one chunk). llama-perplexity
/// asks for 2 * n_ctx tokens; one chunk is enough here.
Result<ChunkPlan> plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks);

/// The tokens the model sees: chunk c is tokens[c*n_ctx, (c+1)*n_ctx) with its first token
/// replaced by bos_id when bos_id >= 0 (llama-perplexity does the same when the vocabulary adds a
/// BOS). Returns [n_chunk * n_ctx]. Precondition: tokens.size() >= n_chunk * n_ctx.
std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, const ChunkPlan& plan,
                                  int32_t bos_id);

/// One row of logits [V] as log-probabilities, in double: log p_i = x_i - max - log sum_j
/// exp(x_j - max). Writes log_p [V] (may be empty to skip) and returns the log-sum-exp
/// (max + log sum exp(x - max)); *argmax gets the first index of the largest logit.
/// Precondition: logits non-empty and finite (R1_CHECK on the size of log_p).
double log_softmax(std::span<const float> logits, std::span<double> log_p, int32_t* argmax);

/// Mean of n samples and the standard error of that mean, from their sum and sum of squares:
/// uncertainty = sqrt((sum2/n - mean^2) / (n - 1)), 0 when n < 2 or the variance rounds to <= 0
/// (llama-perplexity's mean_and_uncertainty without its n > 10 cut-off).
struct MeanUncertainty {
  double mean = 0.0, uncertainty = 0.0;
};
MeanUncertainty mean_and_uncertainty(double sum, double sum2, int64_t n);

/// Running perplexity over scored tokens: PPL = exp(mean NLL), its uncertainty PPL * standard
/// error of the mean NLL (first-order error propagation, as llama-perplexity prints it).
class NllStats {
 public:
  /// Adds one token's negative log-likelihood in nats.
  void add(double nll) {
    sum_ += nll;
    sum2_ += nll * nll;
    ++count_;
  }
  int64_t count() const { return count_; }
  double mean_nll() const { return count_ ? sum_ / double(count_) : 0.0; }
  double ppl() const;
  double ppl_uncertainty() const;

 private:
  double sum_ = 0.0, sum2_ = 0.0;
  int64_t count_ = 0;
};

/// Linear interpolation between the order statistics of sorted values at fraction in [0, 1]
/// (position fraction * (n - 1)), as llama-perplexity's percentile. Precondition: non-empty.
double percentile(std::span<const double> sorted, double fraction);

/// A base model's distribution at one scored position, as stored (see logprob_file.h): log p_i =
/// top_log_p - code_i * step for code_i < kBelowWindow; kBelowWindow marks p_i below the window
/// (taken as 0).
struct BaseRowView {
  int32_t top_id = 0;        // argmax of the base logits
  float top_log_p = 0.0f;    // log p of top_id
  float nll_target = 0.0f;   // the base's exact -log p of the token that follows
  double step = 0.0;         // nats per code
  std::span<const uint16_t> codes;  // [V]
};
inline constexpr uint16_t kBelowWindow = 0xFFFF;

/// Quantises log-probabilities [V] (log_softmax's output) to codes [V]: code_i =
/// round((log p_top - log p_i) / step) when that is < kBelowWindow, else kBelowWindow.
void quantize_log_probs(std::span<const double> log_p, int32_t top_id, double step,
                        std::span<uint16_t> codes);

/// What one scored position contributes to the KL statistics.
struct KldRow {
  double kld = 0.0;       // KL(base || this) in nats, >= 0
  double p_diff = 0.0;    // p(target) - p_base(target), probabilities in [-1, 1]
  double nll = 0.0;       // this model's -log p(target)
  double nll_base = 0.0;  // the base model's -log p(target)
  bool same_top = false;  // argmax equal
};

/// Compares this model's logits [V] with the base's stored row at a position whose next token is
/// `target`. KL(P_base || Q) = sum_i p_i (log p_i - log q_i) (Kullback & Leibler 1951) over the
/// base distribution decoded from its codes and renormalised (so the quantisation of the stored
/// log-probs never makes the estimate negative; against itself it is O(step^2), ~1e-8).
/// Preconditions (R1_CHECK): codes.size() == logits.size(), target and top_id in [0, V).
KldRow compare_to_base(std::span<const float> logits, int32_t target, const BaseRowView& base);

/// All of llama-perplexity's KL-divergence statistics over the compared positions.
struct KldSummary {
  int64_t count = 0;
  MeanUncertainty ppl, ppl_base;   // mean PPL and its uncertainty (PPL * se of mean NLL)
  double log_ppl_correlation = 0;  // Cor(ln PPL(Q), ln PPL(base)) of the two mean NLLs
  MeanUncertainty log_ppl_ratio;   // ln(PPL(Q) / PPL(base)), uncertainty with the covariance
  MeanUncertainty ppl_ratio;       // PPL(Q) / PPL(base)
  MeanUncertainty ppl_diff;        // PPL(Q) - PPL(base)
  MeanUncertainty kld;             // mean KLD
  MeanUncertainty p_diff;          // mean Δp
  MeanUncertainty p_diff_rms;      // sqrt(mean Δp^2)
  MeanUncertainty same_top;        // fraction of positions whose argmax agrees, binomial se
  /// Sorted per-position values, for percentiles (kld_sorted.front() is the minimum).
  std::vector<double> kld_sorted, p_diff_sorted;
};

/// Accumulates KldRows.
class KldStats {
 public:
  void add(const KldRow& r);
  int64_t count() const { return count_; }
  /// Summary over every row added so far; sorting costs O(n log n) (with_percentiles false skips
  /// it, for the per-chunk progress line).
  KldSummary summary(bool with_percentiles = true) const;

 private:
  double sum_nll_ = 0, sum_nll2_ = 0, sum_nll_base_ = 0, sum_nll_base2_ = 0, sum_nll_nll_base_ = 0;
  double sum_kld_ = 0, sum_kld2_ = 0, sum_p_diff_ = 0, sum_p_diff2_ = 0, sum_p_diff4_ = 0;
  int64_t n_same_top_ = 0, count_ = 0;
  std::vector<double> kld_, p_diff_;
};

}  // namespace r1::eval

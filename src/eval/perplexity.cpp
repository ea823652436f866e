// Perplexity and KL-divergence statistics (see perplexity.h for the conventions and sources).
#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace r1::eval {

Result<ChunkPlan> plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks) {
  if (n_ctx < 3)
    return make_error("--ctx {} is too small: a chunk scores its positions n_ctx/2 .. n_ctx-2, so "
                      "it needs at least 3 tokens",
                      n_ctx);
  if (n_tokens < n_ctx)
    return make_error("the text tokenizes to {} tokens, fewer than one chunk of --ctx {} (give a "
                      "longer text or a smaller --ctx)",
                      n_tokens, n_ctx);
  ChunkPlan p;
  p.n_ctx = n_ctx;
  p.n_chunk = n_tokens / n_ctx;
  if (max_chunks > 0) p.n_chunk = std::min(p.n_chunk, max_chunks);
  p.first = n_ctx / 2;
  return p;
}

std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, const ChunkPlan& plan,
                                  int32_t bos_id) {
  const size_t n = size_t(plan.n_chunk * plan.n_ctx);
  R1_CHECK(tokens.size() >= n, "{} tokens for {} chunks of {}", tokens.size(), plan.n_chunk,
           plan.n_ctx);
  std::vector<int32_t> out(tokens.begin(), tokens.begin() + std::ptrdiff_t(n));
  if (bos_id >= 0)
    for (int64_t c = 0; c < plan.n_chunk; ++c) out[size_t(c * plan.n_ctx)] = bos_id;
  return out;
}

double log_softmax(std::span<const float> logits, std::span<double> log_p, int32_t* argmax) {
  R1_CHECK(!logits.empty(), "log_softmax of an empty row");
  R1_CHECK(log_p.empty() || log_p.size() == logits.size(), "log_p has {} entries for {} logits",
           log_p.size(), logits.size());
  size_t imax = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[imax]) imax = i;
  const double m = logits[imax];
  double s = 0.0;
  for (float x : logits) s += std::exp(double(x) - m);
  const double lse = m + std::log(s);
  for (size_t i = 0; i < log_p.size(); ++i) log_p[i] = double(logits[i]) - lse;
  if (argmax) *argmax = int32_t(imax);
  return lse;
}

MeanUncertainty mean_and_uncertainty(double sum, double sum2, int64_t n) {
  MeanUncertainty r;
  if (n < 1) return r;
  r.mean = sum / double(n);
  const double var = sum2 / double(n) - r.mean * r.mean;
  if (n > 1 && var > 0) r.uncertainty = std::sqrt(var / double(n - 1));
  return r;
}

double NllStats::ppl() const { return std::exp(mean_nll()); }

double NllStats::ppl_uncertainty() const {
  return ppl() * mean_and_uncertainty(sum_, sum2_, count_).uncertainty;
}

double percentile(std::span<const double> sorted, double fraction) {
  R1_CHECK(!sorted.empty(), "percentile of no values");
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double p = fraction * double(sorted.size() - 1);
  const size_t i = size_t(p);
  const double f = p - double(i);
  return (1 - f) * sorted[i] + f * sorted[std::min(i + 1, sorted.size() - 1)];
}

void quantize_log_probs(std::span<const double> log_p, int32_t top_id, double step,
                        std::span<uint16_t> codes) {
  R1_CHECK(codes.size() == log_p.size(), "{} codes for {} log-probs", codes.size(), log_p.size());
  R1_CHECK(top_id >= 0 && size_t(top_id) < log_p.size() && step > 0, "top {} of {}, step {}",
           top_id, log_p.size(), step);
  const double top = log_p[size_t(top_id)];
  for (size_t i = 0; i < log_p.size(); ++i) {
    const double c = std::nearbyint((top - log_p[i]) / step);
    codes[i] = c < double(kBelowWindow) ? uint16_t(std::max(c, 0.0)) : kBelowWindow;
  }
}

KldRow compare_to_base(std::span<const float> logits, int32_t target, const BaseRowView& base) {
  const size_t V = logits.size();
  R1_CHECK(base.codes.size() == V, "base row has {} entries, logits {}", base.codes.size(), V);
  R1_CHECK(target >= 0 && size_t(target) < V && base.top_id >= 0 && size_t(base.top_id) < V,
           "target {} / base top {} outside the vocabulary of {}", target, base.top_id, V);
  KldRow r;
  int32_t top = 0;
  const double lse = log_softmax(logits, {}, &top);
  r.same_top = top == base.top_id;
  r.nll = lse - double(logits[size_t(target)]);
  r.nll_base = base.nll_target;
  r.p_diff = std::exp(-r.nll) - std::exp(-r.nll_base);
  // Renormalise the decoded base: Z = sum_i exp(log p_i) over the codes in the window.
  double z = 0.0;
  for (uint16_t c : base.codes)
    if (c != kBelowWindow) z += std::exp(double(base.top_log_p) - double(c) * base.step);
  const double log_z = std::log(z);
  double kl = 0.0;
  for (size_t i = 0; i < V; ++i) {
    const uint16_t c = base.codes[i];
    if (c == kBelowWindow) continue;
    const double lp = double(base.top_log_p) - double(c) * base.step - log_z;
    kl += std::exp(lp) * (lp - (double(logits[i]) - lse));
  }
  r.kld = std::max(kl, 0.0);  // a sum of p log(p/q) over two normalised distributions is >= 0
  return r;
}

void KldStats::add(const KldRow& r) {
  sum_nll_ += r.nll;
  sum_nll2_ += r.nll * r.nll;
  sum_nll_base_ += r.nll_base;
  sum_nll_base2_ += r.nll_base * r.nll_base;
  sum_nll_nll_base_ += r.nll * r.nll_base;
  sum_kld_ += r.kld;
  sum_kld2_ += r.kld * r.kld;
  sum_p_diff_ += r.p_diff;
  const double d2 = r.p_diff * r.p_diff;
  sum_p_diff2_ += d2;
  sum_p_diff4_ += d2 * d2;
  n_same_top_ += r.same_top ? 1 : 0;
  ++count_;
  kld_.push_back(r.kld);
  p_diff_.push_back(r.p_diff);
}

KldSummary KldStats::summary(bool with_percentiles) const {
  KldSummary s;
  const int64_t n = count_;
  s.count = n;
  if (n == 0) return s;
  const MeanUncertainty lq = mean_and_uncertainty(sum_nll_, sum_nll2_, n);
  const MeanUncertainty lb = mean_and_uncertainty(sum_nll_base_, sum_nll_base2_, n);
  s.ppl = {std::exp(lq.mean), std::exp(lq.mean) * lq.uncertainty};
  s.ppl_base = {std::exp(lb.mean), std::exp(lb.mean) * lb.uncertainty};
  // Covariance of the two mean NLLs (same positions, so strongly correlated): the uncertainty
  // of their difference is much smaller than either alone.
  const double cov =
      n > 1 ? (sum_nll_nll_base_ / double(n) - lq.mean * lb.mean) / double(n - 1) : 0.0;
  const double denom = lq.uncertainty * lb.uncertainty;
  s.log_ppl_correlation = denom > 0 ? cov / denom : 0.0;
  const double ratio_var =
      lq.uncertainty * lq.uncertainty + lb.uncertainty * lb.uncertainty - 2 * cov;
  s.log_ppl_ratio = {lq.mean - lb.mean, std::sqrt(std::max(ratio_var, 0.0))};
  const double ratio = std::exp(s.log_ppl_ratio.mean);
  s.ppl_ratio = {ratio, ratio * s.log_ppl_ratio.uncertainty};
  const double diff_var = s.ppl.uncertainty * s.ppl.uncertainty +
                          s.ppl_base.uncertainty * s.ppl_base.uncertainty -
                          2 * s.ppl.mean * s.ppl_base.mean * cov;
  s.ppl_diff = {s.ppl.mean - s.ppl_base.mean, std::sqrt(std::max(diff_var, 0.0))};
  s.kld = mean_and_uncertainty(sum_kld_, sum_kld2_, n);
  s.p_diff = mean_and_uncertainty(sum_p_diff_, sum_p_diff2_, n);
  const MeanUncertainty mse = mean_and_uncertainty(sum_p_diff2_, sum_p_diff4_, n);
  const double rms = std::sqrt(mse.mean);
  s.p_diff_rms = {rms, rms > 0 ? 0.5 / rms * mse.uncertainty : 0.0};
  const double same = double(n_same_top_) / double(n);
  s.same_top = {same, n > 1 ? std::sqrt(same * (1 - same) / double(n - 1)) : 0.0};
  if (with_percentiles) {
    s.kld_sorted = kld_;
    s.p_diff_sorted = p_diff_;
    std::sort(s.kld_sorted.begin(), s.kld_sorted.end());
    std::sort(s.p_diff_sorted.begin(), s.p_diff_sorted.end());
  }
  return s;
}

}  // namespace r1::eval

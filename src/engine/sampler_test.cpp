// Sampler tests: each step against distributions computed here from first principles (full sort,
// softmax in double), sampling frequencies against those distributions, determinism, NaN.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

namespace r1::engine {
namespace {

// Reference chain on a full sort, written independently of sampler.cpp: returns p[id] (0 for
// dropped ids) after temperature, top-k, top-p and min-p.
std::vector<double> reference_probs(std::vector<float> logits, float temperature, int top_k,
                                    float top_p, float min_p) {
  const size_t V = logits.size();
  std::vector<double> l(V);
  for (size_t i = 0; i < V; ++i) l[i] = static_cast<double>(logits[i]) / temperature;
  std::vector<size_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return l[a] > l[b]; });
  size_t keep = V;
  if (top_k > 0) keep = std::min<size_t>(keep, top_k);
  auto softmax_over = [&](size_t n) {
    std::vector<double> p(n);
    double z = 0;
    for (size_t i = 0; i < n; ++i) z += p[i] = std::exp(l[order[i]] - l[order[0]]);
    for (auto& x : p) x /= z;
    return p;
  };
  if (top_p < 1.0f) {
    const auto p = softmax_over(keep);
    double cum = 0;
    size_t n = keep;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[i];
      if (cum >= top_p) {
        n = i + 1;
        break;
      }
    }
    keep = n;
  }
  if (min_p > 0.0f) {
    const auto p = softmax_over(keep);
    size_t n = 0;
    while (n < keep && p[n] >= min_p * p[0]) ++n;
    keep = n;
  }
  const auto p = softmax_over(keep);
  std::vector<double> out(V, 0.0);
  for (size_t i = 0; i < keep; ++i) out[order[i]] = p[i];
  return out;
}

// Draws n samples and checks each id's frequency against `expected` within 5 binomial sigma
// (plus a small absolute slack), and that ids with zero probability never appear.
void check_frequencies(const std::vector<float>& logits, const SamplerOptions& opts,
                       const std::vector<double>& expected, int n = 100000) {
  Rng rng(opts.seed);
  SamplerWorkspace ws;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    auto r = sample_token(logits, {}, opts, rng, ws);
    ASSERT_TRUE(r.ok()) << r.message();
    ++counts[*r];
  }
  for (size_t id = 0; id < logits.size(); ++id) {
    const double p = expected[id];
    const double freq = static_cast<double>(counts[id]) / n;
    if (p == 0.0) {
      EXPECT_EQ(counts[id], 0) << "id " << id << " should have been removed";
    } else {
      const double sigma = std::sqrt(p * (1 - p) / n);
      EXPECT_NEAR(freq, p, 5 * sigma + 1e-4) << "id " << id;
    }
  }
}

int32_t id_of(const Result<int32_t>& r) {
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? r.value() : -1;
}

const std::vector<float> kLogits = {1.0f, 2.5f, -0.5f, 0.0f, 2.0f, -3.0f, 1.5f, 0.7f};

TEST(Sampler, InitRejectsNonFinite) {
  Candidates c;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto r = init_candidates(std::vector<float>{0.0f, nan, 1.0f}, c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("id 1"), std::string::npos) << r.message();
  EXPECT_FALSE(init_candidates(std::vector<float>{inf, 0.0f}, c).ok());
  EXPECT_FALSE(init_candidates(std::vector<float>{-inf, -inf}, c).ok());
  EXPECT_TRUE(init_candidates(std::vector<float>{-inf, 0.0f}, c).ok());  // a masked token
  EXPECT_FALSE(init_candidates(std::vector<float>{}, c).ok());

  // The whole chain reports the error instead of crashing, greedy or not.
  SamplerWorkspace ws;
  Rng rng(1);
  SamplerOptions greedy;
  greedy.temperature = 0;
  EXPECT_FALSE(sample_token(std::vector<float>{nan, nan}, {}, greedy, rng, ws).ok());
  EXPECT_FALSE(sample_token(std::vector<float>{0.0f, nan}, {}, SamplerOptions{}, rng, ws).ok());
}

TEST(Sampler, MaskedTokenNeverDrawn) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits = {0.0f, -inf, 0.0f};
  check_frequencies(logits, SamplerOptions{}, {0.5, 0.0, 0.5}, 20000);
}

TEST(Sampler, GreedyIsArgmaxLowestIdOnTies) {
  SamplerOptions o;
  o.temperature = 0.0f;
  Rng rng(7);
  SamplerWorkspace ws;
  EXPECT_EQ(id_of(sample_token(kLogits, {}, o, rng, ws)), 1);
  std::vector<float> tie = {0.0f, 3.0f, 1.0f, 3.0f};
  EXPECT_EQ(id_of(sample_token(tie, {}, o, rng, ws)), 1);
  // top_k == 1 is greedy too, whatever the temperature.
  SamplerOptions k1;
  k1.top_k = 1;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(id_of(sample_token(kLogits, {}, k1, rng, ws)), 1);
}

TEST(Sampler, RepetitionPenaltyHandComputed) {
  // HF: positive logits divided, negative multiplied, each distinct id once.
  Candidates c;
  ASSERT_TRUE(init_candidates(std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f, 0.0f}, c).ok());
  std::vector<uint8_t> seen;
  const std::vector<int32_t> history = {0, 1, 0, 4, 99, -1};  // 99 and -1 are out of range
  apply_repetition_penalty(c, history, 2.0f, -1, seen);
  EXPECT_FLOAT_EQ(c.items[0].logit, 1.0f);
  EXPECT_FLOAT_EQ(c.items[1].logit, -2.0f);
  EXPECT_FLOAT_EQ(c.items[2].logit, 0.5f);
  EXPECT_FLOAT_EQ(c.items[3].logit, 3.0f);
  EXPECT_FLOAT_EQ(c.items[4].logit, 0.0f);
  for (auto s : seen) EXPECT_EQ(s, 0);  // scratch left clean

  // A window of the last 2 entries of {1, 0, 4} sees only {0, 4}.
  ASSERT_TRUE(init_candidates(std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f, 1.0f}, c).ok());
  apply_repetition_penalty(c, std::vector<int32_t>{1, 0, 4}, 2.0f, 2, seen);
  EXPECT_FLOAT_EQ(c.items[0].logit, 1.0f);
  EXPECT_FLOAT_EQ(c.items[1].logit, -1.0f);
  EXPECT_FLOAT_EQ(c.items[4].logit, 0.5f);
}

TEST(Sampler, RepetitionPenaltyChangesGreedyChoice) {
  SamplerOptions o;
  o.temperature = 0.0f;
  o.repeat_penalty = 1.5f;
  Rng rng(0);
  SamplerWorkspace ws;
  // id 1 (2.5) penalised to 1.667 < id 4 (2.0).
  EXPECT_EQ(id_of(sample_token(kLogits, std::vector<int32_t>{1}, o, rng, ws)), 4);
  o.repeat_last_n = 0;  // disabled
  EXPECT_EQ(id_of(sample_token(kLogits, std::vector<int32_t>{1}, o, rng, ws)), 1);
}

TEST(Sampler, TemperatureFrequencies) {
  for (float t : {1.0f, 0.5f, 2.0f}) {
    SamplerOptions o;
    o.temperature = t;
    o.seed = 11;
    check_frequencies(kLogits, o, reference_probs(kLogits, t, 0, 1.0f, 0.0f));
  }
}

TEST(Sampler, TopKFrequencies) {
  SamplerOptions o;
  o.top_k = 3;
  o.seed = 3;
  const auto expected = reference_probs(kLogits, 1.0f, 3, 1.0f, 0.0f);
  EXPECT_EQ(std::count_if(expected.begin(), expected.end(), [](double p) { return p > 0; }), 3);
  check_frequencies(kLogits, o, expected);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  // probs 0.5, 0.3, 0.15, 0.05 as logits log(p).
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  struct Case {
    float p;
    std::set<int32_t> kept;
  };
  for (const Case& k : {Case{0.4f, {1}}, Case{0.7f, {1, 3}}, Case{0.9f, {1, 3, 0}},
                        Case{0.99f, {1, 3, 0, 2}}, Case{0.0f, {1}}}) {
    Candidates c;
    ASSERT_TRUE(init_candidates(logits, c).ok());
    apply_top_p(c, k.p);
    std::set<int32_t> got;
    for (const auto& t : c.items) got.insert(t.id);
    EXPECT_EQ(got, k.kept) << "p=" << k.p;
    EXPECT_TRUE(c.sorted);
  }
  SamplerOptions o;
  o.top_p = 0.7f;
  o.seed = 5;
  check_frequencies(logits, o, reference_probs(logits, 1.0f, 0, 0.7f, 0.0f));
}

TEST(Sampler, MinPRelativeToTop) {
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  Candidates c;
  ASSERT_TRUE(init_candidates(logits, c).ok());
  apply_min_p(c, 0.2f);  // threshold 0.1: drops only the 0.05 token
  std::set<int32_t> got;
  for (const auto& t : c.items) got.insert(t.id);
  EXPECT_EQ(got, (std::set<int32_t>{0, 1, 3}));
  SamplerOptions o;
  o.min_p = 0.4f;  // threshold 0.2: keeps 0.5 and 0.3
  o.seed = 9;
  const auto expected = reference_probs(logits, 1.0f, 0, 1.0f, 0.4f);
  EXPECT_NEAR(expected[1], 0.5 / 0.8, 1e-6);
  check_frequencies(logits, o, expected);
}

TEST(Sampler, FullChainFrequencies) {
  SamplerOptions o;
  o.temperature = 0.7f;
  o.top_k = 6;
  o.top_p = 0.9f;
  o.min_p = 0.05f;
  o.seed = 1234;
  check_frequencies(kLogits, o, reference_probs(kLogits, 0.7f, 6, 0.9f, 0.05f));
}

// Partial selection on a large vocabulary keeps exactly the set a full sort keeps.
TEST(Sampler, LargeVocabTruncationMatchesFullSort) {
  Rng gen(42);
  std::vector<float> logits(50000);
  for (auto& l : logits) l = static_cast<float>(gen.uniform() * 12.0 - 6.0);
  for (float p : {0.5f, 0.95f, 0.999f}) {
    Candidates c;
    ASSERT_TRUE(init_candidates(logits, c).ok());
    apply_temperature(c, 0.6f);
    apply_top_p(c, p);
    const auto ref = reference_probs(logits, 0.6f, 0, p, 0.0f);
    std::set<int32_t> want;
    for (size_t i = 0; i < ref.size(); ++i)
      if (ref[i] > 0) want.insert(static_cast<int32_t>(i));
    std::set<int32_t> got;
    for (const auto& t : c.items) got.insert(t.id);
    // The boundary token can differ only if its cumulative sum sits within rounding of p.
    EXPECT_LE(std::max(got.size(), want.size()) - std::min(got.size(), want.size()), 1u);
    std::vector<int32_t> diff;
    std::set_symmetric_difference(got.begin(), got.end(), want.begin(), want.end(),
                                  std::back_inserter(diff));
    EXPECT_LE(diff.size(), 1u) << "p=" << p;
    for (size_t i = 1; i < c.items.size(); ++i)
      EXPECT_GE(c.items[i - 1].logit, c.items[i].logit);
  }
  Candidates c;
  ASSERT_TRUE(init_candidates(logits, c).ok());
  apply_top_k(c, 100);
  const auto ref = reference_probs(logits, 1.0f, 100, 1.0f, 0.0f);
  ASSERT_EQ(c.items.size(), 100u);
  for (const auto& t : c.items) EXPECT_GT(ref[t.id], 0.0);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplerOptions o = SamplerOptions::recommended(false);
  o.seed = 77;
  auto run = [&](uint64_t seed) {
    o.seed = seed;
    Sampler s(o);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(id_of(s.sample(kLogits, out)));
    return out;
  };
  EXPECT_EQ(run(77), run(77));
  EXPECT_NE(run(77), run(78));
  // The Rng's stream is fixed by the standard (mt19937_64's 10000th output is specified).
  std::mt19937_64 ref;
  std::mt19937_64::result_type x = 0;
  for (int i = 0; i < 10000; ++i) x = ref();
  EXPECT_EQ(x, 9981545732273789042ull);
}

TEST(Sampler, RecommendedDefaults) {
  const auto r1 = SamplerOptions::recommended(true);
  EXPECT_FLOAT_EQ(r1.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r1.top_p, 0.95f);
  EXPECT_EQ(r1.top_k, 0);
  EXPECT_FALSE(r1.greedy());
}

// OpenAI's penalties, computed here by hand: counts over the completion only, the presence
// penalty once per distinct id, both subtracted from the raw logit; the scratch ends all zero.
TEST(Sampler, FrequencyAndPresencePenalties) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, -1.0f};
  Candidates c;
  ASSERT_TRUE(init_candidates(logits, c).ok());
  std::vector<int32_t> counts;
  const std::vector<int32_t> generated = {2, 2, 2, 0, 7, -1};  // 7 and -1 are out of range
  apply_frequency_presence_penalty(c, generated, 0.5f, 0.25f, counts);
  EXPECT_FLOAT_EQ(c.items[0].logit, 1.0f - 1 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(c.items[1].logit, 2.0f);
  EXPECT_FLOAT_EQ(c.items[2].logit, 3.0f - 3 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(c.items[3].logit, -1.0f);
  EXPECT_TRUE(std::all_of(counts.begin(), counts.end(), [](int32_t n) { return n == 0; }));
  // Negative values encourage repeats.
  ASSERT_TRUE(init_candidates(logits, c).ok());
  apply_frequency_presence_penalty(c, std::vector<int32_t>{1}, -1.0f, -0.5f, counts);
  EXPECT_FLOAT_EQ(c.items[1].logit, 3.5f);
  // In the chain: greedy picks id 2 alone, but not once it has been generated three times, and
  // the prompt part of the history does not count.
  SamplerOptions o;
  o.temperature = 0.0f;
  o.frequency_penalty = 0.5f;
  o.presence_penalty = 0.25f;
  Rng rng;
  SamplerWorkspace ws;
  const std::vector<int32_t> history = {2, 2, 2, 2, 2, 2};
  EXPECT_EQ(id_of(sample_token(logits, history, o, rng, ws, /*n_generated=*/0)), 2);
  EXPECT_EQ(id_of(sample_token(logits, history, o, rng, ws, /*n_generated=*/1)), 2);  // 2.25
  EXPECT_EQ(id_of(sample_token(logits, history, o, rng, ws, /*n_generated=*/3)), 1);  // 1.25 < 2
}

// log_softmax_top against a double-precision log-softmax and a full sort.
TEST(Sampler, LogSoftmaxTopIsTheRawDistribution) {
  std::vector<float> logits(1000);
  Rng rng(5);
  for (auto& l : logits) l = static_cast<float>(rng.uniform() * 20.0 - 10.0);
  logits[17] = logits[18];  // a tie: the lower id first
  logits[3] = -std::numeric_limits<float>::infinity();
  double m = -1e300, z = 0.0;
  for (float l : logits) m = std::max(m, static_cast<double>(l));
  for (float l : logits) z += std::exp(static_cast<double>(l) - m);
  auto ref = [&](int id) { return static_cast<double>(logits[id]) - m - std::log(z); };
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  std::vector<TokenLogprob> top;
  for (int id : {0, 17, 999}) {
    EXPECT_NEAR(log_softmax_top(logits, id, 20, top), ref(id), 1e-5);
    ASSERT_EQ(top.size(), 20u);
    for (size_t i = 0; i < top.size(); ++i) {
      EXPECT_EQ(top[i].id, order[i]) << i;
      EXPECT_NEAR(top[i].logprob, ref(order[i]), 1e-5);
    }
  }
  EXPECT_EQ(log_softmax_top(logits, 3, 0, top), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(top.empty());
  // Probabilities of the whole row sum to one.
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) sum += std::exp(log_softmax_top(logits, static_cast<int32_t>(i), 0, top));
  EXPECT_NEAR(sum, 1.0, 1e-4);
}

// tempered_logprob by hand: logits {1, 2, 3} at T = 0.5 are x = {2, 4, 6}; with
// Z = e^2 + e^4 + e^6, log p_i = x_i - log Z and the entropy is -sum p_i log p_i.
TEST(Sampler, TemperedLogprobHandComputed) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const double x[3] = {2.0, 4.0, 6.0};
  const double log_z = std::log(std::exp(2.0) + std::exp(4.0) + std::exp(6.0));
  double h_ref = 0.0;
  for (const double xi : x) h_ref -= std::exp(xi - log_z) * (xi - log_z);
  for (int32_t id = 0; id < 3; ++id) {
    double h = -1.0;
    EXPECT_NEAR(tempered_logprob(logits, id, 0.5f, &h), x[id] - log_z, 1e-12);
    EXPECT_NEAR(h, h_ref, 1e-12);
  }
  // Greedy (T <= 0) is taken as T = 1: log softmax of the raw row.
  const double log_z1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(tempered_logprob(logits, 2, 0.0f, nullptr), 3.0 - log_z1, 1e-12);
}

}  // namespace
}  // namespace r1::engine

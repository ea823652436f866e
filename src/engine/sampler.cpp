// The sampling chain's steps. Everything works on a copy of the logits row held in a reused
// Candidates buffer; truncation uses partial selection (nth_element) so that a 150K vocabulary
// never gets fully sorted per token.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace r1::engine {
namespace {

// Descending logit, ties towards the lower id: a strict weak order, so selection is
// deterministic whatever the standard library's algorithm does with equal keys.
bool better(const TokenLogit& a, const TokenLogit& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float max_logit(const Candidates& c) {
  if (c.sorted) return c.items.front().logit;
  float m = -std::numeric_limits<float>::infinity();
  for (const auto& t : c.items) m = std::max(m, t.logit);
  return m;
}

}  // namespace

SamplerOptions SamplerOptions::recommended(bool is_r1) {
  SamplerOptions o;
  if (is_r1) {
    o.temperature = 0.6f;
    o.top_p = 0.95f;
  } else {
    o.temperature = 0.8f;
    o.top_k = 40;
    o.top_p = 0.95f;
    o.min_p = 0.05f;
  }
  return o;
}

double Rng::uniform() { return static_cast<double>(state_() >> 11) * 0x1.0p-53; }

Result<void> init_candidates(std::span<const float> logits, Candidates& c) {
  if (logits.empty()) return make_error("logits: empty row");
  bool any_finite = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (std::isnan(l) || l == std::numeric_limits<float>::infinity()) {
      return make_error("logits: non-finite value {} at token id {} (the model produced NaN/inf)",
                        l, i);
    }
    any_finite |= l != -std::numeric_limits<float>::infinity();
  }
  if (!any_finite) return make_error("logits: every token is -inf (nothing can be sampled)");
  c.items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c.items[i] = {static_cast<int32_t>(i), logits[i]};
  c.sorted = false;
  return ok_result();
}

void apply_repetition_penalty(Candidates& c, std::span<const int32_t> history, float penalty,
                              int32_t last_n, std::vector<uint8_t>& seen) {
  if (penalty == 1.0f || last_n == 0 || history.empty()) return;
  R1_CHECK(!c.sorted, "repetition penalty needs candidates in id order");
  const int64_t V = static_cast<int64_t>(c.items.size());
  if (static_cast<int64_t>(seen.size()) < V) seen.assign(V, 0);
  const size_t n = last_n < 0 ? history.size() : std::min<size_t>(history.size(), last_n);
  const auto window = history.subspan(history.size() - n);
  for (const int32_t id : window) {
    if (id < 0 || id >= V || seen[id]) continue;
    seen[id] = 1;
    float& l = c.items[id].logit;
    l = l > 0.0f ? l / penalty : l * penalty;
  }
  for (const int32_t id : window) {
    if (id >= 0 && id < V) seen[id] = 0;
  }
}

void apply_frequency_presence_penalty(Candidates& c, std::span<const int32_t> generated,
                                      float frequency, float presence,
                                      std::vector<int32_t>& counts) {
  if ((frequency == 0.0f && presence == 0.0f) || generated.empty()) return;
  R1_CHECK(!c.sorted, "frequency/presence penalties need candidates in id order");
  const int64_t V = static_cast<int64_t>(c.items.size());
  if (static_cast<int64_t>(counts.size()) < V) counts.assign(V, 0);
  for (const int32_t id : generated) {
    if (id >= 0 && id < V) ++counts[id];
  }
  for (const int32_t id : generated) {
    if (id < 0 || id >= V || counts[id] == 0) continue;
    c.items[id].logit -= static_cast<float>(counts[id]) * frequency + presence;
    counts[id] = 0;  // each distinct id is penalised once, and the scratch ends all zero
  }
}

void apply_temperature(Candidates& c, float temperature) {
  R1_CHECK(temperature > 0.0f, "temperature {} must be > 0", temperature);
  if (temperature == 1.0f) return;
  const float inv = 1.0f / temperature;
  for (auto& t : c.items) t.logit *= inv;
}

void apply_top_k(Candidates& c, int32_t k) {
  auto& v = c.items;
  if (k <= 0 || static_cast<size_t>(k) >= v.size()) return;
  if (!c.sorted) {
    std::nth_element(v.begin(), v.begin() + k, v.end(), better);
    v.resize(k);
    std::sort(v.begin(), v.end(), better);
    c.sorted = true;
  } else {
    v.resize(k);
  }
}

void apply_top_p(Candidates& c, float p) {
  auto& v = c.items;
  if (p >= 1.0f || v.size() <= 1) return;
  const double m = max_logit(c);
  double z = 0.0;
  for (const auto& t : v) z += std::exp(static_cast<double>(t.logit) - m);
  const double target = static_cast<double>(p) * z;
  // Select, sort and scan prefixes of growing size; the nucleus is usually small, so one or two
  // rounds of nth_element over the remainder settle it.
  double cum = 0.0;
  size_t done = 0;
  size_t chunk = 64;
  const size_t n = v.size();
  while (done < n) {
    const size_t end = std::min(n, done + chunk);
    if (!c.sorted) {
      std::nth_element(v.begin() + done, v.begin() + end, v.end(), better);
      std::sort(v.begin() + done, v.begin() + end, better);
    }
    for (size_t i = done; i < end; ++i) {
      cum += std::exp(static_cast<double>(v[i].logit) - m);
      if (cum >= target) {
        v.resize(i + 1);
        c.sorted = true;
        return;
      }
    }
    done = end;
    chunk *= 4;
  }
  c.sorted = true;  // rounding kept everything; it is sorted now
}

void apply_min_p(Candidates& c, float p) {
  if (p <= 0.0f || c.items.size() <= 1) return;
  const float threshold = max_logit(c) + std::log(std::min(p, 1.0f));
  auto& v = c.items;
  // The top token always survives (its logit is the max and log(p) <= 0 for p <= 1).
  v.erase(std::remove_if(v.begin(), v.end(),
                         [threshold](const TokenLogit& t) { return t.logit < threshold; }),
          v.end());
  R1_CHECK(!v.empty(), "min-p {} removed every candidate", p);
}

std::vector<double> candidate_probs(const Candidates& c) {
  std::vector<double> p(c.items.size());
  const double m = max_logit(c);
  double z = 0.0;
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(static_cast<double>(c.items[i].logit) - m);
  for (auto& x : p) x /= z;
  return p;
}

int32_t draw(Candidates& c, Rng& rng) {
  R1_CHECK(!c.items.empty(), "draw from no candidates");
  const double m = max_logit(c);
  auto& w = c.weights;
  w.resize(c.items.size());
  double z = 0.0;
  for (size_t i = 0; i < w.size(); ++i) z += w[i] = std::exp(static_cast<double>(c.items[i].logit) - m);
  const double u = rng.uniform() * z;
  double cum = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    cum += w[i];
    if (u < cum) return c.items[i].id;
  }
  // Rounding left u at the very top: take the last candidate with non-zero weight.
  for (size_t i = w.size(); i-- > 0;) {
    if (w[i] > 0.0) return c.items[i].id;
  }
  return c.items.front().id;
}

int32_t argmax(const Candidates& c) {
  R1_CHECK(!c.items.empty(), "argmax of no candidates");
  if (c.sorted) return c.items.front().id;
  TokenLogit best = c.items.front();
  for (const auto& t : c.items) {
    if (better(t, best)) best = t;
  }
  return best.id;
}

float log_softmax_top(std::span<const float> logits, int32_t chosen, int32_t k,
                      std::vector<TokenLogprob>& top) {
  top.clear();
  const size_t V = logits.size();
  double m = -std::numeric_limits<double>::infinity();
  for (const float l : logits) m = std::max(m, static_cast<double>(l));
  double z = 0.0;
  for (const float l : logits) z += std::exp(static_cast<double>(l) - m);
  const double log_z = m + std::log(z);
  auto lp = [&](size_t i) { return static_cast<float>(static_cast<double>(logits[i]) - log_z); };
  if (k > 0) {
    // A min-heap of the best k seen so far: one comparison per id for the usual rejections.
    const size_t kk = std::min<size_t>(static_cast<size_t>(k), V);
    std::vector<TokenLogit> heap;
    heap.reserve(kk);
    auto worse_first = [](const TokenLogit& a, const TokenLogit& b) { return better(a, b); };
    for (size_t i = 0; i < V; ++i) {
      const TokenLogit t{static_cast<int32_t>(i), logits[i]};
      if (heap.size() < kk) {
        heap.push_back(t);
        std::push_heap(heap.begin(), heap.end(), worse_first);
      } else if (better(t, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), worse_first);
        heap.back() = t;
        std::push_heap(heap.begin(), heap.end(), worse_first);
      }
    }
    std::sort(heap.begin(), heap.end(), better);
    for (const auto& t : heap) top.push_back({t.id, lp(static_cast<size_t>(t.id))});
  }
  if (chosen < 0 || static_cast<size_t>(chosen) >= V) return -std::numeric_limits<float>::infinity();
  return lp(static_cast<size_t>(chosen));
}

double tempered_logprob(std::span<const float> logits, int32_t chosen, float temperature,
                        double* entropy) {
  R1_CHECK(chosen >= 0 && static_cast<size_t>(chosen) < logits.size(), "token {} outside [0, {})",
           chosen, logits.size());
  const double T = temperature > 0.0f ? static_cast<double>(temperature) : 1.0;
  double m = -std::numeric_limits<double>::infinity();
  for (const float l : logits) m = std::max(m, static_cast<double>(l) / T);
  double z = 0.0, ez = 0.0;  // sum of e^x and of x e^x, x = l / T - m
  for (const float l : logits) {
    const double x = static_cast<double>(l) / T - m;
    const double e = std::exp(x);
    z += e;
    if (e > 0.0) ez += e * x;
  }
  const double log_z = std::log(z);
  if (entropy) *entropy = log_z - ez / z;
  return static_cast<double>(logits[static_cast<size_t>(chosen)]) / T - m - log_z;
}

Result<int32_t> sample_token(std::span<const float> logits, std::span<const int32_t> history,
                             const SamplerOptions& opts, Rng& rng, SamplerWorkspace& ws,
                             size_t n_generated) {
  Candidates& c = ws.candidates;
  R1_TRY(init_candidates(logits, c));
  apply_repetition_penalty(c, history, opts.repeat_penalty, opts.repeat_last_n, ws.seen);
  n_generated = std::min(n_generated, history.size());
  apply_frequency_presence_penalty(c, history.subspan(history.size() - n_generated),
                                   opts.frequency_penalty, opts.presence_penalty, ws.counts);
  if (opts.greedy()) return argmax(c);
  apply_temperature(c, opts.temperature);
  apply_top_k(c, opts.top_k);
  apply_top_p(c, opts.top_p);
  apply_min_p(c, opts.min_p);
  return draw(c, rng);
}

}  // namespace r1::engine

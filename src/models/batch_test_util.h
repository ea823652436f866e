// Test helper shared by the architectures' tests: a mixed Batch (one sequence prefilling 5
// tokens after a cached prefix, three decoding one token each, one verifying 3 tokens) in ONE
// forward against the same work done sequence by sequence on twin sessions, and the caches it
// leaves against a fresh prefill of the same history.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/model.h"

namespace r1::test {

using models::Batch;
using models::CausalLM;
using models::ForwardContext;
using models::Session;

/// Largest |a - b| over n floats, and the largest |b|.
inline std::pair<double, double> max_diff(const float* a, const float* b, int64_t n) {
  double d = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    mx = std::max(mx, double(std::fabs(b[i])));
  }
  return {d, mx};
}

/// Runs the mixed batch on `m` (vocabulary >= 16) and checks it. Tolerance: both sides compute
/// the same products and differ only in the summation order of the matmuls (one GEMM over all
/// rows vs one per sequence); a reordered sum of n f32 terms moves by at most ~n * eps *
/// sum|terms|; with contractions of at most `max_k` terms through `depth` blocks + head, and the
/// normed streams keeping sum|terms| within a few times max|logit|: depth * max_k * eps *
/// (1 + max|logit|).
inline void check_mixed_batch(CausalLM& m, int64_t depth, int64_t max_k, const std::string& name) {
  const int64_t V = m.info().vocab_size;
  auto ids = [&](int64_t n, int64_t seed) {
    std::vector<int32_t> v;
    for (int64_t t = 0; t < n; ++t) v.push_back(int32_t((seed * 7 + t * 5 + 3) % V));
    return v;
  };
  // Sequence i: history[i] is cached first, then new[i] runs in the batch.
  const std::vector<int64_t> cached = {2, 4, 7, 3, 5};
  const std::vector<int64_t> fresh = {5, 1, 1, 1, 3};  // prefill, 3 decodes, verification
  std::vector<std::unique_ptr<Session>> batched, single;
  std::vector<std::vector<int32_t>> hist, add;
  std::vector<float> scratch(static_cast<size_t>(V));
  for (size_t i = 0; i < cached.size(); ++i) {
    hist.push_back(ids(cached[i], int64_t(i) + 1));
    add.push_back(ids(fresh[i], int64_t(i) + 11));
    for (auto* list : {&batched, &single}) {
      list->push_back(m.new_session(32));
      m.forward(hist.back(), *list->back(), scratch.data(), false);
    }
  }
  // The batch: logits for the prefill's last row, each decode row and every verification row.
  Batch b;
  for (size_t i = 0; i < cached.size(); ++i) {
    const bool verify = i == 4;
    b.add_tokens(b.add_sequence(batched[i].get()), add[i], cached[i], Batch::kLogits, !verify);
  }
  const int64_t n_logits = b.count(Batch::kLogits);
  ASSERT_EQ(n_logits, 1 + 3 + 3);
  std::vector<float> got(static_cast<size_t>(n_logits * V));
  ForwardContext fc;
  fc.logits = got.data();
  ASSERT_EQ(m.forward(b, fc), got.data());
  // Sequence by sequence: the same rows' logits.
  std::vector<float> want;
  for (size_t i = 0; i < cached.size(); ++i) {
    const bool verify = i == 4;
    std::vector<float> l(static_cast<size_t>((verify ? fresh[i] : 1) * V));
    m.forward(add[i], *single[i], l.data(), verify);
    want.insert(want.end(), l.begin(), l.end());
  }
  for (int64_t r = 0; r < n_logits; ++r) {
    const auto [d, mx] = max_diff(got.data() + r * V, want.data() + r * V, V);
    EXPECT_LE(d, double(depth * max_k) * FLT_EPSILON * (1.0 + mx)) << name << " logits row " << r;
    EXPECT_EQ(kernels::argmax(got.data() + r * V, V), kernels::argmax(want.data() + r * V, V))
        << name << " logits row " << r << ": greedy token differs";
  }
  // The caches the batch left equal a fresh prefill of each whole history: one more decode
  // token on the batched session and on a fresh session prefilled with history + new rows.
  for (size_t i = 0; i < cached.size(); ++i) {
    EXPECT_EQ(batched[i]->n_past(), cached[i] + fresh[i]) << name;
    std::vector<int32_t> all = hist[i];
    all.insert(all.end(), add[i].begin(), add[i].end());
    auto fresh_s = m.new_session(32);
    m.forward(all, *fresh_s, scratch.data(), false);
    const int32_t next = int32_t((i * 3 + 1) % size_t(V));
    std::vector<float> a(static_cast<size_t>(V)), c(static_cast<size_t>(V));
    m.forward({&next, 1}, *batched[i], a.data(), false);
    m.forward({&next, 1}, *fresh_s, c.data(), false);
    const auto [d, mx] = max_diff(a.data(), c.data(), V);
    EXPECT_LE(d, double(depth * max_k) * FLT_EPSILON * (1.0 + mx)) << name << " cache of seq " << i;
    EXPECT_EQ(kernels::argmax(a.data(), V), kernels::argmax(c.data(), V)) << name << " seq " << i;
  }
}

}  // namespace r1::test

// Tests of the perplexity / KL-divergence math against hand values and direct double-precision
// formulas, and of the base-logits file: round trip and the errors a bad file gives.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "core/test_util.h"
#include "eval/logprob_file.h"
#include "eval/perplexity.h"

namespace r1::eval {
namespace {

TEST(Perplexity, PlanChunksFollowsLlamaPerplexity) {
  auto p = plan_chunks(1000, 128, 0);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->n_chunk, 7);  // 1000 / 128, the partial last chunk dropped
  EXPECT_EQ(p->first, 64);
  EXPECT_EQ(p->scored_per_chunk(), 63);  // positions 64..126 predict tokens 65..127
  EXPECT_EQ(plan_chunks(1000, 128, 3)->n_chunk, 3);
  EXPECT_EQ(plan_chunks(1000, 128, 30)->n_chunk, 7);
  EXPECT_EQ(plan_chunks(5, 5, 0)->scored_per_chunk(), 2);  // odd n_ctx: first = 2, positions 2, 3
  EXPECT_EQ(plan_chunks(3, 3, 0)->scored_per_chunk(), 1);
  auto short_text = plan_chunks(127, 128, 0);
  ASSERT_FALSE(short_text.ok());
  EXPECT_NE(short_text.message().find("fewer than one chunk"), std::string::npos);
  EXPECT_FALSE(plan_chunks(100, 2, 0).ok());
}

TEST(Perplexity, ChunkTokensStartEachChunkWithBos) {
  std::vector<int32_t> ids(10);
  for (int i = 0; i < 10; ++i) ids[size_t(i)] = 100 + i;
  const ChunkPlan p = plan_chunks(10, 4, 0).value();
  EXPECT_EQ(chunk_tokens(ids, p, 1), (std::vector<int32_t>{1, 101, 102, 103, 1, 105, 106, 107}));
  EXPECT_EQ(chunk_tokens(ids, p, -1),
            (std::vector<int32_t>{100, 101, 102, 103, 104, 105, 106, 107}));
}

TEST(Perplexity, LogSoftmaxIsStableAndNormalised) {
  // Large logits: a naive exp would overflow; log p must still sum (as p) to 1.
  const std::vector<float> x = {1000.0f, 1001.0f, 999.5f, 1001.0f, -50.0f};
  std::vector<double> lp(x.size());
  int32_t top = -1;
  const double lse = log_softmax(x, lp, &top);
  EXPECT_EQ(top, 1);  // first of the two maxima
  double s = 0;
  for (double v : lp) s += std::exp(v);
  EXPECT_NEAR(s, 1.0, 1e-12);
  // Direct: log(sum exp(x - 1000)) + 1000.
  const double want =
      1000 + std::log(1 + std::exp(1.0) + std::exp(-0.5) + std::exp(1.0) + std::exp(-1050.0));
  EXPECT_NEAR(lse, want, 1e-9);
  EXPECT_NEAR(lp[0], 1000 - want, 1e-9);
}

TEST(Perplexity, MeanAndUncertaintyIsTheStandardErrorOfTheMean) {
  // {1, 2, 3, 4}: mean 2.5, sample sd sqrt(5/3), standard error sd / sqrt(4).
  const MeanUncertainty m = mean_and_uncertainty(10, 30, 4);
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.uncertainty, std::sqrt(5.0 / 3.0) / 2.0, 1e-12);
  EXPECT_EQ(mean_and_uncertainty(3, 9, 1).uncertainty, 0.0);
  EXPECT_EQ(mean_and_uncertainty(0, 0, 0).mean, 0.0);

  NllStats st;
  for (double v : {1.0, 2.0, 3.0, 4.0}) st.add(v);
  EXPECT_NEAR(st.ppl(), std::exp(2.5), 1e-12);
  EXPECT_NEAR(st.ppl_uncertainty(), std::exp(2.5) * std::sqrt(5.0 / 3.0) / 2.0, 1e-9);
}

TEST(Perplexity, PercentileInterpolatesLinearly) {
  const std::vector<double> v = {0, 10, 20, 30};
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 15);  // numpy.percentile(v, 50) = 15
  EXPECT_DOUBLE_EQ(percentile(v, 0.9), 27);  // position 2.7
  EXPECT_DOUBLE_EQ(percentile(v, 0), 0);
  EXPECT_DOUBLE_EQ(percentile(v, 1), 30);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{7}, 0.3), 7);
}

// The base row of `logits` as the file would hold it.
struct StoredRow {
  std::vector<uint16_t> codes;
  BaseRowView view;
};
StoredRow store(const std::vector<float>& logits, int32_t target) {
  StoredRow r;
  std::vector<double> lp(logits.size());
  int32_t top = 0;
  const double lse = log_softmax(logits, lp, &top);
  r.codes.resize(logits.size());
  quantize_log_probs(lp, top, kLogProbStep, r.codes);
  r.view = {top, float(lp[size_t(top)]), float(lse - logits[size_t(target)]), kLogProbStep,
            r.codes};
  return r;
}

TEST(Perplexity, KlDivergenceOfTwoKnownDistributions) {
  // P = (0.5, 0.5), Q = (0.9, 0.1): KL(P || Q) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1).
  const StoredRow p = store({0.0f, 0.0f}, 1);
  const std::vector<float> q = {std::log(0.9f), std::log(0.1f)};
  const KldRow r = compare_to_base(q, 1, p.view);
  EXPECT_NEAR(r.kld, 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1), 1e-6);
  EXPECT_NEAR(r.nll, -std::log(0.1), 1e-6);
  EXPECT_NEAR(r.nll_base, std::log(2.0), 1e-6);
  EXPECT_NEAR(r.p_diff, 0.1 - 0.5, 1e-6);
  EXPECT_TRUE(r.same_top);  // both argmax 0 (P's tie goes to the first index)
}

TEST(Perplexity, KlDivergenceMatchesTheDirectSumOnRandomRows) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.0f, 3.0f);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t V = 1000;
    std::vector<float> a(V), b(V);
    for (size_t i = 0; i < V; ++i) {
      a[i] = n(rng);
      b[i] = a[i] + 0.3f * n(rng);
    }
    std::vector<double> la(V), lb(V);
    int32_t ta = 0, tb = 0;
    log_softmax(a, la, &ta);
    log_softmax(b, lb, &tb);
    double want = 0;  // KL(A || B) in double, from the unquantised logits
    for (size_t i = 0; i < V; ++i) want += std::exp(la[i]) * (la[i] - lb[i]);
    const StoredRow base = store(a, 5);
    const KldRow r = compare_to_base(b, 5, base.view);
    // Rounding each log p_a,i by e_i (|e_i| <= s/2) moves KL(A || B) by
    // sum_i p_i e_i (log p_i - log q_i - KL) to first order (after renormalising), so at most
    // s/2 * sum_i p_i |log p_i - log q_i - KL|; O(s^2) terms and the dropped tail are far below.
    double bound = 0;
    for (size_t i = 0; i < V; ++i) bound += std::exp(la[i]) * std::fabs(la[i] - lb[i] - want);
    bound = bound * kLogProbStep / 2 + 1e-9;
    EXPECT_NEAR(r.kld, want, bound) << trial;
    EXPECT_EQ(r.same_top, ta == tb);
    EXPECT_NEAR(r.p_diff, std::exp(lb[5]) - std::exp(la[5]), 1e-6);
    // Against itself: only the storage quantisation remains, ~ s^2 / 24 = 3.9e-9.
    const KldRow self = compare_to_base(a, 5, base.view);
    EXPECT_LT(self.kld, 1e-8);
    EXPECT_TRUE(self.same_top);
    EXPECT_NEAR(self.p_diff, 0.0, 1e-6);
  }
}

TEST(Perplexity, QuantisedLogProbsKeepTheWindowBelowTheTop) {
  const std::vector<double> lp = {-0.1, -5.0, -0.1 - kWindowNats + 1e-3, -0.1 - kWindowNats - 1.0};
  std::vector<uint16_t> c(4);
  quantize_log_probs(lp, 0, kLogProbStep, c);
  EXPECT_EQ(c[0], 0);
  EXPECT_NEAR(-0.1 - c[1] * kLogProbStep, -5.0, kLogProbStep / 2 + 1e-12);
  EXPECT_LT(c[2], kBelowWindow);
  EXPECT_EQ(c[3], kBelowWindow);
}

TEST(Perplexity, KldStatsSummary) {
  KldStats st;
  // nll - nll_base = 0.1 everywhere: the log-PPL ratio is exactly 0.1 and, the two NLLs being
  // perfectly correlated, without uncertainty.
  for (int i = 0; i < 10; ++i) {
    KldRow r;
    r.nll_base = 1.0 + 0.1 * i;
    r.nll = r.nll_base + 0.1;
    r.kld = 0.01 * i;
    r.p_diff = i % 2 ? 0.2 : -0.2;
    r.same_top = i < 7;
    st.add(r);
  }
  const KldSummary s = st.summary();
  EXPECT_EQ(s.count, 10);
  EXPECT_NEAR(s.log_ppl_ratio.mean, 0.1, 1e-12);
  EXPECT_NEAR(s.log_ppl_ratio.uncertainty, 0.0, 1e-6);
  EXPECT_NEAR(s.log_ppl_correlation, 1.0, 1e-9);
  EXPECT_NEAR(s.ppl.mean, std::exp(1.55), 1e-9);
  EXPECT_NEAR(s.ppl_base.mean, std::exp(1.45), 1e-9);
  EXPECT_NEAR(s.ppl_ratio.mean, std::exp(0.1), 1e-12);
  EXPECT_NEAR(s.kld.mean, 0.045, 1e-12);
  EXPECT_NEAR(s.p_diff.mean, 0.0, 1e-12);
  EXPECT_NEAR(s.p_diff_rms.mean, 0.2, 1e-12);
  EXPECT_NEAR(s.same_top.mean, 0.7, 1e-12);
  EXPECT_NEAR(s.same_top.uncertainty, std::sqrt(0.7 * 0.3 / 9), 1e-12);
  ASSERT_EQ(s.kld_sorted.size(), 10u);
  EXPECT_DOUBLE_EQ(percentile(s.kld_sorted, 0.5), 0.045);
  EXPECT_DOUBLE_EQ(s.p_diff_sorted.front(), -0.2);
}

LogProbHeader small_header() {
  LogProbHeader h;
  h.n_vocab = 5;
  h.n_ctx = 4;
  h.n_chunk = 2;
  h.first = 2;
  h.bos_id = 1;
  return h;
}

TEST(LogProbFile, RoundTrip) {
  test::TempDir tmp;
  const std::string path = tmp.file("base.lp");
  const LogProbHeader h = small_header();
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 1, 0, 4, 3};
  auto w = LogProbWriter::create(path, h, tokens);
  ASSERT_TRUE(w.ok()) << w.message();
  for (int i = 0; i < 2; ++i) {  // rows_per_chunk = 4 - 1 - 2 = 1
    LogProbRow r;
    r.top_id = 3 - i;
    r.top_log_p = -0.25f * float(i);
    r.nll_target = 1.5f + float(i);
    r.codes = {uint16_t(i), 1, 2, 3, kBelowWindow};
    r.codes[size_t(r.top_id)] = 0;  // the top token's code, as quantize_log_probs writes it
    ASSERT_TRUE(w->write_row(r).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // nothing at the path before commit
  ASSERT_TRUE(w->commit().ok());
  EXPECT_EQ(std::filesystem::file_size(path), 64u + 8 * 4 + 2 * (12 + 2 * 5));
  auto r = LogProbReader::open(path);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->header().n_vocab, 5);
  EXPECT_EQ(r->header().n_chunk, 2);
  EXPECT_EQ(r->header().bos_id, 1);
  EXPECT_EQ(r->header().step, kLogProbStep);
  EXPECT_EQ(r->tokens(), tokens);
  LogProbRow row;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(r->read_row(row).ok());
    EXPECT_EQ(row.top_id, 3 - i);
    EXPECT_EQ(row.top_log_p, -0.25f * float(i));
    EXPECT_EQ(row.nll_target, 1.5f + float(i));
    std::vector<uint16_t> codes = {uint16_t(i), 1, 2, 3, kBelowWindow};
    codes[size_t(3 - i)] = 0;
    EXPECT_EQ(row.codes, codes);
  }
}

TEST(LogProbFile, WriterRefusesToCommitMissingRows) {
  test::TempDir tmp;
  const std::string path = tmp.file("base.lp");
  auto w = LogProbWriter::create(path, small_header(), std::vector<int32_t>(8, 0));
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->commit().ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(LogProbWriter::create(path, small_header(), std::vector<int32_t>(7, 0)).ok());
}

TEST(LogProbFile, BadFilesGiveOneLine) {
  test::TempDir tmp;
  const std::string good = tmp.file("good.lp");
  {
    auto w = LogProbWriter::create(good, small_header(), std::vector<int32_t>(8, 2));
    LogProbRow r;
    r.codes.assign(5, 0);
    ASSERT_TRUE(w->write_row(r).ok());
    ASSERT_TRUE(w->write_row(r).ok());
    ASSERT_TRUE(w->commit().ok());
  }
  const std::string bytes = test::read_bytes(good);
  auto expect_error = [&](const std::string& content, const std::string& what) {
    const std::string p = tmp.file("bad.lp");
    test::write_bytes(p, content);
    auto r = LogProbReader::open(p);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_NE(r.message().find(what), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find('\n'), std::string::npos) << r.message();
  };
  expect_error(bytes.substr(0, bytes.size() - 1), "truncated");
  expect_error(bytes + "x", "truncated");
  expect_error(std::string("GGUF") + bytes.substr(4), "not a base-logits file");
  expect_error("", "not a base-logits file");
  std::string bad_token = bytes;
  bad_token[64] = 9;  // token 0 := 9, vocab is 5
  expect_error(bad_token, "outside the vocabulary");
  std::string bad_vocab = bytes;
  bad_vocab[16 + 7] = char(0x80);  // n_vocab negative
  expect_error(bad_vocab, "n_vocab");
  std::string bad_version = bytes;
  bad_version[8] = 2;
  expect_error(bad_version, "version 2");
  std::string bad_row = bytes;
  bad_row[64 + 32] = 7;  // first row's top id := 7
  const std::string p = tmp.file("badrow.lp");
  test::write_bytes(p, bad_row);
  auto r = LogProbReader::open(p);
  ASSERT_TRUE(r.ok());
  LogProbRow row;
  auto rr = r->read_row(row);
  ASSERT_FALSE(rr.ok());
  EXPECT_NE(rr.message().find("corrupt"), std::string::npos) << rr.message();
  EXPECT_FALSE(LogProbReader::open(tmp.file("missing.lp")).ok());
  // Found by fuzz/logprob_file_fuzz: a top log p far below -ln V (or a top token whose code is
  // not 0) decoded to an all-zero distribution and a NaN KL divergence.
  auto expect_corrupt_row = [&](std::string content, const std::string& what) {
    const std::string q = tmp.file("badrow2.lp");
    test::write_bytes(q, content);
    auto rd = LogProbReader::open(q);
    ASSERT_TRUE(rd.ok()) << rd.message();
    LogProbRow rw;
    auto res = rd->read_row(rw);
    ASSERT_FALSE(res.ok()) << what;
    EXPECT_NE(res.message().find("corrupt"), std::string::npos) << res.message();
  };
  std::string low_top = bytes;
  const float minus_32768 = -32768.0f;
  std::memcpy(low_top.data() + 64 + 32 + 4, &minus_32768, 4);
  expect_corrupt_row(low_top, "top log p -32768 with V = 5");
  std::string top_code = bytes;
  top_code[64 + 32 + 12] = 1;  // the top token (id 0) gets code 1
  expect_corrupt_row(top_code, "top code 1");
}

}  // namespace
}  // namespace r1::eval

// AdamW, clipping and the LR schedule against independent f64 formulas; corpus packing; a tiny
// model overfitting a short corpus; whole-model finite differences; checkpoint resume equality.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/lm.h"
#include "train/optim.h"
#include "train/run_log.h"
#include "train/trainer.h"

namespace r1::train {
namespace {

// qwen2: biases, tied head; qwen3: q/k norm, head_dim 12 != D / H = 8, untied; llama: plain.
nlohmann::json tiny_config(const std::string& arch, int64_t vocab) {
  nlohmann::json j = {{"model_type", arch},        {"vocab_size", vocab},
                      {"hidden_size", 32},         {"intermediate_size", 48},
                      {"num_hidden_layers", 2},    {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},  {"rms_norm_eps", 1e-5},
                      {"rope_theta", 10000.0},     {"max_position_embeddings", 128},
                      {"tie_word_embeddings", arch == "qwen2"}, {"bos_token_id", 0},
                      {"eos_token_id", 1}};
  if (arch == "qwen3") j["head_dim"] = 12;
  return j;
}

Param make_param(const std::string& name, std::vector<float> w, std::vector<float> g, bool decay) {
  Param p;
  p.name = name;
  p.data = Tensor::zeros(DType::F32, {int64_t(w.size())});
  std::copy(w.begin(), w.end(), p.data.data<float>());
  p.grad = std::move(g);
  p.decay = decay;
  return p;
}

TEST(AdamW, MatchesTorchFormulaInF64) {
  std::vector<Param> ps;
  ps.push_back(make_param("w", {0.5f, -1.0f, 2.0f}, {0.1f, -0.2f, 0.3f}, true));
  ps.push_back(make_param("n", {1.0f, 1.0f}, {-0.5f, 0.25f}, false));
  AdamWConfig c;
  c.beta1 = 0.9;
  c.beta2 = 0.99;
  c.eps = 1e-8;
  c.weight_decay = 0.1;
  AdamW opt(ps, c);
  // Reference: torch.optim.AdamW step, in f64, with a different gradient each step.
  std::vector<std::vector<double>> w = {{0.5, -1.0, 2.0}, {1.0, 1.0}}, m(2), v(2);
  for (int i = 0; i < 2; ++i) m[i].assign(w[i].size(), 0.0), v[i].assign(w[i].size(), 0.0);
  for (int t = 1; t <= 3; ++t) {
    const double lr = 0.01 * t;
    for (size_t i = 0; i < 2; ++i)
      for (size_t j = 0; j < w[i].size(); ++j) {
        const double g = ps[i].grad[j];
        if (ps[i].decay) w[i][j] *= 1 - lr * c.weight_decay;
        m[i][j] = c.beta1 * m[i][j] + (1 - c.beta1) * g;
        v[i][j] = c.beta2 * v[i][j] + (1 - c.beta2) * g * g;
        const double mh = m[i][j] / (1 - std::pow(c.beta1, t));
        const double vh = v[i][j] / (1 - std::pow(c.beta2, t));
        w[i][j] -= lr * mh / (std::sqrt(vh) + c.eps);
      }
    opt.step(ps, lr);
    for (size_t i = 0; i < 2; ++i) {
      for (size_t j = 0; j < w[i].size(); ++j)
        EXPECT_NEAR(ps[i].data.data<float>()[j], w[i][j], 1e-6) << t << " " << i << " " << j;
      for (float& g : ps[i].grad) g = -0.7f * g + 0.01f;  // next step's gradient
    }
  }
  EXPECT_EQ(opt.t(), 3);
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  std::vector<Param> ps;
  ps.push_back(make_param("a", {0, 0}, {3.0f, 0.0f}, true));
  ps.push_back(make_param("b", {0}, {4.0f}, true));
  EXPECT_NEAR(clip_grad_norm(ps, 10.0), 5.0, 1e-9);  // below max: unchanged
  EXPECT_FLOAT_EQ(ps[0].grad[0], 3.0f);
  EXPECT_NEAR(clip_grad_norm(ps, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(ps[0].grad[0], 0.6, 1e-6);
  EXPECT_NEAR(ps[1].grad[0], 0.8, 1e-6);
}

TEST(ClipGradNorm, DivergedGradientsAndBadNormsThrow) {
  std::vector<Param> ps;
  ps.push_back(make_param("a", {0, 0}, {3.0f, std::nanf("")}, true));
  EXPECT_THROW(clip_grad_norm(ps, 1.0), std::runtime_error);  // NaN never reaches AdamW
  ps[0].grad[1] = 1.0f;
  EXPECT_THROW(clip_grad_norm(ps, std::nan("")), std::invalid_argument);
  EXPECT_THROW(clip_grad_norm(ps, -1.0), std::invalid_argument);
  EXPECT_NO_THROW(clip_grad_norm(ps, 0.0));  // 0: no clipping
}

TEST(LrSchedule, RejectsNonFiniteOrNegative) {
  EXPECT_THROW(lr_at(0, std::nan(""), 0.1, 4, 20), std::invalid_argument);
  EXPECT_THROW(lr_at(0, INFINITY, 0.1, 4, 20), std::invalid_argument);
  EXPECT_THROW(lr_at(0, -1.0, 0.1, 4, 20), std::invalid_argument);
  EXPECT_THROW(lr_at(0, 1.0, 0.1, -5, 20), std::invalid_argument);
  std::vector<Param> ps;
  EXPECT_THROW(AdamW(ps, AdamWConfig{.beta1 = 2.0}), std::invalid_argument);
  EXPECT_THROW(AdamW(ps, AdamWConfig{.beta1 = 0.9, .beta2 = std::nan("")}), std::invalid_argument);
}

TEST(LrSchedule, WarmupThenCosine) {
  EXPECT_DOUBLE_EQ(lr_at(0, 1.0, 0.1, 4, 20), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(3, 1.0, 0.1, 4, 20), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(4, 1.0, 0.1, 4, 20), 1.0);                 // cosine starts at peak
  EXPECT_NEAR(lr_at(12, 1.0, 0.1, 4, 20), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.5)), 1e-12);
  EXPECT_DOUBLE_EQ(lr_at(20, 1.0, 0.1, 4, 20), 0.1);
}

// A byte-level BPE trained on `text` (ids: 0 <bos>, 1 <eos>), written into dir.
std::string make_tokenizer(const std::string& dir, const std::string& text) {
  tok::BpeTrainerOptions o;
  o.vocab_size = 300;
  o.bos_token = "<bos>";
  o.eos_token = "<eos>";
  o.special_tokens = {"<bos>", "<eos>"};
  auto r = tok::train_bpe({text}, o);
  EXPECT_TRUE(r.ok());
  std::ofstream(dir + "/tokenizer.json") << r->tokenizer_json;
  std::ofstream(dir + "/tokenizer_config.json") << r->tokenizer_config_json;
  return dir + "/tokenizer.json";
}

TEST(Data, JsonlDocumentsJoinedWithEos) {
  test::TempDir tmp;
  const std::string tj = make_tokenizer(tmp.path(), "hello world, the cat sat on the mat");
  auto tk = tok::Tokenizer::from_path(tj);
  ASSERT_TRUE(tk.ok()) << tk.message();
  std::ofstream(tmp.file("c.jsonl")) << "{\"text\": \"hello\"}\n\n{\"text\": \"the cat\"}\n";
  auto s = load_corpus(tmp.file("c.jsonl"), **tk, 1);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<int32_t> want = (*tk)->encode("hello", false, false);
  want.push_back(1);
  for (int32_t id : (*tk)->encode("the cat", false, false)) want.push_back(id);
  want.push_back(1);
  EXPECT_EQ(*s, want);
  std::ofstream(tmp.file("bad.jsonl")) << "{\"text\": \"a\"}\n{\"txt\": 1}\n";
  auto bad = load_corpus(tmp.file("bad.jsonl"), **tk, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("bad.jsonl:2"), std::string::npos) << bad.message();
}

TEST(Data, EpochVisitsEveryWindowOnceInSeededOrder) {
  std::vector<int32_t> stream(41);
  for (int i = 0; i < 41; ++i) stream[size_t(i)] = i;
  auto d = PackedDataset::make(stream, 8, 7);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->n_windows(), 5);
  std::vector<int32_t> in, tgt;
  std::vector<int> seen(5, 0);
  for (int k = 0; k < 5; ++k) {
    d->sample(k, in, tgt);
    ASSERT_EQ(in.size(), 8u);
    EXPECT_EQ(in[0] % 8, 0);
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(tgt[i], in[i] + 1);
    seen[size_t(in[0] / 8)]++;
  }
  for (int c : seen) EXPECT_EQ(c, 1);
}

TEST(TrainLM, InitNamesAWrongTypedNameOrPath) {
  test::TempDir tmp;
  ThreadPool pool(1);
  nlohmann::json cfg = tiny_config("llama", 64);
  cfg["_name_or_path"] = 5;  // config.value() threw json::type_error here
  auto m = TrainLM::init(cfg, "tiny/config.json", 1, tmp.file("init"), pool);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("tiny/config.json: field _name_or_path: expected a string"), std::string::npos)
      << m.message();
}

// The registry decides what can be trained: an unknown model_type and one that loads but is not
// trainable are each one line naming the config and the trainable architectures.
TEST(TrainLM, InitRejectsArchitecturesTheRegistryCannotTrain) {
  test::TempDir tmp;
  ThreadPool pool(1);
  for (const char* arch : {"mamba", "deepseek_v2"}) {
    nlohmann::json cfg = tiny_config("llama", 64);
    cfg["model_type"] = arch;
    auto m = TrainLM::init(cfg, "x/config.json", 1, tmp.file(arch), pool);
    ASSERT_FALSE(m.ok()) << arch;
    EXPECT_NE(m.message().find(std::string("x/config.json: model_type '") + arch +
                               "' cannot be trained (llama, qwen2, qwen3, deepseek_v3)"),
              std::string::npos)
        << m.message();
  }
}

// Wall-clock rate and ETA on a fake clock: step 1 takes 1 s, then a 9 s checkpoint, then step 2
// takes 1 s. The rate counts the checkpoint (200 tokens / 11 s, not 200 / 2 s) and the ETA of the
// two steps left is 11 s / 2 steps * 2.
TEST(ProgressMeter, WallClockRateAndEtaIncludeCheckpoints) {
  double now = 100.0;
  ProgressMeter m(/*first_step=*/0, /*last_step=*/4, [&] { return now; });
  EXPECT_EQ(m.tokens_per_s(), 0.0);
  EXPECT_EQ(m.eta_s(), 0.0);
  now += 1.0;
  m.step_done(1, 100);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 100.0);
  EXPECT_DOUBLE_EQ(m.eta_s(), 3.0);
  now += 9.0;  // checkpoint after step 1
  now += 1.0;
  m.step_done(2, 100);
  EXPECT_DOUBLE_EQ(m.elapsed_s(), 11.0);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 200.0 / 11.0);
  EXPECT_DOUBLE_EQ(m.eta_s(), 11.0);
  // A resumed run counts only its own steps: from step 6 of 10, one step of 2 s.
  ProgressMeter r(6, 10, [&] { return now; });
  now += 2.0;
  r.step_done(7, 50);
  EXPECT_DOUBLE_EQ(r.tokens_per_s(), 25.0);
  EXPECT_DOUBLE_EQ(r.eta_s(), 6.0);
}

TEST(TrainLM, TinyModelOverfitsShortCorpus) {
  test::TempDir tmp;
  ThreadPool pool(1);
  auto m = TrainLM::init(tiny_config("llama", 64), "tiny", 1, tmp.file("init"), pool);
  ASSERT_TRUE(m.ok()) << m.message();
  std::vector<int32_t> seq(33);
  std::mt19937 rng(3);
  for (auto& t : seq) t = int32_t(rng() % 64);
  std::vector<int32_t> in(seq.begin(), seq.end() - 1), tgt(seq.begin() + 1, seq.end());
  AdamWConfig c;
  c.weight_decay = 0.0;
  AdamW opt((*m)->params(), c);
  double first = 0, loss = 0;
  for (int step = 0; step < 150; ++step) {
    (*m)->zero_grad();
    int64_t n = 0;
    loss = (*m)->forward_backward(in, tgt, 1.0f / 32, &n) / 32;
    if (step == 0) first = loss;
    clip_grad_norm((*m)->params(), 1.0);
    opt.step((*m)->params(), 1e-2);
  }
  EXPECT_GT(first, 3.5);  // ~ln(64) at init
  EXPECT_LT(loss, 0.05);
  int64_t n = 0;
  EXPECT_LT((*m)->eval_loss(in, tgt, &n) / 32, 0.05);  // the inference path agrees
}

// Central differences of the loss (inference forward) against the tape's gradients on the
// largest-gradient entries of every tensor of tiny qwen2 (biases, tied head), llama and qwen3
// (q_norm/k_norm weights, head_dim != D / H) models.
TEST(TrainLM, WholeModelFiniteDifferences) {
  test::TempDir tmp;
  ThreadPool pool(1);
  for (const char* arch : {"qwen2", "llama", "qwen3"}) {
    auto m = TrainLM::init(tiny_config(arch, 50), "tiny", 5, tmp.file(arch), pool);
    ASSERT_TRUE(m.ok()) << m.message();
    // Bigger weights than N(0, 0.02) so every block matters to the loss.
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    for (auto& p : (*m)->params())
      for (int64_t i = 0; i < p.data.numel(); ++i)
        p.data.data<float>()[i] = p.decay ? nd(rng) : 1.0f + nd(rng);
    std::vector<int32_t> in = {0, 5, 9, 3, 44, 7, 7, 21}, tgt = {5, 9, 3, 44, 7, 7, 21, -100};
    int64_t n = 0;
    (*m)->zero_grad();
    (*m)->forward_backward(in, tgt, 1.0f, &n);
    for (auto& p : (*m)->params()) {
      std::vector<int64_t> idx(size_t(p.data.numel()));
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + 3, idx.end(), [&](int64_t a, int64_t b) {
        return std::abs(p.grad[size_t(a)]) > std::abs(p.grad[size_t(b)]);
      });
      for (int r = 0; r < 3; ++r) {
        float* w = p.data.data<float>() + idx[size_t(r)];
        const float w0 = *w, eps = 1e-2f;
        *w = w0 + eps;
        const double lp = (*m)->eval_loss(in, tgt, &n);
        *w = w0 - eps;
        const double lm = (*m)->eval_loss(in, tgt, &n);
        *w = w0;
        const double fd = (lp - lm) / (2 * eps), an = p.grad[size_t(idx[size_t(r)])];
        EXPECT_NEAR(fd, an, 2e-2 * std::abs(an) + 2e-3) << arch << " " << p.name << " #" << r;
      }
    }
  }
}

// The batched forward (one GEMM per projection over B*T rows, attention per row) against B
// single-sequence calls: same loss and gradients up to float summation order.
TEST(TrainLM, BatchedRowsMatchPerSequenceCalls) {
  test::TempDir tmp;
  ThreadPool pool(1);
  for (const char* arch : {"qwen2", "llama", "qwen3"}) {
    auto m = TrainLM::init(tiny_config(arch, 50), "tiny", 7, tmp.file(arch), pool);
    ASSERT_TRUE(m.ok()) << m.message();
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    for (auto& p : (*m)->params())
      for (int64_t i = 0; i < p.data.numel(); ++i)
        p.data.data<float>()[i] = p.decay ? nd(rng) : 1.0f + nd(rng);
    const int64_t B = 3, T = 7;
    std::vector<int32_t> in(size_t(B * T)), tgt(size_t(B * T));
    for (int64_t i = 0; i < B * T; ++i) {
      in[size_t(i)] = int32_t(rng() % 50);
      tgt[size_t(i)] = i % 5 == 4 ? -100 : int32_t(rng() % 50);
    }
    int64_t n1 = 0, n2 = 0;
    double l1 = 0;
    (*m)->zero_grad();
    for (int64_t b = 0; b < B; ++b) {
      int64_t c = 0;
      l1 += (*m)->forward_backward(std::span<const int32_t>(in).subspan(size_t(b * T), size_t(T)),
                                   std::span<const int32_t>(tgt).subspan(size_t(b * T), size_t(T)),
                                   0.5f, &c);
      n1 += c;
    }
    std::vector<std::vector<float>> g1;
    for (auto& p : (*m)->params()) g1.push_back(p.grad);
    (*m)->zero_grad();
    const double l2 = (*m)->forward_backward_batch(in, tgt, B, 0.5f, &n2);
    EXPECT_EQ(n1, n2);
    EXPECT_NEAR(l1, l2, 1e-5 * std::abs(l1));
    for (size_t k = 0; k < g1.size(); ++k) {
      const auto& p = (*m)->params()[k];
      double scale = 0;
      for (float v : g1[k]) scale = std::max(scale, double(std::abs(v)));
      for (size_t i = 0; i < g1[k].size(); ++i)
        ASSERT_NEAR(p.grad[i], g1[k][i], 1e-4 * scale + 1e-7) << arch << " " << p.name << " " << i;
    }
  }
}

TEST(Pretrain, ResumeFromCheckpointReproducesLossSequence) {
  test::TempDir tmp;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + ". ";
  const std::string tj = make_tokenizer(tmp.path(), text);
  std::ofstream(tmp.file("corpus.txt")) << text;
  std::ofstream(tmp.file("config.json")) << tiny_config("llama", 300).dump();
  PretrainOptions o;
  o.model_config = tmp.file("config.json");
  o.tokenizer = tj;
  o.data = tmp.file("corpus.txt");
  o.steps = 6;
  o.batch = 2;
  o.accum = 2;
  o.seq_len = 16;
  o.lr = 3e-3;
  o.warmup = 2;
  o.save_every = 2;
  o.val_every = 2;
  o.val_windows = 2;
  o.keep_last = 5;
  o.quiet = true;
  ThreadPool pool(2);
  auto read_lines = [](const std::string& p) {
    std::ifstream f(p);
    std::vector<std::string> lines;
    std::string l;
    while (std::getline(f, l)) lines.push_back(nlohmann::json::parse(l)["loss"].dump());
    return lines;
  };
  o.out = tmp.file("a");
  ASSERT_TRUE(run_pretrain(o, pool, nullptr).ok());
  const auto a = read_lines(o.out + "/metrics.jsonl");
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(latest_checkpoint(o.out), 6);
  EXPECT_TRUE(std::filesystem::exists(o.out + "/checkpoint-6/tokenizer.json"));
  // Lose the last checkpoint (as if killed during step 5): resume continues from checkpoint-4.
  std::filesystem::remove_all(o.out + "/checkpoint-6");
  o.resume = true;
  ASSERT_TRUE(run_pretrain(o, pool, nullptr).ok());
  EXPECT_EQ(read_lines(o.out + "/metrics.jsonl"), a);
  EXPECT_LT(std::stod(a.back()), std::stod(a.front()));
  // Validation loss (held-out windows) every 2 steps, falling.
  std::vector<double> val;
  {
    std::ifstream f(o.out + "/metrics.jsonl");
    std::string l;
    while (std::getline(f, l)) {
      auto j = nlohmann::json::parse(l);
      if (j.contains("val_loss")) val.push_back(j["val_loss"].get<double>());
    }
  }
  ASSERT_EQ(val.size(), 3u);
  EXPECT_LT(val.back(), val.front());
  // The checkpoint is a loadable HF model dir.
  auto m = TrainLM::load(o.out + "/checkpoint-6", pool);
  EXPECT_TRUE(m.ok()) << m.message();
}

}  // namespace
}  // namespace r1::train

// SFT: prompt masking in the packed rows, the loss counting completion tokens only (checked
// against per-position cross-entropies from eval_loss), whole-example packing, and a tiny model
// whose loss on a fixed completion falls under run_sft.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/chat_template.h"
#include "train/lm.h"
#include "train/sft.h"

namespace r1::train {
namespace {

nlohmann::json tiny_llama(int64_t vocab) {
  return {{"model_type", "llama"},     {"vocab_size", vocab},       {"hidden_size", 32},
          {"intermediate_size", 48},   {"num_hidden_layers", 2},    {"num_attention_heads", 4},
          {"num_key_value_heads", 2},  {"rms_norm_eps", 1e-5},      {"rope_theta", 10000.0},
          {"max_position_embeddings", 128}, {"bos_token_id", 0},    {"eos_token_id", 1}};
}

// A byte-level BPE (ids 0 <bos>, 1 <eos>) written into dir; returns the tokenizer.
std::unique_ptr<tok::Tokenizer> make_tokenizer(const std::string& dir, const std::string& text) {
  tok::BpeTrainerOptions o;
  o.vocab_size = 300;
  o.bos_token = "<bos>";
  o.eos_token = "<eos>";
  o.special_tokens = {"<bos>", "<eos>"};
  auto r = tok::train_bpe({text}, o);
  EXPECT_TRUE(r.ok());
  std::ofstream(dir + "/tokenizer.json") << r->tokenizer_json;
  std::ofstream(dir + "/tokenizer_config.json") << r->tokenizer_config_json;
  auto t = tok::Tokenizer::from_path(dir + "/tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.message();
  return t.ok() ? std::move(*t) : nullptr;
}

const char* kText = "Q:12+34=?A:<think>2+4=6 1+3=4</think>46 Q:5*7=?A:35 hello world";

TEST(Sft, TokenizePairAppendsEosAndKeepsPromptApart) {
  test::TempDir tmp;
  auto tk = make_tokenizer(tmp.path(), kText);
  ASSERT_TRUE(tk);
  auto ex = tokenize_pair(*tk, nullptr, "Q:12+34=?A:", "<think>2+4=6 1+3=4</think>46");
  ASSERT_TRUE(ex.ok()) << ex.message();
  EXPECT_EQ(ex->completion.back(), tk->eos_id());
  EXPECT_EQ(tk->decode(ex->prompt, true), "Q:12+34=?A:");
  std::vector<int32_t> body(ex->completion.begin(), ex->completion.end() - 1);
  EXPECT_EQ(tk->decode(body), "<think>2+4=6 1+3=4</think>46");
}

TEST(Sft, PackMasksPromptTokensAndKeepsExamplesWhole) {
  std::vector<SftExample> exs = {{{10, 11, 12}, {20, 21, 1}}, {{13, 14}, {22, 1}},
                                 {{15, 16, 17, 18}, {23, 24, 25, 1}}};
  int64_t cut = -1;
  const auto rows = pack_sft(exs, /*seq_len=*/10, /*pad=*/1, &cut);
  EXPECT_EQ(cut, 0);
  ASSERT_EQ(rows.size(), 2u);  // 6 + 4 tokens fill row 0 (11 slots); the 8-token one starts row 1
  // Row 0 tokens: 10 11 12 20 21 1 13 14 22 1 pad
  const std::vector<int32_t> want0 = {-1, -1, 20, 21, 1, -1, -1, 22, 1, -1};
  EXPECT_EQ(rows[0].targets, want0);
  EXPECT_EQ(rows[0].n_targets, 5);
  const std::vector<int32_t> want1 = {-1, -1, -1, 23, 24, 25, 1, -1, -1, -1};
  EXPECT_EQ(rows[1].targets, want1);
  EXPECT_EQ(rows[1].tokens[0], 15);
  // Too long: cut, counted.
  const auto r2 = pack_sft({{{1, 2, 3}, {4, 5, 6, 7, 8}}}, 4, 0, &cut);
  EXPECT_EQ(cut, 1);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].tokens, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(r2[0].targets, (std::vector<int32_t>{-1, -1, 4, 5}));
}

// The SFT row loss is exactly the sum of the completion positions' cross-entropies (each taken
// alone from eval_loss with a single counted target); prompt positions add nothing, so changing
// the tokens a prompt position "predicts" leaves the loss and gradients unchanged.
TEST(Sft, LossAndGradientComeOnlyFromCompletionTokens) {
  test::TempDir tmp;
  ThreadPool pool(1);
  auto m = TrainLM::init(tiny_llama(40), "tiny", 3, tmp.file("init"), pool);
  ASSERT_TRUE(m.ok()) << m.message();
  TrainLM& lm = **m;
  const std::vector<SftExample> exs = {{{0, 5, 6, 7, 8}, {9, 10, 11, 1}}};
  const auto rows = pack_sft(exs, 12, 1);
  ASSERT_EQ(rows.size(), 1u);
  std::vector<int32_t> in(rows[0].tokens.begin(), rows[0].tokens.end() - 1);
  int64_t count = 0;
  const double masked = lm.eval_loss(in, rows[0].targets, &count);
  EXPECT_EQ(count, 4);
  double ref = 0;
  for (size_t t = 0; t < in.size(); ++t) {
    if (t + 1 < 5 || t + 1 >= 9) continue;  // completion tokens sit at positions 5..8
    std::vector<int32_t> one(in.size(), -1);
    one[t] = rows[0].tokens[t + 1];
    int64_t c = 0;
    ref += lm.eval_loss(in, one, &c);
    ASSERT_EQ(c, 1);
  }
  EXPECT_NEAR(masked, ref, 1e-4 * std::abs(ref));
  std::vector<int32_t> all(rows[0].tokens.begin() + 1, rows[0].tokens.end());
  int64_t call = 0;
  EXPECT_GT(std::abs(lm.eval_loss(in, all, &call) - masked), 1e-3);

  // Gradients: the same prompt/completion split with different prompt-position "targets" in the
  // data (the second example's prompt predicts other tokens) gives identical gradients.
  auto grads = [&](const std::vector<int32_t>& tgt) {
    lm.zero_grad();
    int64_t c = 0;
    lm.forward_backward(in, tgt, 1.0f, &c);
    std::vector<float> g;
    for (const auto& p : lm.params()) g.insert(g.end(), p.grad.begin(), p.grad.end());
    return g;
  };
  const auto g1 = grads(rows[0].targets);
  std::vector<int32_t> garbage = rows[0].targets;
  for (size_t t = 0; t < garbage.size(); ++t)
    if (garbage[t] < 0) garbage[t] = -1 - int32_t(t);  // any negative target is ignored
  EXPECT_EQ(g1, grads(garbage));
  const auto gall = grads(all);
  EXPECT_NE(g1, gall);
}

TEST(Sft, TinyModelLearnsFixedCompletion) {
  test::TempDir tmp;
  ThreadPool pool(1);
  auto tk = make_tokenizer(tmp.path(), kText);
  ASSERT_TRUE(tk);
  auto m = TrainLM::init(tiny_llama(300), "tiny", 1, tmp.file("model"), pool);
  ASSERT_TRUE(m.ok()) << m.message();
  ASSERT_TRUE((*m)->save_weights(tmp.path()).ok());
  {
    std::ofstream d(tmp.file("data.jsonl"));
    for (int i = 0; i < 4; ++i)
      d << nlohmann::json{{"prompt", "Q:12+34=?A:"}, {"completion", "<think>2+4=6 1+3=4</think>46"}}.dump()
        << "\n"
        << nlohmann::json{{"prompt", "Q:5*7=?A:"}, {"completion", "35"}}.dump() << "\n";
  }
  SftOptions o;
  o.model = tmp.path();
  o.data = tmp.file("data.jsonl");
  o.out = tmp.file("out");
  o.steps = 60;
  o.batch = 2;
  o.seq_len = 32;
  o.lr = 1e-2;
  o.weight_decay = 0.0;
  o.warmup = 2;
  o.quiet = true;
  auto r = run_sft(o, pool, nullptr);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_GT(r->first_loss, 3.0);  // ~ln(300) at init
  EXPECT_LT(r->last_loss, 0.5 * r->first_loss);
  // The saved checkpoint scores the completion better than the initial weights.
  auto ex = tokenize_pair(*tk, nullptr, "Q:12+34=?A:", "<think>2+4=6 1+3=4</think>46");
  ASSERT_TRUE(ex.ok());
  const auto rows = pack_sft({*ex}, int64_t(ex->prompt.size() + ex->completion.size()) - 1, 1);
  std::vector<int32_t> in(rows[0].tokens.begin(), rows[0].tokens.end() - 1);
  int64_t c = 0;
  const double before = (*m)->eval_loss(in, rows[0].targets, &c);
  auto tuned = TrainLM::load(r->checkpoint, pool);
  ASSERT_TRUE(tuned.ok()) << tuned.message();
  const double after = (*tuned)->eval_loss(in, rows[0].targets, &c);
  EXPECT_LT(after, 0.3 * before);
}

TEST(Sft, BadDataNamesFileAndLine) {
  test::TempDir tmp;
  auto tk = make_tokenizer(tmp.path(), kText);
  ASSERT_TRUE(tk);
  std::ofstream(tmp.file("bad.jsonl")) << "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3}\n";
  auto r = load_sft_data(tmp.file("bad.jsonl"), *tk, nullptr, SftFormat::Auto);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("bad.jsonl:2"), std::string::npos) << r.message();
  std::ofstream(tmp.file("msg.jsonl"))
      << R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})"
      << "\n";
  auto m = load_sft_data(tmp.file("msg.jsonl"), *tk, nullptr, SftFormat::Raw);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("msg.jsonl:1"), std::string::npos) << m.message();
  // A role that is not a string is a bad row, not a json::type_error (value("role", "") threw).
  auto chat = tok::ChatTemplate::from_string("{% for m in messages %}{{ m.content }}{% endfor %}");
  ASSERT_TRUE(chat.ok()) << chat.message();
  std::ofstream(tmp.file("role.jsonl"))
      << R"({"messages": [{"role": "user", "content": "a"}, {"role": 5, "content": "b"}]})" << "\n";
  auto role = load_sft_data(tmp.file("role.jsonl"), *tk, &*chat, SftFormat::Auto);
  ASSERT_FALSE(role.ok());
  EXPECT_NE(role.message().find("role.jsonl:1: messages: the last turn must be"), std::string::npos)
      << role.message();
}

}  // namespace
}  // namespace r1::train

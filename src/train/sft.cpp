#include "train/sft.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>

#include "core/storage.h"
#include "train/checkpoint.h"
#include "train/lm.h"
#include "train/optim.h"
#include "train/run_log.h"

namespace r1::train {

namespace fs = std::filesystem;

namespace {

// splitmix64 finaliser: per-epoch permutation seeds independent of the standard library.
uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x ^ (x >> 33);
}

// Fisher-Yates with our own generator (std::shuffle's output differs between libraries).
void seeded_shuffle(std::vector<int64_t>& v, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = v.size(); i > 1; --i) {
    s = mix64(s, i);
    std::swap(v[i - 1], v[size_t(s % i)]);
  }
}

Result<SftExample> tokenize_messages(const tok::Tokenizer& tok, const tok::ChatTemplate& chat,
                                     const nlohmann::ordered_json& msgs, int32_t eos) {
  if (!msgs.is_array() || msgs.size() < 2) return make_error("messages: need at least 2 turns");
  const auto& last = msgs.back();
  // Comparing the json value (not value("role", "")) keeps a non-string role an error, not a throw.
  if (!last.is_object() || !last.contains("role") || last["role"] != "assistant" || !last.contains("content") ||
      !last["content"].is_string())
    return make_error("messages: the last turn must be {{\"role\": \"assistant\", \"content\": str}}");
  nlohmann::ordered_json head = nlohmann::ordered_json::array();
  for (size_t i = 0; i + 1 < msgs.size(); ++i) head.push_back(msgs[i]);
  R1_ASSIGN_OR_RETURN(prompt_text, chat.render(head, true));
  R1_ASSIGN_OR_RETURN(full_text, chat.render(msgs, false));
  const std::string content = last["content"].get<std::string>();
  std::string completion_text;
  if (full_text.size() > prompt_text.size() &&
      full_text.compare(0, prompt_text.size(), prompt_text) == 0) {
    completion_text = full_text.substr(prompt_text.size());
  } else {
    completion_text = content;  // the template rewrote history (e.g. dropped <think>)
  }
  // The template's end-of-turn text already holds an EOS-like token in most templates; we still
  // make sure the sequence ends with one of the tokenizer's EOS ids.
  SftExample ex;
  const bool bos = tok.bos_id() >= 0 &&
                   tok::needs_bos(prompt_text, chat.specials().bos_token, tok.add_bos_default());
  ex.prompt = tok.encode(prompt_text, bos, true);
  ex.completion = tok.encode(completion_text, false, true);
  // Trailing whitespace after the end-of-turn token (e.g. "\n") is dropped so that the last
  // predicted token is the EOS the sampler stops on.
  const std::vector<int32_t> eos_ids = tok.eos_ids();
  auto is_eos = [&](int32_t id) {
    return id == eos || std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end();
  };
  auto it = std::find_if(ex.completion.rbegin(), ex.completion.rend(), is_eos);
  if (it != ex.completion.rend())
    ex.completion.erase(it.base(), ex.completion.end());
  else
    ex.completion.push_back(eos);
  return ex;
}

}  // namespace

Result<SftExample> tokenize_pair(const tok::Tokenizer& tok, const tok::ChatTemplate* chat,
                                 const std::string& prompt, const std::string& completion,
                                 int32_t eos) {
  if (eos < 0) eos = tok.eos_id();
  if (eos < 0) return make_error("the tokenizer has no EOS token");
  if (chat) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    msgs.push_back({{"role", "user"}, {"content", prompt}});
    msgs.push_back({{"role", "assistant"}, {"content", completion}});
    return tokenize_messages(tok, *chat, msgs, eos);
  }
  SftExample ex;
  ex.prompt = tok.encode(prompt, tok.bos_id() >= 0 && tok.add_bos_default(), true);
  ex.completion = tok.encode(completion, false, true);
  if (ex.completion.empty() || ex.completion.back() != eos) ex.completion.push_back(eos);
  return ex;
}

Result<std::vector<SftExample>> load_sft_data(const std::string& path, const tok::Tokenizer& tok,
                                              const tok::ChatTemplate* chat, SftFormat format) {
  std::ifstream f(path);
  if (!f) return make_error("{}: cannot read", path);
  const int32_t eos = tok.eos_id();
  if (eos < 0) return make_error("the tokenizer has no EOS token (needed after each completion)");
  if (format == SftFormat::Chat && !chat) return make_error("--chat: the model has no chat template");
  std::vector<SftExample> out;
  std::string line;
  int64_t ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return make_error("{}:{}: not a JSON object", path, ln);
    if (j.contains("messages")) {
      if (format == SftFormat::Raw)
        return make_error("{}:{}: `messages` rows need the chat template (drop --raw)", path, ln);
      if (!chat) return make_error("{}:{}: `messages` row but the model has no chat template", path, ln);
      auto ex = tokenize_messages(tok, *chat, j["messages"], eos);
      if (!ex.ok()) return make_error("{}:{}: {}", path, ln, ex.message());
      out.push_back(std::move(*ex));
      continue;
    }
    if (!j.contains("prompt") || !j["prompt"].is_string() || !j.contains("completion") ||
        !j["completion"].is_string())
      return make_error("{}:{}: expected {{\"prompt\": str, \"completion\": str}} or {{\"messages\": [...]}}",
                        path, ln);
    auto ex = tokenize_pair(tok, format == SftFormat::Chat ? chat : nullptr,
                            j["prompt"].get<std::string>(), j["completion"].get<std::string>(), eos);
    if (!ex.ok()) return make_error("{}:{}: {}", path, ln, ex.message());
    out.push_back(std::move(*ex));
  }
  if (out.empty()) return make_error("{}: no examples", path);
  return out;
}

std::vector<SftRow> pack_sft(const std::vector<SftExample>& examples, int64_t seq_len, int32_t pad,
                             int64_t* truncated) {
  const size_t cap = size_t(seq_len + 1);
  std::vector<SftRow> rows;
  std::vector<int32_t> toks;
  std::vector<uint8_t> predict;  // 1: this token is a completion token (a target when predicted)
  int64_t cut = 0;
  auto flush = [&]() {
    if (toks.empty()) return;
    SftRow r;
    r.tokens = toks;
    r.tokens.resize(cap, pad);
    predict.resize(cap, 0);
    r.targets.assign(size_t(seq_len), -1);
    for (size_t i = 1; i < cap; ++i)
      if (predict[i]) {
        r.targets[i - 1] = r.tokens[i];
        ++r.n_targets;
      }
    rows.push_back(std::move(r));
    toks.clear();
    predict.clear();
  };
  for (const SftExample& ex : examples) {
    const size_t n = ex.prompt.size() + ex.completion.size();
    if (toks.size() + n > cap) flush();
    if (n > cap) ++cut;
    const size_t np = std::min(ex.prompt.size(), cap), nc = std::min(ex.completion.size(), cap - np);
    toks.insert(toks.end(), ex.prompt.begin(), ex.prompt.begin() + long(np));
    predict.insert(predict.end(), np, 0);
    toks.insert(toks.end(), ex.completion.begin(), ex.completion.begin() + long(nc));
    predict.insert(predict.end(), nc, 1);
    // Position 0 of a row has no predecessor in the row: its token is never a target.
    if (toks.size() == cap) flush();
  }
  flush();
  if (truncated) *truncated = cut;
  return rows;
}

Result<SftReport> run_sft(const SftOptions& o, ThreadPool& pool, std::FILE* progress) {
  if (o.batch <= 0 || o.accum <= 0 || o.seq_len <= 0 || o.steps < 0 || o.epochs < 0)
    return make_error("batch, accum and seq-len must be positive; steps and epochs >= 0");
  if (o.out.empty()) return make_error("--out is required");
  if (!fs::is_regular_file(o.model + "/config.json"))
    return make_error("--model {}: not an HF directory (no config.json)", o.model);
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return make_error("{}: cannot create: {}", o.out, ec.message());

  const std::string tok_json = o.model + "/tokenizer.json";
  if (!fs::is_regular_file(tok_json)) return make_error("{}: missing (the model's tokenizer)", tok_json);
  R1_ASSIGN_OR_RETURN(tok, tok::Tokenizer::from_path(o.model));
  std::optional<tok::ChatTemplate> chat;
  if (o.format != SftFormat::Raw) {
    auto c = tok::ChatTemplate::from_path(o.model);
    if (c.ok()) chat = std::move(*c);
    else if (o.format == SftFormat::Chat)
      return make_error("--chat: {}: {}", o.model, c.message());
  }
  R1_ASSIGN_OR_RETURN(examples, load_sft_data(o.data, *tok, chat ? &*chat : nullptr, o.format));
  // Fixed seeded example order, then whole-example packing.
  std::vector<int64_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  seeded_shuffle(order, mix64(o.seed, 0x5f7));
  std::vector<SftExample> shuffled;
  shuffled.reserve(examples.size());
  for (int64_t i : order) shuffled.push_back(std::move(examples[size_t(i)]));
  int64_t truncated = 0;
  const std::vector<SftRow> rows = pack_sft(shuffled, o.seq_len, tok->eos_id(), &truncated);
  const int64_t n_rows = int64_t(rows.size());
  const int64_t rows_per_step = o.batch * o.accum;
  const int64_t steps =
      o.steps > 0 ? o.steps
                  : std::max<int64_t>(1, int64_t(std::ceil((o.epochs > 0 ? o.epochs : 1.0) *
                                                           double(n_rows) / double(rows_per_step))));

  int64_t start = 0;
  const int64_t last = o.resume ? latest_checkpoint(o.out) : -1;
  const std::string init_dir = last >= 0 ? checkpoint_path(o.out, last) : o.model;
  R1_ASSIGN_OR_RETURN(lm, TrainLM::load(init_dir, pool));
  if (last >= 0) start = last;
  if (tok->vocab_size() > lm->vocab_size())
    return make_error("tokenizer has {} ids but the model's vocab_size is {}", tok->vocab_size(),
                      lm->vocab_size());

  AdamWConfig ac;
  ac.beta1 = o.beta1;
  ac.beta2 = o.beta2;
  ac.weight_decay = o.weight_decay;
  AdamW opt(lm->params(), ac);
  if (last >= 0) {
    R1_ASSIGN_OR_RETURN(st, load_optimizer(init_dir, *lm, opt));
    (void)st;
  }
  const std::string metrics_path = o.out + "/metrics.jsonl";
  if (start > 0) {
    R1_TRY(truncate_metrics(metrics_path, start));
  } else {
    R1_TRY(write_file_atomic(metrics_path, "", 0));
  }
  nlohmann::json gen = nlohmann::json::object();
  if (tok->bos_id() >= 0) gen["bos_token_id"] = tok->bos_id();
  if (tok->eos_id() >= 0) gen["eos_token_id"] = tok->eos_id();
  nlohmann::json state = {{"seed", o.seed}, {"batch", o.batch}, {"accum", o.accum},
                          {"seq_len", o.seq_len}, {"sft_data", o.data}};

  SftReport rep;
  rep.n_examples = int64_t(shuffled.size());
  rep.n_rows = n_rows;
  rep.truncated = truncated;
  rep.steps = steps;
  if (progress && !o.quiet)
    std::fprintf(progress,
                 "sft: %s, %.2fM params, %lld examples packed into %lld rows of %lld "
                 "(%lld cut), %lld rows/step, steps %lld..%lld\n",
                 lm->arch().c_str(), double(lm->n_params()) / 1e6, (long long)rep.n_examples,
                 (long long)n_rows, (long long)o.seq_len, (long long)truncated,
                 (long long)rows_per_step, (long long)start + 1, (long long)steps);

  // Epoch e visits the rows in a seeded permutation: sample k is row perm_e[k % n_rows].
  std::vector<int64_t> perm(static_cast<size_t>(n_rows));
  int64_t perm_epoch = -1;
  auto row_at = [&](int64_t k) -> const SftRow& {
    const int64_t e = k / n_rows;
    if (e != perm_epoch) {
      std::iota(perm.begin(), perm.end(), 0);
      seeded_shuffle(perm, mix64(o.seed, uint64_t(e) + 1));
      perm_epoch = e;
    }
    return rows[size_t(perm[size_t(k % n_rows)])];
  };

  ProgressMeter meter(start, steps);  // wall clock: checkpoints count
  std::vector<int32_t> in(static_cast<size_t>(o.seq_len));
  for (int64_t step = start; step < steps; ++step) {
    lm->zero_grad();
    int64_t total_targets = 0;
    for (int64_t i = 0; i < rows_per_step; ++i) total_targets += row_at(step * rows_per_step + i).n_targets;
    const float scale = 1.0f / float(std::max<int64_t>(total_targets, 1));
    double loss_sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < rows_per_step; ++i) {
      const SftRow& r = row_at(step * rows_per_step + i);
      if (r.n_targets == 0) continue;
      std::copy(r.tokens.begin(), r.tokens.begin() + o.seq_len, in.begin());
      int64_t c = 0;
      loss_sum += lm->forward_backward(in, r.targets, scale, &c);
      count += c;
    }
    const double gnorm = clip_grad_norm(lm->params(), o.clip);
    const double lr = lr_at(step, o.lr, o.min_lr, o.warmup, steps);
    opt.step(lm->params(), lr);
    lm->update_router_bias(1e-3);
    const double loss = loss_sum / double(std::max<int64_t>(count, 1));
    if (step == start) rep.first_loss = loss;
    rep.last_loss = loss;
    meter.step_done(step + 1, rows_per_step * o.seq_len);
    const double tps = meter.tokens_per_s();
    nlohmann::json line = {{"step", step + 1},        {"loss", loss},
                           {"lr", lr},                {"tokens_per_s", tps},
                           {"grad_norm", gnorm},      {"completion_tokens", count},
                           {"epoch", double((step + 1) * rows_per_step) / double(n_rows)}};
    {
      std::ofstream mf(metrics_path, std::ios::app);
      mf << line.dump() << "\n";
      if (!mf) return make_error("{}: write failed", metrics_path);
    }
    if (progress && !o.quiet) {
      std::fprintf(progress, "step %lld/%lld loss %.4f lr %.2e | %.0f tok/s | ETA %s\n",
                   (long long)step + 1, (long long)steps, loss, lr, tps,
                   eta_string(meter.eta_s()).c_str());
      std::fflush(progress);
    }
    if ((step + 1) % std::max<int64_t>(o.save_every, 1) == 0 || step + 1 == steps) {
      R1_ASSIGN_OR_RETURN(path, save_checkpoint(o.out, step + 1, *lm, opt, state, tok_json, gen,
                                                o.keep_last));
      rep.checkpoint = path;
      if (progress && !o.quiet) std::fprintf(progress, "saved %s\n", path.c_str());
    }
  }
  if (rep.checkpoint.empty() && latest_checkpoint(o.out) >= 0)
    rep.checkpoint = checkpoint_path(o.out, latest_checkpoint(o.out));
  return rep;
}

}  // namespace r1::train

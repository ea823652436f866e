// Evaluation runner (see runner.h).
#include "eval/runner.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "engine/prompt.h"
#include "eval/metrics.h"
#include "rewards/math_verify.h"
#include "rewards/rewards.h"

namespace r1::eval {
namespace {

bool contains_ci(std::string_view s, std::string_view w) {
  auto it = std::search(s.begin(), s.end(), w.begin(), w.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != s.end();
}

// The k samples of one prompt decoded together: each sample has its own session (prefilled
// separately) and Sequence; every decode step feeds the unfinished samples' tokens through one
// CausalLM::forward_batch, so the weights are read once per step for all k (decoding is
// memory-bound). Same seeds and sampler as engine::generate, one sample at a time.
std::vector<engine::GenerateResult> generate_group(models::CausalLM& model, const tok::Tokenizer& tok,
                                                   const std::vector<int32_t>& ids, int64_t n_ctx,
                                                   const std::vector<engine::GenerateOptions>& gens) {
  const int64_t V = model.info().vocab_size;
  const size_t k = gens.size();
  std::vector<std::unique_ptr<models::Session>> sessions;
  std::vector<engine::Sequence> seqs;
  std::vector<float> logits(static_cast<size_t>(V));
  engine::SamplerWorkspace ws;
  const engine::StreamCallback no_stream;
  for (size_t i = 0; i < k; ++i) {
    engine::CachedSession cs;
    cs.session = model.new_session(n_ctx);
    engine::prefill(model, cs, ids, logits);  // logits: the prediction after the whole prompt
    sessions.push_back(std::move(cs.session));
    seqs.emplace_back(tok, gens[i], ids, n_ctx);
    seqs.back().accept(logits, ws, no_stream);
  }
  std::vector<float> batch_logits;
  for (;;) {
    std::vector<int32_t> tokens;
    std::vector<models::Session*> active;
    std::vector<size_t> which;
    for (size_t i = 0; i < k; ++i) {
      if (seqs[i].finished()) continue;
      tokens.push_back(seqs[i].next_token());
      active.push_back(sessions[i].get());
      which.push_back(i);
    }
    if (tokens.empty()) break;
    batch_logits.resize(tokens.size() * static_cast<size_t>(V));
    model.forward_batch(tokens, active, batch_logits.data());
    for (size_t b = 0; b < which.size(); ++b)
      seqs[which[b]].accept(std::span<const float>(batch_logits.data() + b * V, static_cast<size_t>(V)), ws, no_stream);
  }
  std::vector<engine::GenerateResult> out;
  for (auto& s : seqs) out.push_back(s.result());
  return out;
}

}  // namespace

bool judge(const EvalItem& item, const std::string& rendered_prompt, const std::string& completion, std::string& answer) {
  return rewards::answer_correct(rendered_prompt, completion, item.answer, item.task ? &*item.task : nullptr, &answer);
}

nlohmann::ordered_json EvalSummary::to_json() const {
  nlohmann::ordered_json j;
  j["n_problems"] = n_problems;
  j["k"] = k;
  j["pass@1"] = pass_at_1;
  j["cons@k"] = cons_at_k;
  j["pass@k"] = pass_at_k;
  j["mean_completion_tokens"] = mean_completion_tokens;
  j["think_share"] = think_share;
  j["wait_share"] = wait_share;
  j["check_share"] = check_share;
  j["format_share"] = format_share;
  j["truncated_share"] = truncated_share;
  return j;
}

EvalSummary summarize(const std::vector<EvalItem>& items, const std::vector<SampleRecord>& records, int k) {
  EvalSummary s;
  s.k = k;
  s.n_problems = static_cast<int64_t>(items.size());
  std::map<int, std::vector<const SampleRecord*>> by_problem;
  for (const auto& r : records) by_problem[r.problem].push_back(&r);
  double tokens = 0;
  for (const auto& r : records) {
    tokens += static_cast<double>(r.completion_tokens);
    s.think_share += r.think;
    s.wait_share += r.wait;
    s.check_share += r.check;
    s.format_share += r.format_ok;
    s.truncated_share += r.finish_reason == "length";
  }
  const double n_rec = std::max<double>(1.0, static_cast<double>(records.size()));
  s.mean_completion_tokens = tokens / n_rec;
  s.think_share /= n_rec;
  s.wait_share /= n_rec;
  s.check_share /= n_rec;
  s.format_share /= n_rec;
  s.truncated_share /= n_rec;
  if (items.empty()) return s;
  for (const auto& [p, rs] : by_problem) {
    const int n = static_cast<int>(rs.size());
    int c = 0;
    std::vector<std::string> answers;
    for (const auto* r : rs) {
      c += r->correct;
      answers.push_back(r->answer);
    }
    s.pass_at_1 += static_cast<double>(c) / n;
    s.pass_at_k += pass_at_k(n, c, std::min(k, n));
    const int v = majority_vote(answers, [](std::string_view a, std::string_view b) {
      return rewards::math_equal(a, b);
    });
    if (v >= 0) s.cons_at_k += rs[v]->correct;
  }
  const double np = static_cast<double>(items.size());
  s.pass_at_1 /= np;
  s.pass_at_k /= np;
  s.cons_at_k /= np;
  return s;
}

Result<std::vector<SampleRecord>> run_eval(models::CausalLM& model, const tok::Tokenizer& tok,
                                           const std::vector<EvalItem>& items, const EvalOptions& opts,
                                           const EvalProgress& progress) {
  std::vector<SampleRecord> records;
  const int64_t total = static_cast<int64_t>(items.size()) * opts.k;
  const int64_t model_ctx = model.info().max_position_embeddings > 0 ? model.info().max_position_embeddings : 4096;
  for (size_t pi = 0; pi < items.size(); ++pi) {
    const EvalItem& item = items[pi];
    std::string rendered;
    std::vector<int32_t> ids;
    if (opts.chat) {
      std::string content = item.problem;
      if (!opts.instruction.empty() && item.problem.find("\\boxed") == std::string::npos) content.append("\n").append(opts.instruction);
      const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", content}}};
      R1_ASSIGN_OR_RETURN(chat_ids, engine::chat_prompt_ids(tok, *opts.chat, messages, opts.allow_bos, &rendered));
      ids = std::move(chat_ids);
    } else {
      rendered = item.problem;
      ids = engine::raw_prompt_ids(tok, item.problem, opts.allow_bos);
    }
    const int64_t n_ctx = std::min<int64_t>(model_ctx, static_cast<int64_t>(ids.size()) + std::max<int64_t>(opts.max_tokens, 1));
    if (auto fits = engine::check_prompt(static_cast<int64_t>(ids.size()), n_ctx); !fits.ok())
      return make_error("problem {}: {}", pi + 1, fits.message());
    std::vector<engine::GenerateOptions> gens(static_cast<size_t>(opts.k));
    for (int si = 0; si < opts.k; ++si) {
      auto& g = gens[static_cast<size_t>(si)];
      g.sampling = opts.sampling;
      g.sampling.seed = opts.sampling.seed + 1000003ull * pi + static_cast<uint64_t>(si);
      g.max_tokens = opts.max_tokens;
      g.eos_ids = opts.eos_ids;
    }
    std::vector<engine::GenerateResult> results;
    if (opts.batch && opts.k > 1) {
      results = generate_group(model, tok, ids, n_ctx, gens);
    } else {
      engine::CachedSession cs;
      cs.session = model.new_session(n_ctx);
      for (const auto& g : gens) {
        R1_ASSIGN_OR_RETURN(res, engine::generate(model, cs, tok, ids, g));
        results.push_back(std::move(res));
      }
    }
    for (int si = 0; si < opts.k; ++si) {
      const engine::GenerateResult& res = results[static_cast<size_t>(si)];
      SampleRecord r;
      r.problem = static_cast<int>(pi);
      r.sample = si;
      r.completion = res.text;
      r.completion_tokens = static_cast<int64_t>(res.tokens.size());
      r.finish_reason = engine::finish_reason_name(res.finish_reason);
      r.correct = judge(item, rendered, r.completion, r.answer);
      r.think = r.completion.find("</think>") != std::string::npos;
      r.wait = contains_ci(r.completion, "wait");
      r.check = r.completion.find("check") != std::string::npos;
      r.format_ok = rewards::format_reward(rendered, r.completion, item.answer) == 1.0f;
      records.push_back(std::move(r));
      if (progress) progress(static_cast<int64_t>(records.size()), total, records.back());
    }
  }
  return records;
}

}  // namespace r1::eval

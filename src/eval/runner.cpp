// Evaluation runner (see runner.h).
#include "eval/runner.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "engine/prompt.h"
#include "engine/scheduler.h"
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
  // Every sample of every problem goes to one scheduler up front (so a prompt that does not fit
  // fails before any compute); k run at a time, and a finished sample's slot goes to the next
  // waiting one, whatever its problem. Records are judged and reported in (problem, sample) order.
  engine::SchedulerOptions so;
  so.max_running = opts.batch ? std::max(opts.k, 1) : 1;
  so.max_pooled_sessions = so.max_running;  // the next sample of a problem reuses its prompt's cache
  engine::Scheduler sched(model, tok, so);
  std::vector<std::string> rendered(items.size());
  std::vector<engine::SeqId> ids;
  for (size_t pi = 0; pi < items.size(); ++pi) {
    const EvalItem& item = items[pi];
    std::vector<int32_t> prompt;
    if (opts.chat) {
      std::string content = item.problem;
      if (!opts.instruction.empty() && item.problem.find("\\boxed") == std::string::npos) content.append("\n").append(opts.instruction);
      const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", content}}};
      R1_ASSIGN_OR_RETURN(chat_ids, engine::chat_prompt_ids(tok, *opts.chat, messages, opts.allow_bos, &rendered[pi]));
      prompt = std::move(chat_ids);
    } else {
      rendered[pi] = item.problem;
      prompt = engine::raw_prompt_ids(tok, item.problem, opts.allow_bos);
    }
    for (int si = 0; si < opts.k; ++si) {
      engine::SequenceRequest req;
      req.prompt = prompt;
      req.opts.sampling = opts.sampling;
      req.opts.sampling.seed = opts.sampling.seed + 1000003ull * pi + static_cast<uint64_t>(si);
      req.opts.max_tokens = opts.max_tokens;
      req.opts.eos_ids = opts.eos_ids;
      auto id = sched.add(std::move(req));
      if (!id.ok()) return make_error("problem {}: {}", pi + 1, id.message());
      ids.push_back(*id);
    }
  }
  std::vector<SampleRecord> records;
  const int64_t total = static_cast<int64_t>(ids.size());
  while (records.size() < ids.size()) {
    if (!sched.finished(ids[records.size()])) {
      sched.step();
      continue;
    }
    const size_t n = records.size();
    const int pi = static_cast<int>(n / static_cast<size_t>(opts.k));
    const EvalItem& item = items[static_cast<size_t>(pi)];
    const engine::GenerateResult res = sched.take(ids[n]);
    SampleRecord r;
    r.problem = pi;
    r.sample = static_cast<int>(n % static_cast<size_t>(opts.k));
    r.completion = res.text;
    r.completion_tokens = static_cast<int64_t>(res.tokens.size());
    r.finish_reason = engine::finish_reason_name(res.finish_reason);
    const std::string& prompt_text = rendered[static_cast<size_t>(pi)];
    r.correct = judge(item, prompt_text, r.completion, r.answer);
    r.think = r.completion.find("</think>") != std::string::npos;
    r.wait = contains_ci(r.completion, "wait");
    r.check = r.completion.find("check") != std::string::npos;
    r.format_ok = rewards::format_reward(prompt_text, r.completion, item.answer) == 1.0f;
    records.push_back(std::move(r));
    if (progress) progress(static_cast<int64_t>(records.size()), total, records.back());
  }
  return records;
}

}  // namespace r1::eval

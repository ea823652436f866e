#include "train/distill.h"
#include "train/run_log.h"

#include <algorithm>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "train/grpo.h"

namespace r1::train {

namespace {

uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x ^ (x >> 33);
}

}  // namespace

std::vector<Trace> filter_traces(const std::vector<DistillPrompt>& prompts,
                                 const std::vector<Candidate>& candidates, int64_t max_per_prompt,
                                 FilterStats* stats) {
  FilterStats st;
  std::vector<Trace> out;
  std::set<std::pair<int64_t, std::string>> seen;
  std::vector<int64_t> per_prompt(prompts.size(), 0);
  for (const Candidate& c : candidates) {
    ++st.samples;
    if (c.truncated) ++st.truncated;
    if (c.correct) ++st.correct;
    if (c.well_formed) ++st.well_formed;
    if (c.truncated || !c.correct || !c.well_formed) continue;
    if (c.prompt_index < 0 || size_t(c.prompt_index) >= prompts.size()) continue;
    ++st.accepted_before_dedup;
    if (!seen.insert({c.prompt_index, c.completion}).second) {
      ++st.duplicates;
      continue;
    }
    int64_t& n = per_prompt[size_t(c.prompt_index)];
    if (max_per_prompt > 0 && n >= max_per_prompt) continue;
    if (n == 0) ++st.prompts_with_trace;
    ++n;
    const DistillPrompt& p = prompts[size_t(c.prompt_index)];
    out.push_back({p.prompt, c.completion, p.gold});
  }
  st.kept = int64_t(out.size());
  if (stats) *stats = st;
  return out;
}

std::string traces_jsonl(const std::vector<Trace>& traces) {
  std::string s;
  for (const Trace& t : traces) {
    nlohmann::ordered_json j = {{"prompt", t.prompt}, {"completion", t.completion}, {"answer", t.answer}};
    s += j.dump() + "\n";
  }
  return s;
}

Result<void> check_same_vocab(const tok::Tokenizer& teacher, const tok::Tokenizer& student) {
  if (teacher.vocab_size() != student.vocab_size())
    return make_error("teacher and student tokenizers differ: {} vs {} ids", teacher.vocab_size(),
                      student.vocab_size());
  for (int32_t id = 0; id < teacher.vocab_size(); ++id)
    if (teacher.token_text(id) != student.token_text(id) ||
        teacher.is_special(id) != student.is_special(id))
      return make_error("teacher and student tokenizers differ at id {} ('{}' vs '{}')", id,
                        teacher.token_text(id), student.token_text(id));
  return {};
}

std::vector<Candidate> sample_candidates(
    models::CausalLM& teacher, const tok::Tokenizer& tok, const std::vector<DistillPrompt>& prompts,
    const std::function<std::vector<int32_t>(const std::string&)>& prompt_ids,
    const Verifier& verify, const SampleOptions& o, std::FILE* progress) {
  std::vector<int32_t> eos = tok.eos_ids();
  for (int32_t e : teacher.info().eos_token_ids)
    if (std::find(eos.begin(), eos.end(), e) == eos.end()) eos.push_back(e);
  if (tok.eos_id() >= 0 && std::find(eos.begin(), eos.end(), tok.eos_id()) == eos.end())
    eos.push_back(tok.eos_id());

  const int64_t k = std::max<int64_t>(o.k, 1);
  const int64_t total = int64_t(prompts.size()) * k;
  const int64_t batch = std::max<int64_t>(o.batch, 1);
  std::vector<Candidate> out;
  out.reserve(size_t(total));
  std::vector<std::vector<int32_t>> ids_cache;
  ids_cache.reserve(prompts.size());
  for (const auto& p : prompts) ids_cache.push_back(prompt_ids(p.prompt));

  ProgressMeter meter(0, total);  // steps are samples; wall clock, verification included
  int64_t accepted = 0;
  for (int64_t start = 0; start < total; start += batch) {
    const int64_t end = std::min(total, start + batch);
    std::vector<std::vector<int32_t>> rows;
    std::vector<uint64_t> seeds;
    for (int64_t r = start; r < end; ++r) {
      const int64_t i = r / k, j = r % k;
      rows.push_back(ids_cache[size_t(i)]);
      seeds.push_back(mix64(mix64(o.seed, uint64_t(i)), uint64_t(j) + 1));
    }
    std::vector<Sample> samples =
        sample_batch(teacher, tok, rows, eos, o.max_tokens, o.temperature, seeds);
    for (int64_t r = start; r < end; ++r) {
      Sample& s = samples[size_t(r - start)];
      Candidate c;
      c.prompt_index = r / k;
      c.truncated = s.truncated;
      std::vector<int32_t> body = s.tokens;
      if (!body.empty() && std::find(eos.begin(), eos.end(), body.back()) != eos.end())
        body.pop_back();
      c.completion = tok.decode(body, /*skip_special=*/false);
      const DistillPrompt& p = prompts[size_t(c.prompt_index)];
      const Verdict v = verify(p.prompt, c.completion, p.gold);
      c.correct = v.correct;
      c.well_formed = v.well_formed;
      if (c.correct && c.well_formed && !c.truncated) ++accepted;
      meter.step_done(r + 1, int64_t(s.tokens.size()));
      out.push_back(std::move(c));
    }
    if (progress && !o.quiet) {
      std::fprintf(progress, "sample %lld/%lld | accepted %lld (%.1f%%) | %.0f tok/s | ETA %s\n",
                   (long long)end, (long long)total, (long long)accepted,
                   100.0 * double(accepted) / double(end), meter.tokens_per_s(),
                   eta_string(meter.eta_s()).c_str());
      std::fflush(progress);
    }
  }
  return out;
}

}  // namespace r1::train

// `r1 distill --teacher T --student S (--task NAME --n N | --data FILE) --out DIR`: rejection-
// sampling distillation (DeepSeek-R1 §2.3.3, §2.4). The teacher (any architecture `r1 run`
// loads) samples k completions per prompt in batches; a completion is kept when it is correct
// (the task's own checker, or the math verifier against the gold) AND well-formed
// (<think>...</think>answer, rewards::format_reward) and not cut at --max-tokens; exact
// duplicates are dropped. Writes DIR/traces.jsonl ({prompt, completion, answer}),
// DIR/distill_stats.json (acceptance rate and counts), DIR/samples.jsonl (every sample with
// its verdicts), then fine-tunes the student on the traces
// (train/sft.h) into DIR/student/checkpoint-STEP/. Teacher and student must share the tokenizer.
#include <cblas.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/sft_options.h"
#include "core/storage.h"
#include "engine/prompt.h"
#include "models/model.h"
#include "rewards/rewards.h"
#include "task/task.h"
#include "train/distill.h"
#include "train/sft.h"

namespace r1::cli {

namespace {

Result<std::vector<train::DistillPrompt>> read_prompts(const std::string& path) {
  std::ifstream f(path);
  if (!f) return make_error("--data {}: cannot read", path);
  std::vector<train::DistillPrompt> out;
  std::string line;
  int64_t ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    std::string prompt;
    for (const char* k : {"prompt", "problem", "question"})
      if (j.is_object() && j.contains(k) && j[k].is_string()) {
        prompt = j[k].get<std::string>();
        break;
      }
    if (prompt.empty())
      return make_error("{}:{}: expected {{\"prompt\": str, \"answer\": ...}}", path, ln);
    std::string gold;
    for (const char* k : {"answer", "gold", "solution"})
      if (j.contains(k)) {
        gold = j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
        break;
      }
    if (gold.empty()) return make_error("{}:{}: no \"answer\" to verify against", path, ln);
    out.push_back({std::move(prompt), std::move(gold)});
  }
  if (out.empty()) return make_error("--data {}: no prompts", path);
  return out;
}

}  // namespace

int cmd_distill(int argc, char** argv) {
  CLI::App app{"Rejection-sampling distillation: the teacher samples k completions per prompt, "
               "correct and well-formed ones are kept (deduplicated) as traces.jsonl, then the "
               "student is fine-tuned on them.", "r1 distill"};
  std::string teacher, task_name, data;
  int64_t n_prompts = 256, max_per_prompt = 0;
  int level = 0, threads = default_threads();
  train::SampleOptions so;
  train::SftOptions o;
  SftFormatFlags f;
  bool sample_only = false;
  app.add_option("--teacher", teacher, "teacher model (HF directory or .gguf)")->required();
  app.add_option("--student", o.model, "student HF directory (same tokenizer)")->required();
  app.add_option("--task", task_name, "embedded task: arith, linear, countdown (train split)");
  app.add_option("--level", level, "task difficulty level (0: default mix)")->capture_default_str();
  app.add_option("--n", n_prompts, "task prompts to sample")->capture_default_str();
  app.add_option("--data", data, "JSONL prompts: {\"prompt\": ..., \"answer\": ...} per line");
  app.add_option("--out", o.out, "output folder (traces.jsonl, distill_stats.json, student/)")
      ->required();
  app.add_option("-k,--k", so.k, "completions sampled per prompt")->capture_default_str();
  app.add_option("--temp", so.temperature, "teacher sampling temperature")->capture_default_str();
  app.add_option("--max-tokens", so.max_tokens, "new tokens per completion")->capture_default_str();
  app.add_option("--gen-batch", so.batch, "completions decoded together")->capture_default_str();
  app.add_option("--max-per-prompt", max_per_prompt, "traces kept per prompt (0: all distinct)")
      ->capture_default_str();
  app.add_flag("--sample-only", sample_only, "write traces.jsonl and stop (no SFT)");
  add_sft_options(app, o, f);
  app.add_option("-t,--threads", threads, "threads (default: physical cores)");
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (int rc = sft_format(f, o, "distill"); rc >= 0) return rc;
  if (o.format == train::SftFormat::Auto) o.format = train::SftFormat::Raw;
  so.seed = o.seed;
  so.quiet = o.quiet;
  if (task_name.empty() == data.empty()) {
    std::fprintf(stderr, "r1 distill: give exactly one of --task NAME or --data FILE\n");
    return 2;
  }
  if (so.k <= 0 || so.max_tokens <= 0 || so.temperature <= 0 || n_prompts <= 0) {
    std::fprintf(stderr, "r1 distill: -k, --max-tokens, --temp and --n must be positive\n");
    return 2;
  }
  if (!std::filesystem::is_regular_file(o.model + "/config.json")) {
    std::fprintf(stderr, "r1 distill: --student %s: not an HF directory (no config.json)\n",
                 o.model.c_str());
    return 2;
  }

  // Tokenizers: one vocabulary for both.
  auto ttok = tok::Tokenizer::from_path(teacher);
  if (!ttok.ok()) {
    std::fprintf(stderr, "r1 distill: --teacher %s: %s\n", teacher.c_str(), ttok.message().c_str());
    return 1;
  }
  auto stok = tok::Tokenizer::from_path(o.model);
  if (!stok.ok()) {
    std::fprintf(stderr, "r1 distill: --student %s: %s\n", o.model.c_str(), stok.message().c_str());
    return 1;
  }
  if (auto same = train::check_same_vocab(**ttok, **stok); !same.ok()) {
    std::fprintf(stderr, "r1 distill: %s\n", same.message().c_str());
    return 2;
  }

  // Prompts and the verifier.
  std::vector<train::DistillPrompt> prompts;
  std::map<std::string, task::Problem> problems;
  if (!task_name.empty()) {
    auto ps = task::generate(task_name, n_prompts, o.seed, task::Split::Train, level);
    if (!ps.ok()) {
      std::fprintf(stderr, "r1 distill: --task: %s\n", ps.message().c_str());
      return 2;
    }
    for (auto& p : *ps) {
      if (problems.count(p.prompt)) continue;  // train problems may repeat: one prompt each
      prompts.push_back({p.prompt, p.answer});
      problems[p.prompt] = p;
    }
  } else {
    auto ps = read_prompts(data);
    if (!ps.ok()) {
      std::fprintf(stderr, "r1 distill: %s\n", ps.message().c_str());
      return 2;
    }
    prompts = std::move(*ps);
  }
  const train::Verifier verify = [&problems](const std::string& prompt, const std::string& completion,
                                             const std::string& gold) {
    train::Verdict v;
    auto it = problems.find(prompt);
    v.correct = rewards::answer_correct(prompt, completion, gold, it == problems.end() ? nullptr : &it->second);
    v.well_formed = rewards::format_reward(prompt, completion, gold) == 1.0f;
    return v;
  };

  const int n = threads > 0 ? threads : default_threads();
  openblas_set_num_threads(n);
  ThreadPool pool(n);
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec) {
    std::fprintf(stderr, "r1 distill: %s: cannot create: %s\n", o.out.c_str(), ec.message().c_str());
    return 1;
  }

  const std::string traces_path = o.out + "/traces.jsonl";
  const bool reuse = o.resume && std::filesystem::is_regular_file(traces_path);
  if (!reuse) {
    auto model = models::load_model(teacher, {}, pool);
    if (!model.ok()) {
      std::fprintf(stderr, "r1 distill: --teacher %s: %s\n", teacher.c_str(), model.message().c_str());
      return 1;
    }
    // The student is trained on the prompt ids the teacher saw: the same rendering.
    std::optional<tok::ChatTemplate> chat;
    if (o.format == train::SftFormat::Chat) {
      auto c = engine::load_chat_template(teacher, **ttok);
      if (!c.ok()) {
        std::fprintf(stderr, "r1 distill: --chat: %s\n", c.message().c_str());
        return 2;
      }
      chat = std::move(*c);
    }
    const tok::Tokenizer& tk = **ttok;
    auto prompt_ids = [&](const std::string& text) -> std::vector<int32_t> {
      if (!chat) return engine::raw_prompt_ids(tk, text, true);
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      msgs.push_back({{"role", "user"}, {"content", text}});
      auto ids = engine::chat_prompt_ids(tk, *chat, msgs, true);
      return ids.ok() ? *ids : engine::raw_prompt_ids(tk, text, true);
    };
    if (!o.quiet)
      std::printf("distill: teacher %s (%s, %.2fM params), %zu prompts x k=%lld at T=%.2f\n",
                  teacher.c_str(), (*model)->info().arch.c_str(),
                  double((*model)->info().n_params) / 1e6, prompts.size(), (long long)so.k,
                  so.temperature);
    const auto cands =
        train::sample_candidates(**model, tk, prompts, prompt_ids, verify, so, stdout);
    train::FilterStats st;
    const auto traces = train::filter_traces(prompts, cands, max_per_prompt, &st);
    {  // every sample with its verdicts, for looking at what the verifier rejected
      std::string all;
      for (const auto& c : cands)
        all += nlohmann::ordered_json{{"prompt", prompts[size_t(c.prompt_index)].prompt},
                                      {"completion", c.completion},
                                      {"correct", c.correct},
                                      {"well_formed", c.well_formed},
                                      {"truncated", c.truncated}}
                   .dump() +
               "\n";
      (void)write_file_atomic(o.out + "/samples.jsonl", all.data(), all.size());
    }
    const std::string body = train::traces_jsonl(traces);
    if (auto w = write_file_atomic(traces_path, body.data(), body.size()); !w.ok()) {
      std::fprintf(stderr, "r1 distill: %s\n", w.message().c_str());
      return 1;
    }
    nlohmann::ordered_json js = {{"teacher", teacher},
                                 {"prompts", prompts.size()},
                                 {"k", so.k},
                                 {"temperature", so.temperature},
                                 {"samples", st.samples},
                                 {"truncated", st.truncated},
                                 {"correct", st.correct},
                                 {"well_formed", st.well_formed},
                                 {"accepted_before_dedup", st.accepted_before_dedup},
                                 {"duplicates", st.duplicates},
                                 {"kept", st.kept},
                                 {"prompts_with_trace", st.prompts_with_trace},
                                 {"acceptance_rate", st.acceptance_rate()}};
    const std::string sj = js.dump(2) + "\n";
    (void)write_file_atomic(o.out + "/distill_stats.json", sj.data(), sj.size());
    std::printf("distill: %lld samples, %lld correct, %lld well-formed, %lld accepted, %lld "
                "duplicates -> %lld traces (acceptance %.1f%%, %lld/%zu prompts covered): %s\n",
                (long long)st.samples, (long long)st.correct, (long long)st.well_formed,
                (long long)st.accepted_before_dedup, (long long)st.duplicates, (long long)st.kept,
                100.0 * st.acceptance_rate(), (long long)st.prompts_with_trace, prompts.size(),
                traces_path.c_str());
    std::fflush(stdout);
    if (st.kept == 0) {
      std::fprintf(stderr, "r1 distill: no trace passed the verifier (acceptance 0); nothing to "
                           "fine-tune on (try a stronger teacher, larger -k or --max-tokens)\n");
      return 1;
    }
  }
  if (sample_only) return 0;

  o.data = traces_path;
  const std::string out = o.out;
  o.out = out + "/student";
  auto r = train::run_sft(o, pool, stdout);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 distill: sft: %s\n", r.message().c_str());
    return 1;
  }
  std::printf("distill: student loss %.4f -> %.4f over %lld steps; model: %s\n", r->first_loss,
              r->last_loss, (long long)r->steps, r->checkpoint.c_str());
  return 0;
}

}  // namespace r1::cli

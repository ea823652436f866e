// `r1 eval`: the DeepSeek-R1 evaluation protocol on a JSONL benchmark or the embedded task:
// k samples per problem (temperature 0.6, top-p 0.95 by default), pass@1, cons@k, pass@k; writes
// DIR/results.json and DIR/outputs.jsonl (one line per sample).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "core/storage.h"
#include "engine/prompt.h"
#include "eval/dataset.h"
#include "eval/runner.h"

namespace r1::cli {

int cmd_eval(int argc, char** argv) {
  CLI::App app{
      "Evaluate a model with the DeepSeek-R1 protocol: k samples per problem, pass@1 (mean "
      "correctness of the samples), cons@k (majority vote over extracted answers) and unbiased "
      "pass@k; writes DIR/results.json and DIR/outputs.jsonl.",
      "eval"};
  std::string model_path, data, task_name, out_dir = "eval-out", problem_field, answer_field;
  std::string instruction = eval::kR1Instruction;
  int k = 1, threads = default_threads(), level = 0;
  int64_t n = -1, max_tokens = -1;
  uint64_t seed = 0;
  float temp = 0.6f, top_p = 0.95f;
  int top_k = 0;
  bool greedy = false, chat = false, raw = false, no_bos = false, no_batch = false;
  app.add_option("--model", model_path, "model: a Hugging Face directory or a .gguf file")->required();
  auto* data_opt = app.add_option("--data", data, "JSONL benchmark (MATH-500, GSM8K, AIME, or any problem/answer file)");
  auto* task_opt = app.add_option("--task", task_name, "embedded task family (arith, linear, countdown): held-out problems");
  data_opt->excludes(task_opt);
  app.add_option("--n", n, "problems: the first N of --data (default all), or N task problems (default 200)")->check(number_at_least(1));
  app.add_option("--level", level, "task difficulty level (0 = default mix)")->capture_default_str()->check(number_in(0, 4));
  app.add_option("-k,--k", k, "samples per problem")->capture_default_str()->check(number_at_least(1));
  app.add_option("--temp", temp, "sampling temperature (R1: 0.6)")->capture_default_str()->check(number_at_least(0));
  app.add_option("--top-p", top_p, "nucleus sampling (R1: 0.95)")->capture_default_str()->check(number_in(0, 1));
  app.add_option("--top-k", top_k, "top-k; 0 disables")->capture_default_str()->check(number_at_least(0));
  app.add_flag("--greedy", greedy, "greedy decoding (every sample is the same; use with -k 1)");
  app.add_option("--seed", seed, "base sampling seed (sample j of problem i uses seed + 1000003 i + j)")->capture_default_str();
  app.add_option("--max-tokens", max_tokens, "generated tokens per sample at most (default: 128 for --task, 4096 for --data)")->check(number_at_least(1));
  app.add_option("-t,--threads", threads, "threads (default: physical cores)")->capture_default_str()->check(number_at_least(1));
  app.add_option("--out", out_dir, "output directory for results.json and outputs.jsonl")->capture_default_str();
  app.add_flag("--chat", chat, "use the model's chat template with the R1 instruction (default for --data when the model has one)");
  app.add_flag("--raw", raw, "feed the problem text as a raw prompt (default for --task)");
  app.add_flag("--no-batch", no_batch, "decode a problem's k samples one after another (default: batched, one forward per step)");
  app.add_flag("--no-bos", no_bos, "do not prepend the BOS token to raw prompts");
  app.add_option("--instruction", instruction, "text appended to each problem in chat mode")->capture_default_str();
  app.add_option("--problem-field", problem_field, "JSONL field of the problem (default: problem, question or prompt)");
  app.add_option("--answer-field", answer_field, "JSONL field of the gold answer (default: answer; GSM8K's '#### N' -> N)");
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (data.empty() == task_name.empty()) {
    std::fprintf(stderr, "r1 eval: give exactly one of --data FILE or --task NAME\n");
    return 2;
  }
  if (chat && raw) {
    std::fprintf(stderr, "r1 eval: --chat and --raw exclude each other\n");
    return 2;
  }

  Result<std::vector<eval::EvalItem>> items = data.empty()
      ? eval::task_dataset(task_name, n > 0 ? n : 200, seed, level)
      : eval::read_jsonl_dataset(data, {problem_field, answer_field});
  if (!items.ok()) {
    std::fprintf(stderr, "r1 eval: %s\n", items.message().c_str());
    return 2;
  }
  if (!data.empty() && n > 0 && static_cast<int64_t>(items->size()) > n) items->resize(static_cast<size_t>(n));

  auto loaded = load_model_and_tokenizer(model_path, threads);
  if (!loaded.ok()) {
    std::fprintf(stderr, "r1 eval: %s\n", loaded.message().c_str());
    return 1;
  }
  LoadedModel& lm = loaded.value();

  eval::EvalOptions opts;
  opts.k = k;
  opts.sampling.temperature = greedy ? 0.0f : temp;
  opts.sampling.top_p = top_p;
  opts.sampling.top_k = top_k;
  opts.sampling.seed = seed;
  opts.max_tokens = max_tokens > 0 ? max_tokens : (data.empty() ? 128 : 4096);
  opts.eos_ids = lm.eos_ids();
  opts.instruction = instruction;
  opts.allow_bos = !no_bos;
  opts.batch = !no_batch;
  std::optional<tok::ChatTemplate> tmpl;
  const bool want_chat = chat || (!raw && !data.empty());
  if (want_chat) {
    auto t = engine::load_chat_template(lm.path, *lm.tokenizer);
    if (t.ok()) {
      tmpl = std::move(t.value());
      opts.chat = &*tmpl;
    } else if (chat) {
      std::fprintf(stderr, "r1 eval: --chat: %s\n", t.message().c_str());
      return 1;
    } else {
      std::fprintf(stderr, "r1 eval: note: the model has no chat template; using raw prompts\n");
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  std::ofstream outputs(out_dir + "/outputs.jsonl", std::ios::binary);
  if (!outputs) {
    std::fprintf(stderr, "r1 eval: %s: cannot write outputs.jsonl\n", out_dir.c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  int64_t gen_tokens = 0;
  auto progress = [&](int64_t done, int64_t total, const eval::SampleRecord& r) {
    const auto& item = (*items)[static_cast<size_t>(r.problem)];
    nlohmann::ordered_json j;
    j["problem"] = r.problem;
    j["sample"] = r.sample;
    j["prompt"] = item.problem;
    j["gold"] = item.answer;
    j["completion"] = r.completion;
    j["answer"] = r.answer;
    j["correct"] = r.correct;
    j["completion_tokens"] = r.completion_tokens;
    j["finish_reason"] = r.finish_reason;
    outputs << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    gen_tokens += r.completion_tokens;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Every sample on a terminal; about every 10% (one line each) in logs.
    const bool tty = isatty(STDERR_FILENO);
    if (tty || done == total || done % std::max<int64_t>(1, total / 10) == 0)
      std::fprintf(stderr, "%s[%lld/%lld] %.0f s, %.1f tok/s%s", tty ? "\r" : "", static_cast<long long>(done),
                   static_cast<long long>(total), s, s > 0 ? gen_tokens / s : 0.0, tty ? "   " : "\n");
  };
  auto records = eval::run_eval(*lm.model, *lm.tokenizer, *items, opts, progress);
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  if (!records.ok()) {
    std::fprintf(stderr, "r1 eval: %s\n", records.message().c_str());
    return 1;
  }
  outputs.close();
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const eval::EvalSummary sum = eval::summarize(*items, *records, k);
  nlohmann::ordered_json j = sum.to_json();
  j["model"] = lm.path;
  j["data"] = data.empty() ? std::string("task:").append(task_name) : data;
  j["chat"] = opts.chat != nullptr;
  j["temperature"] = std::round(static_cast<double>(opts.sampling.temperature) * 1e6) / 1e6;
  j["top_p"] = std::round(static_cast<double>(top_p) * 1e6) / 1e6;
  j["greedy"] = greedy;
  j["max_tokens"] = opts.max_tokens;
  j["seed"] = seed;
  j["elapsed_s"] = elapsed_s;
  j["gen_tokens_per_s"] = elapsed_s > 0 ? static_cast<double>(gen_tokens) / elapsed_s : 0.0;
  const std::string text = j.dump(2) + "\n";
  if (auto w = write_file_atomic(out_dir + "/results.json", text.data(), text.size()); !w.ok()) {
    std::fprintf(stderr, "r1 eval: %s\n", w.message().c_str());
    return 1;
  }
  std::printf("%-10s %4s %8s %8s %8s %12s %7s %7s\n", "problems", "k", "pass@1", "cons@k", "pass@k", "mean_tokens",
              "think", "wait");
  std::printf("%-10lld %4d %8.4f %8.4f %8.4f %12.1f %7.3f %7.3f\n", static_cast<long long>(sum.n_problems), sum.k,
              sum.pass_at_1, sum.cons_at_k, sum.pass_at_k, sum.mean_completion_tokens, sum.think_share, sum.wait_share);
  std::printf("wrote %s/results.json and %s/outputs.jsonl (%.1f s)\n", out_dir.c_str(), out_dir.c_str(), elapsed_s);
  return 0;
}

}  // namespace r1::cli

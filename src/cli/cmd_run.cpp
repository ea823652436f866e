// `r1 run MODEL`: generate a continuation of a prompt and stream it to stdout. Like llama.cpp's
// llama-simple/completion, only the generated continuation is printed (not the prompt); speeds go
// to stderr so that stdout is exactly the model's text (or one JSON object with --json).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "engine/scheduler.h"
#include "engine/prompt.h"
#include "models/registry.h"

namespace r1::cli {

namespace {

// Balance of one layer's load: min / max / mean tokens per expert and the coefficient of
// variation (stddev / mean; 0 = perfectly balanced).
struct Balance {
  int64_t min = 0, max = 0, total = 0;
  double mean = 0, cv = 0;
};

Balance balance_of(const std::vector<int64_t>& c) {
  Balance b;
  if (c.empty()) return b;
  b.min = *std::min_element(c.begin(), c.end());
  b.max = *std::max_element(c.begin(), c.end());
  for (int64_t v : c) b.total += v;
  b.mean = double(b.total) / double(c.size());
  double var = 0;
  for (int64_t v : c) var += (double(v) - b.mean) * (double(v) - b.mean);
  var /= double(c.size());
  b.cv = b.mean > 0 ? std::sqrt(var) / b.mean : 0.0;
  return b;
}

// `--stats`: tokens routed to each expert of every MoE layer over the whole session (prompt and
// generated tokens), then a balance line per layer and over all layers, on stderr.
void print_expert_stats(const models::Session& session) {
  const std::vector<std::vector<int64_t>> counts = models::session_expert_counts(session);
  std::vector<size_t> moe_layers;
  for (size_t l = 0; l < counts.size(); ++l)
    if (!counts[l].empty()) moe_layers.push_back(l);
  if (moe_layers.empty()) {
    std::fprintf(stderr, "expert usage: no MoE layers\n");
    return;
  }
  std::fprintf(stderr,
               "expert usage: tokens routed to each expert (prompt + generated), %zu MoE layers "
               "of %zu routed experts\n",
               moe_layers.size(), counts[moe_layers[0]].size());
  double cv_sum = 0, worst_ratio = 0;
  for (size_t l : moe_layers) {
    std::string line = fmt::format("layer {:3d} experts:", l);
    for (int64_t v : counts[l]) line += fmt::format(" {}", v);
    std::fprintf(stderr, "%s\n", line.c_str());
    const Balance b = balance_of(counts[l]);
    std::fprintf(stderr,
                 "layer %3zu balance: min %lld max %lld mean %.2f cv %.3f max/mean %.2f\n", l,
                 static_cast<long long>(b.min), static_cast<long long>(b.max), b.mean, b.cv,
                 b.mean > 0 ? double(b.max) / b.mean : 0.0);
    cv_sum += b.cv;
    if (b.mean > 0) worst_ratio = std::max(worst_ratio, double(b.max) / b.mean);
  }
  std::fprintf(stderr, "expert balance: mean cv %.3f over %zu layers, worst max/mean %.2f\n",
               cv_sum / double(moe_layers.size()), moe_layers.size(), worst_ratio);
}

}  // namespace

int cmd_run(int argc, char** argv) {
  CLI::App app{
      "Generate text with a model: prints the continuation of the prompt to stdout as it is "
      "generated, then prompt and generation speed on stderr.",
      "run"};
  std::string model_path;
  std::string prompt;
  int64_t n_predict = -1;
  std::vector<std::string> stops;
  int64_t ctx_size = -1;
  int threads = default_threads();
  bool chat = false;
  bool no_bos = false;
  bool json = false;
  bool ignore_eos = false;
  bool stats = false;
  SamplingFlags sampling;

  app.add_option("MODEL", model_path, "model: a Hugging Face directory or a .gguf file (default: the demo's student, made by `make demo`)");
  auto* prompt_opt = app.add_option("-p,--prompt", prompt, "prompt text (default: read stdin)");
  app.add_option("-n,--n-predict", n_predict,
                 "tokens to generate at most; -1 = until EOS or the context is full")
      ->capture_default_str()
      ->check(number_at_least(-1));
  sampling.add_to(app);
  app.add_option("--stop", stops, "stop string (repeatable); generation ends before it")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-c,--ctx-size", ctx_size,
                 "context length in tokens (prompt + generated); 0 = the model's full length "
                 "(default: the model's length, at most 4096)")
      ->check(number_at_least(0));
  app.add_option("-t,--threads", threads, "threads (default: physical cores)")
      ->capture_default_str()
      ->check(number_at_least(1));
  app.add_flag("--chat", chat,
               "wrap the prompt as one user message in the model's chat template");
  app.add_flag("--no-bos", no_bos, "do not prepend the BOS token");
  app.add_flag("--ignore-eos", ignore_eos, "keep generating past end-of-sequence tokens");
  app.add_flag("--json", json,
               "print one JSON object (prompt_ids, ids, text, finish_reason, counts, timings) "
               "at the end instead of streaming text");
  app.add_flag("--stats", stats,
               "after generation, print expert usage on stderr: tokens routed to each expert of "
               "every MoE layer and per-layer balance (min/max/mean/cv)");
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  if (model_path.empty()) {  // the demo's student model (`make demo`), if it exists
    auto d = default_model_path();
    if (!d.ok()) {
      std::fprintf(stderr, "r1 run: %s\n", d.message().c_str());
      return 2;
    }
    model_path = *d;
    std::fprintf(stderr, "r1 run: using the demo's student model %s\n", model_path.c_str());
  }
  if (!prompt_opt->count()) {
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "r1 run: reading the prompt from stdin (end with Ctrl-D)\n");
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }

  auto loaded = load_model_and_tokenizer(model_path, threads);
  if (!loaded.ok()) {
    std::fprintf(stderr, "r1 run: %s\n", loaded.message().c_str());
    return 1;
  }
  LoadedModel& lm = loaded.value();
  const auto& info = lm.model->info();

  Result<std::vector<int32_t>> ids = engine::raw_prompt_ids(*lm.tokenizer, prompt, !no_bos);
  if (chat) {
    auto tmpl = engine::load_chat_template(lm.path, *lm.tokenizer);
    if (!tmpl.ok()) {
      std::fprintf(stderr, "r1 run: --chat: %s\n", tmpl.message().c_str());
      return 1;
    }
    const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", prompt}}};
    ids = engine::chat_prompt_ids(*lm.tokenizer, tmpl.value(), messages, !no_bos);
  }
  if (!ids.ok()) {
    std::fprintf(stderr, "r1 run: %s\n", ids.message().c_str());
    return 1;
  }

  const int64_t model_ctx = info.max_position_embeddings > 0 ? info.max_position_embeddings : 4096;
  int64_t n_ctx = ctx_size < 0 ? std::min<int64_t>(model_ctx, 4096) : ctx_size == 0 ? model_ctx : ctx_size;
  if (n_ctx > model_ctx) {
    std::fprintf(stderr, "r1 run: warning: --ctx-size %lld exceeds the model's trained length %lld\n",
                 static_cast<long long>(n_ctx), static_cast<long long>(model_ctx));
  }
  if (auto fits = engine::check_prompt(static_cast<int64_t>(ids->size()), n_ctx); !fits.ok()) {
    std::fprintf(stderr, "r1 run: %s\n", fits.message().c_str());
    return 1;
  }

  engine::GenerateOptions gen;
  gen.sampling = sampling.resolve(info.is_r1);
  gen.max_tokens = n_predict;
  gen.stop = stops;
  gen.eos_ids = lm.eos_ids();
  gen.ignore_eos = ignore_eos;

  engine::SchedulerOptions so;
  so.n_ctx = n_ctx;
  so.max_pooled_sessions = 1;  // keeps the session for --stats
  engine::Scheduler sched(*lm.model, *lm.tokenizer, so);
  engine::StreamCallback stream;
  if (!json) {
    stream = [](std::string_view text, int32_t) {
      if (!text.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      }
      return true;
    };
  }
  auto res = sched.generate(*ids, gen, stream);
  if (!res.ok()) {
    std::fprintf(stderr, "r1 run: %s\n", res.message().c_str());
    return 1;
  }
  const auto& r = res.value();
  if (json) {
    nlohmann::json j = {
        {"model", info.name},
        {"prompt_ids", *ids},
        {"ids", r.tokens},
        {"text", r.text},
        {"finish_reason", engine::finish_reason_name(r.finish_reason)},
        {"prompt_tokens", r.prompt_tokens},
        {"completion_tokens", static_cast<int64_t>(r.tokens.size())},
        {"prompt_ms", r.prompt_ms},
        {"decode_ms", r.decode_ms},
        {"prompt_tokens_per_s", r.prompt_tokens_per_s()},
        {"gen_tokens_per_s", r.gen_tokens_per_s()},
        {"seed", gen.sampling.seed},
    };
    if (!r.error.empty()) j["error"] = r.error;
    const std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::printf("%s\n", out.c_str());
  }
  std::fprintf(stderr,
               "\nprompt: %lld tokens in %.1f ms (%.1f tok/s)\n"
               "generated: %zu tokens in %.1f ms (%.1f tok/s), finish: %s, threads: %d, seed: %llu\n",
               static_cast<long long>(r.prompt_tokens), r.prompt_ms, r.prompt_tokens_per_s(),
               r.tokens.size(), r.decode_ms, r.gen_tokens_per_s(),
               engine::finish_reason_name(r.finish_reason), threads,
               static_cast<unsigned long long>(gen.sampling.seed));
  if (stats && sched.last_pooled_session()) print_expert_stats(*sched.last_pooled_session());
  if (r.finish_reason == engine::FinishReason::Error) {
    std::fprintf(stderr, "r1 run: generation stopped: %s\n", r.error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace r1::cli

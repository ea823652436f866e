// `r1 chat MODEL`: an interactive conversation in the terminal. Each turn re-renders the whole
// history with the model's chat template (which, for R1 templates, drops earlier turns'
// <think> reasoning) and reuses the KV cache for the prefix the new prompt shares with the last
// one, so only the new user message is prefilled. Reasoning streams dimmed (ANSI SGR 2) when stdout
// is a terminal (or --color always) and between <think> tags otherwise; the answer streams plain.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "engine/scheduler.h"
#include "engine/prompt.h"
#include "tokenizer/reasoning.h"

namespace r1::cli {
namespace {

// Writes reasoning/content deltas: dimmed with ANSI escapes, else wrapped in <think> tags.
class TurnPrinter {
 public:
  explicit TurnPrinter(bool dim) : dim_(dim) {}
  void print(const tok::ReasoningParser::Delta& d) {
    if (!d.reasoning.empty()) {
      if (!in_reasoning_) {
        std::fputs(dim_ ? "\x1b[2m" : "<think>\n", stdout);
        in_reasoning_ = true;
      }
      std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stdout);
    }
    if (!d.content.empty()) {
      close_reasoning();
      std::fwrite(d.content.data(), 1, d.content.size(), stdout);
    }
    std::fflush(stdout);
  }
  void close_reasoning() {
    if (!in_reasoning_) return;
    std::fputs(dim_ ? "\x1b[0m\n\n" : "\n</think>\n\n", stdout);
    in_reasoning_ = false;
  }

 private:
  bool dim_;
  bool in_reasoning_ = false;
};

}  // namespace

int cmd_chat(int argc, char** argv) {
  CLI::App app{
      "Chat with a model in the terminal using its chat template. Type a message and Enter; "
      "/reset clears the history, /exit or end of input (Ctrl-D) quits. Reasoning (<think>) is "
      "shown dimmed; speeds go to stderr after each turn.",
      "chat"};
  std::string model_path;
  std::string system;
  int64_t n_predict = -1;
  int64_t ctx_size = -1;
  int threads = default_threads();
  int64_t thinking_budget = -1;
  std::string color = "auto";
  SamplingFlags sampling;
  app.add_option("MODEL", model_path, "model: a Hugging Face directory or a .gguf file (default: the demo's student, made by `make demo`)");
  app.add_option("-s,--system", system, "system message (default: none)");
  app.add_option("-n,--n-predict", n_predict, "tokens per reply at most; -1 = until EOS")
      ->capture_default_str();
  sampling.add_to(app);
  app.add_option("--thinking-budget", thinking_budget,
                 "tokens of reasoning (<think>) per reply at most, then \"</think>\" is forced and "
                 "the model answers; -1 = unlimited, 0 = no reasoning")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{-1}, INT64_MAX));
  app.add_option("-c,--ctx-size", ctx_size,
                 "context length in tokens for the whole conversation; 0 = the model's full "
                 "length (default: the model's length, at most 4096)");
  app.add_option("-t,--threads", threads, "threads (default: physical cores)")
      ->capture_default_str()
      ->check(number_at_least(1));
  app.add_option("--color", color,
                 "dim the reasoning with ANSI escapes: auto (when stdout is a terminal), always, never "
                 "(then it is shown between <think> tags)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (model_path.empty()) {  // the demo's student model (`make demo`), if it exists
    auto d = default_model_path();
    if (!d.ok()) {
      std::fprintf(stderr, "r1 chat: %s\n", d.message().c_str());
      return 2;
    }
    model_path = *d;
    std::fprintf(stderr, "r1 chat: using the demo's student model %s\n", model_path.c_str());
  }
  auto loaded = load_model_and_tokenizer(model_path, threads);
  if (!loaded.ok()) {
    std::fprintf(stderr, "r1 chat: %s\n", loaded.message().c_str());
    return 1;
  }
  LoadedModel& lm = loaded.value();
  const auto& info = lm.model->info();
  auto tmpl = engine::load_chat_template(lm.path, *lm.tokenizer);
  if (!tmpl.ok()) {
    std::fprintf(stderr, "r1 chat: %s\n", tmpl.message().c_str());
    return 1;
  }
  const int64_t model_ctx = info.max_position_embeddings > 0 ? info.max_position_embeddings : 4096;
  const int64_t n_ctx =
      ctx_size < 0 ? std::min<int64_t>(model_ctx, 4096) : ctx_size == 0 ? model_ctx : ctx_size;

  engine::GenerateOptions gen;
  gen.sampling = sampling.resolve(info.is_r1);
  gen.max_tokens = n_predict;
  gen.eos_ids = lm.eos_ids();
  gen.thinking_budget = thinking_budget;
  if (thinking_budget >= 0) gen.think_end_ids = engine::think_end_ids(*lm.tokenizer);

  const bool tty_in = isatty(STDIN_FILENO);
  const bool dim = color == "always" || (color == "auto" && isatty(STDOUT_FILENO));
  std::fprintf(stderr, "r1 chat: %s (%s), context %lld tokens, temperature %.2f, top-p %.2f%s\n",
               info.name.c_str(), info.arch.c_str(), static_cast<long long>(n_ctx),
               gen.sampling.temperature, gen.sampling.top_p,
               info.is_r1 ? " (R1 defaults)" : "");

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  const size_t n_fixed = messages.size();
  // One scheduler for the whole chat; the finished turn's KV cache is kept, so the next turn
  // (the same conversation plus the reply and a new message) computes only its new tokens.
  engine::SchedulerOptions so;
  so.n_ctx = n_ctx;
  so.max_pooled_sessions = 1;
  engine::Scheduler sched(*lm.model, *lm.tokenizer, so);

  std::string line;
  while (true) {
    if (tty_in) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(n_fixed), messages.end());
      std::fprintf(stderr, "(history cleared)\n");
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    std::string rendered;
    auto ids = engine::chat_prompt_ids(*lm.tokenizer, tmpl.value(), messages, true, &rendered);
    if (ids.ok()) {
      if (auto fits = engine::check_prompt(static_cast<int64_t>(ids->size()), n_ctx); !fits.ok())
        ids = fits.error();
    }
    if (!ids.ok()) {
      std::fprintf(stderr, "r1 chat: %s (/reset clears the history)\n", ids.message().c_str());
      messages.erase(messages.end() - 1);
      continue;
    }
    gen.starts_in_reasoning = tok::prompt_ends_in_reasoning(rendered);
    tok::ReasoningParser parser(gen.starts_in_reasoning);
    TurnPrinter printer(dim);
    auto res = sched.generate(*ids, gen,
                                [&](std::string_view text, int32_t) {
                                  printer.print(parser.push(text));
                                  return true;
                                });
    printer.print(parser.finish());
    printer.close_reasoning();
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!res.ok()) {  // cannot happen after check_prompt, but never crash
      std::fprintf(stderr, "r1 chat: %s\n", res.message().c_str());
      messages.erase(messages.end() - 1);
      continue;
    }
    const auto& r = res.value();
    std::fprintf(stderr,
                 "[prompt: %lld tokens (%lld cached), %.1f tok/s | reply: %zu tokens, %.1f tok/s, "
                 "%s]\n",
                 static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.cached_tokens),
                 r.prompt_tokens_per_s(), r.tokens.size(), r.gen_tokens_per_s(),
                 engine::finish_reason_name(r.finish_reason));
    if (r.finish_reason == engine::FinishReason::Error) {
      std::fprintf(stderr, "r1 chat: generation stopped: %s\n", r.error.c_str());
      messages.erase(messages.end() - 1);
      continue;
    }
    // The whole reply goes into the history; R1 templates cut the reasoning out of earlier turns
    // themselves (content.split('</think>')[-1]).
    messages.push_back({{"role", "assistant"}, {"content", r.text}});
  }
  return 0;
}

}  // namespace r1::cli

// Shared CLI helpers (see cli_common.h).
#include "cli/cli_common.h"

#include <cblas.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include <fmt/format.h>

namespace r1::cli {

namespace fs = std::filesystem;

int default_threads() { return physical_cores(); }

CLI::Option* add_threads_option_single(CLI::App& app, int& threads, const std::string& what) {
  threads = default_threads();
  return app
      .add_option("--threads", threads,
                  "threads (default: physical cores); " + what + " runs on one thread today")
      ->capture_default_str()
      ->check(number_at_least(1));
}

int parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::string name = app.get_name();  // some subcommands name their app "r1 NAME"
    if (name.rfind("r1 ", 0) == 0) name.erase(0, 3);
    std::fprintf(stderr, "r1 %s: %s (see --help)\n", name.c_str(), msg.c_str());
    return 2;
  }
  return -1;
}

namespace {

// Parses the whole string as a number; nullopt when it is not one.
std::optional<double> parse_number(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

CLI::Validator number_at_least(double lo, bool inclusive) {
  const std::string what = fmt::format("a number {} {}", inclusive ? ">=" : ">", lo);
  return CLI::Validator(
      [lo, inclusive, what](std::string& s) -> std::string {
        const auto v = parse_number(s);
        if (!v || (inclusive ? *v < lo : *v <= lo)) return fmt::format("must be {}, got '{}'", what, s);
        return {};
      },
      fmt::format("NUMBER{}{}", inclusive ? ">=" : ">", lo));
}

CLI::Validator number_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        const auto v = parse_number(s);
        if (!v || *v < lo || *v > hi)
          return fmt::format("must be a number in [{}, {}], got '{}'", lo, hi, s);
        return {};
      },
      fmt::format("NUMBER in [{}, {}]", lo, hi));
}

Result<std::string> resolve_model_path(const std::string& arg) {
  if (arg.empty())
    return make_error("a model path is required (a Hugging Face model directory or a .gguf file)");
  std::error_code ec;
  if (!fs::exists(arg, ec)) return make_error("{}: no such file or directory", arg);
  if (!fs::is_directory(arg, ec)) return arg;  // a file: the loader checks the GGUF magic
  if (fs::exists(fs::path(arg) / "config.json", ec)) return arg;
  std::vector<std::string> ggufs;
  for (const auto& e : fs::directory_iterator(arg, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".gguf") ggufs.push_back(e.path().string());
  }
  if (ggufs.size() == 1) return ggufs.front();
  if (ggufs.empty())
    return make_error("{}: not a model directory (no config.json and no .gguf file)", arg);
  return make_error("{}: holds {} .gguf files; name one of them", arg, ggufs.size());
}

std::string zero_default_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/r1/zero";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/r1/zero";
  return "r1-zero";
}

Result<std::string> default_model_path() {
  const std::string student = zero_default_dir() + "/models/student";
  std::error_code ec;
  if (fs::exists(student + "/config.json", ec)) return student;
  return make_error("no model given, and the demo's student model ({}) does not exist yet: run "
                    "`make demo` (or `r1 zero`) to make it, or name a Hugging Face directory or "
                    ".gguf file",
                    student);
}

std::vector<int32_t> LoadedModel::eos_ids() const {
  std::vector<int32_t> ids = model->info().eos_token_ids;
  if (tokenizer) {
    for (int32_t id : tokenizer->eos_ids()) ids.push_back(id);
    if (tokenizer->eos_id() >= 0) ids.push_back(tokenizer->eos_id());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  ids.erase(std::remove_if(ids.begin(), ids.end(), [](int32_t id) { return id < 0; }), ids.end());
  return ids;
}

Result<LoadedModel> load_model_and_tokenizer(const std::string& path, int threads,
                                             bool with_tokenizer) {
  // llama.cpp's bound too (GGML_MAX_N_THREADS); far more threads than cores only spin.
  if (threads > 512) return make_error("--threads {}: at most 512", threads);
  R1_ASSIGN_OR_RETURN(resolved, resolve_model_path(path));
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel lm;
  lm.path = resolved;
  lm.pool = std::make_unique<ThreadPool>(threads > 0 ? threads : default_threads());
  // F32 prefill goes through OpenBLAS, whose own threads otherwise default to every CPU and
  // spin in sched_yield next to our pool.
  openblas_set_num_threads(lm.pool->size());
  R1_ASSIGN_OR_RETURN(model, models::load_model(resolved, models::LoadOptions{}, *lm.pool));
  lm.model = std::move(model);
  if (with_tokenizer) {
    R1_ASSIGN_OR_RETURN(tok, tok::Tokenizer::from_path(resolved));
    lm.tokenizer = std::move(tok);
  }
  lm.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                   .count();
  return lm;
}

void SamplingFlags::add_to(CLI::App& app) {
  const auto r1 = engine::SamplerOptions::recommended(true);
  const auto other = engine::SamplerOptions::recommended(false);
  v_ = other;
  temp_ = app.add_option("--temp", v_.temperature,
                         fmt::format("sampling temperature; 0 = greedy (default: {} for R1 models, "
                                     "as DeepSeek recommends; {} otherwise)",
                                     r1.temperature, other.temperature))
              ->check(number_at_least(0));
  top_k_ = app.add_option("--top-k", v_.top_k,
                          fmt::format("keep the K most likely tokens; 0 = off (default: {} for R1 "
                                      "models, {} otherwise)",
                                      r1.top_k, other.top_k))
               ->check(number_at_least(0));
  top_p_ = app.add_option("--top-p", v_.top_p,
                          fmt::format("nucleus sampling mass; 1 = off (default: {} for R1 models, "
                                      "{} otherwise)",
                                      r1.top_p, other.top_p))
               ->check(number_in(0, 1));
  min_p_ = app.add_option("--min-p", v_.min_p,
                          fmt::format("drop tokens below P x the top probability; 0 = off "
                                      "(default: {} for R1 models, {} otherwise)",
                                      r1.min_p, other.min_p))
               ->check(number_in(0, 1));
  repeat_penalty_ =
      app.add_option("--repeat-penalty", v_.repeat_penalty,
                     fmt::format("penalty on tokens seen in the last --repeat-last-n; 1 = off "
                                 "(default: {})",
                                 other.repeat_penalty))
          ->check(number_at_least(0, false));
  repeat_last_n_ = app.add_option("--repeat-last-n", v_.repeat_last_n,
                                  fmt::format("window of the repetition penalty in tokens; -1 = "
                                              "all (default: {})",
                                              other.repeat_last_n))
                       ->check(number_in(-1, 1 << 30));
  frequency_penalty_ =
      app.add_option("--frequency-penalty", v_.frequency_penalty,
                     "OpenAI's frequency penalty: subtracted from a token's logit once per time it "
                     "occurs in the reply so far; 0 = off (default: 0)")
          ->check(number_in(-2, 2));
  presence_penalty_ =
      app.add_option("--presence-penalty", v_.presence_penalty,
                     "OpenAI's presence penalty: subtracted from the logit of every token the "
                     "reply already holds; 0 = off (default: 0)")
          ->check(number_in(-2, 2));
  seed_ = app.add_option("--seed", v_.seed, "random seed, for reproducible sampling (default: random)");
}

engine::SamplerOptions SamplingFlags::resolve(bool is_r1) const {
  auto o = engine::SamplerOptions::recommended(is_r1);
  if (temp_->count()) o.temperature = v_.temperature;
  if (top_k_->count()) o.top_k = v_.top_k;
  if (top_p_->count()) o.top_p = v_.top_p;
  if (min_p_->count()) o.min_p = v_.min_p;
  if (repeat_penalty_->count()) o.repeat_penalty = v_.repeat_penalty;
  if (repeat_last_n_->count()) o.repeat_last_n = v_.repeat_last_n;
  if (frequency_penalty_->count()) o.frequency_penalty = v_.frequency_penalty;
  if (presence_penalty_->count()) o.presence_penalty = v_.presence_penalty;
  if (seed_->count()) {
    o.seed = v_.seed;
  } else {
    std::random_device rd;
    o.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  return o;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return fmt::format("{:.2f} {}", bytes, units[u]);
}

}  // namespace r1::cli

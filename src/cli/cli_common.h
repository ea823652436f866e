// Helpers shared by the subcommands that load a model: option parsing with one-line errors, the
// --threads default, model-path resolution, loading model + tokenizer, and the sampling flags
// (declared once here so run, chat and serve spell and document them the same way).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/result.h"
#include "core/thread_pool.h"
#include "engine/sampler.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

/// The --threads default: physical cores (hyper-threads share the memory bandwidth that decoding
/// is bound by, so they do not help).
int default_threads();

/// Adds "--threads N" (default shown in --help: default_threads()) for a subcommand whose work is
/// single-threaded, so that every subcommand accepts --threads (a script can pass it to all);
/// `what` says what it would parallelise. Validated >= 1.
CLI::Option* add_threads_option_single(CLI::App& app, int& threads, const std::string& what);

/// Parses argv with CLI11. Returns -1 to go on, else the exit code to return: 0 after --help
/// (printed to stdout), 2 after a parse error (printed as ONE line "r1 NAME: what" on stderr).
int parse_args(CLI::App& app, int argc, char** argv);

/// Validators with short messages ("must be a number >= 0, got 'abc'"), unlike CLI11's built-in
/// ones which print the whole range of the type.
CLI::Validator number_at_least(double lo, bool inclusive = true);
CLI::Validator number_in(double lo, double hi);

/// Checks a MODEL argument: a .gguf file or an HF directory (config.json), or a directory holding
/// exactly one .gguf file. Errors: empty (a model path is required), missing, or neither kind.
Result<std::string> resolve_model_path(const std::string& arg);

/// The folder `r1 zero` writes by default: $XDG_CACHE_HOME/r1/zero, else ~/.cache/r1/zero, else
/// ./r1-zero.
std::string zero_default_dir();

/// The model `r1 run`/`r1 chat` use when none is given: the demo's student (zero_default_dir()
/// + "/models/student"). Errors: it does not exist yet (the message says to run `make demo`).
Result<std::string> default_model_path();

/// A loaded model with its tokenizer and the thread pool its forward passes use.
struct LoadedModel {
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<models::CausalLM> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::string path;  // the resolved model path (a directory or a .gguf file)
  double load_ms = 0.0;
  /// EOS ids of the model info and the tokenizer together (deduplicated).
  std::vector<int32_t> eos_ids() const;
};

/// Resolves `path`, loads the model on a pool of `threads` threads and, if `with_tokenizer`, its
/// tokenizer (from the same directory or GGUF file). Errors: one line from whichever failed.
Result<LoadedModel> load_model_and_tokenizer(const std::string& path, int threads,
                                             bool with_tokenizer = true);

/// The sampling flags: --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
/// --seed. Flags not given on the command line fall back to SamplerOptions::recommended(is_r1).
class SamplingFlags {
 public:
  /// Adds the flags to `app`; the help text states both default sets.
  void add_to(CLI::App& app);
  /// The options for a model: recommended(is_r1) overridden by every flag that was given; the seed
  /// is random (std::random_device) unless --seed was given.
  engine::SamplerOptions resolve(bool is_r1) const;

 private:
  engine::SamplerOptions v_;
  CLI::Option* temp_ = nullptr;
  CLI::Option* top_k_ = nullptr;
  CLI::Option* top_p_ = nullptr;
  CLI::Option* min_p_ = nullptr;
  CLI::Option* repeat_penalty_ = nullptr;
  CLI::Option* repeat_last_n_ = nullptr;
  CLI::Option* frequency_penalty_ = nullptr;
  CLI::Option* presence_penalty_ = nullptr;
  CLI::Option* seed_ = nullptr;
};

/// "1.23 GiB"-style size for tables.
std::string human_bytes(double bytes);

}  // namespace r1::cli

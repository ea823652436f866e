// `r1 init-model --preset NAME --out DIR`: a random-weight checkpoint at real shapes (config.json,
// generation_config.json, model.safetensors), so benchmarks run R1-Distill sizes without downloads.
// `r1 convert DIR --out F.gguf --type q8_0` then makes the quantised GGUF.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "models/init_model.h"
#include "models/tensor_names.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

int cmd_init_model(int argc, char** argv) {
  std::string names;
  for (const auto& p : models::model_presets()) names += (names.empty() ? "" : ", ") + p.name;
  CLI::App app{"Writes a random-weight model (N(0, 0.02) matrices and biases, RMSNorm weights 1) "
               "at a preset's real shape as a Hugging Face directory.", "r1 init-model"};
  std::string preset_name, out_dir, dtype_name = "f32", tokenizer;
  uint64_t seed = 0;
  int threads = default_threads();
  app.add_option("--preset", preset_name, "architecture preset: " + names)->required();
  app.add_option("--out", out_dir, "output directory (created if missing)")->required();
  app.add_option("--seed", seed, "random seed (same seed, same weights)")->capture_default_str();
  app.add_option("--dtype", dtype_name, "weight dtype: f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "threads")->capture_default_str();
  app.add_option("--tokenizer", tokenizer,
                 "copy tokenizer.json (+ tokenizer_config.json) from this directory or file "
                 "into the model, so r1 run and `r1 convert` (for llama.cpp) have a vocabulary");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  auto preset = models::find_preset(preset_name);
  if (!preset) {
    std::fprintf(stderr, "r1 init-model: unknown --preset '%s' (one of: %s)\n",
                 preset_name.c_str(), names.c_str());
    return 2;
  }
  namespace fs = std::filesystem;
  fs::path tok_src;
  if (!tokenizer.empty()) {  // checked before anything is written
    std::error_code ec;
    tok_src = fs::is_directory(tokenizer, ec) ? fs::path(tokenizer) / "tokenizer.json"
                                              : fs::path(tokenizer);
    if (!fs::is_regular_file(tok_src, ec)) {
      std::fprintf(stderr, "r1 init-model: --tokenizer: %s: no such file\n", tok_src.c_str());
      return 2;
    }
    auto tok = tok::Tokenizer::from_path(tok_src.string());
    if (!tok.ok()) {
      std::fprintf(stderr, "r1 init-model: --tokenizer: %s\n", tok.message().c_str());
      return 2;
    }
    if (int64_t((*tok)->vocab_size()) > preset->config.vocab_size) {
      std::fprintf(stderr,
                   "r1 init-model: --tokenizer: %s has %d tokens but preset %s has vocab_size "
                   "%lld (its ids would fall outside the embedding)\n",
                   tok_src.c_str(), int((*tok)->vocab_size()), preset_name.c_str(),
                   (long long)preset->config.vocab_size);
      return 2;
    }
  }
  const DType dtype = dtype_name == "bf16" ? DType::BF16 : DType::F32;
  ThreadPool pool(threads > 0 ? threads : default_threads());
  int64_t n_params = 0;
  for (const auto& t : models::decoder_tensor_plan(preset->config, models::NameStyle::HF)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    n_params += n;
  }
  std::fprintf(stderr, "r1 init-model: %s, %.3f B parameters, %s -> %s\n", preset_name.c_str(),
               double(n_params) / 1e9, dtype_name.c_str(), out_dir.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = models::write_random_model(*preset, out_dir, seed, dtype, pool);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 init-model: %s\n", r.message().c_str());
    return 1;
  }
  if (!tok_src.empty()) {
    std::error_code ec;
    const fs::path& src = tok_src;
    for (const fs::path& f : {src, src.parent_path() / "tokenizer_config.json"}) {
      if (!fs::is_regular_file(f, ec)) continue;
      fs::copy_file(f, fs::path(out_dir) / f.filename(), fs::copy_options::overwrite_existing, ec);
      if (ec) {
        std::fprintf(stderr, "r1 init-model: cannot copy %s: %s\n", f.c_str(),
                     ec.message().c_str());
        return 1;
      }
    }
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "r1 init-model: wrote %s in %.1f s\n", out_dir.c_str(), s);
  return 0;
}

}  // namespace r1::cli

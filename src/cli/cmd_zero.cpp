// `r1 zero [--quick] [--out DIR]`: the DeepSeek-R1 recipe end to end at toy scale, on the embedded
// arithmetic task, with nothing downloaded. The profiles, the stage table and the process runner
// are the recipe library (src/recipe/zero.h, pipeline.h, profile.h); this file parses the flags.
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "recipe/profile.h"
#include "recipe/zero.h"

namespace r1::cli {

int cmd_zero(int argc, char** argv) {
  CLI::App app{"Runs the DeepSeek-R1 recipe end to end at toy scale on the embedded arithmetic task: "
               "base corpus + tokenizer, a DeepSeek-V3-architecture base (MLA, MoE, MTP), R1-Zero by "
               "GRPO, distillation into a small Qwen2 student, controls, evaluation, GGUF export. "
               "Ctrl-C and rerun resumes.", "r1 zero"};
  bool quick = false;
  std::string out = zero_default_dir();
  int threads = default_threads();
  app.add_flag("--quick", quick, "CI profile (under 3 minutes): only checks that every stage runs and writes its outputs");
  app.add_option("--out", out, "output folder (models, charts, logs, results.json)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads per stage")->capture_default_str()->check(number_at_least(1));
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  return recipe::run_zero(out, quick ? recipe::quick_profile() : recipe::default_profile(), threads, quick);
}

}  // namespace r1::cli

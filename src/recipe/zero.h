// The DeepSeek-R1 recipe end to end at toy scale (`r1 zero`), on the embedded arithmetic task,
// with nothing downloaded. The stages, in order (each one subcommand of this binary, run by
// recipe/pipeline.h as a child process; every step can be rerun by hand from DIR/logs/STAGE.log):
//   corpus        r1 task corpus          base corpus (bare answers, <think> traces, slips, checks)
//   tokenizer     r1 tokenizer train      byte-level BPE; specials <|eos|>, <think>, </think>
//   base          r1 pretrain             DeepSeek-V3 architecture (MLA, shared + routed experts,
//                                         aux-loss-free balancing, an MTP head) from random init
//   student-base  r1 pretrain             the small dense Qwen2-architecture student's own base
//   r1-zero       r1 grpo                 GRPO from the base, accuracy + format rewards only
//   base-more     r1 pretrain             control: the base given the GRPO stage's time as more
//                                         pretraining (steps = GRPO seconds / base seconds per step)
//   student       r1 distill              R1-Zero's verified traces -> SFT of the student base
//   student-grpo  r1 grpo                 control: the student base given the distill stage's time
//                                         as GRPO (--time-budget)
//   eval-*        r1 eval                 held-out problems: pass@1 over k samples, cons@k, length,
//                                         share of answers with self-checking
//   gguf-*        r1 convert              each model as GGUF where the converter supports its arch
// pretrain/grpo/distill also get --resume, which picks up their own checkpoints inside a stage.
// The final table is printed and written to DIR/results.json. Every exported model
// (DIR/models/NAME) carries the task's chat template (task/chat_template.h) in its
// tokenizer_config.json, so `r1 chat`, `r1 serve` and the GGUF files talk in the task's form.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "recipe/pipeline.h"
#include "recipe/profile.h"

namespace r1::recipe {

/// One model of the final table (DIR/models/NAME): what it is and its architecture.
struct ModelRow {
  std::string name, what, arch;
};

/// The six models the recipe trains, in table order.
const std::vector<ModelRow>& model_rows();

/// The paths and settings one run's stages share.
struct ZeroRun {
  Pipeline& pl;
  std::string out;     // DIR (absolute)
  std::string models;  // DIR/models
  std::string tok;     // DIR/tokenizer/tokenizer.json
  std::string corpus;  // DIR/data/corpus.jsonl
  std::string threads; // -t of every stage
};

/// One stage as data: `command` is the r1 subcommand it runs (the stage is skipped when this build
/// lacks it), `needs` the models (DIR/models/NAME) it reads (skipped when one was not produced);
/// `body` builds the arguments and runs the child(ren).
struct Stage {
  std::string id, title, command;
  std::vector<std::string> needs;
  std::function<StageResult()> body;
};

/// The recipe's stages in run order. The bodies refer to `run` (which must outlive them).
std::vector<Stage> zero_stages(ZeroRun& run);

/// Runs (or resumes) the whole recipe with profile `p` into folder `out` with `threads` threads per
/// stage, prints the final table and writes OUT/results.json. Returns the process exit code: 0,
/// 1 (a stage failed), 2 (OUT holds another profile's run), 130 (interrupted).
int run_zero(std::string out, const Profile& p, int threads, bool quick);

}  // namespace r1::recipe

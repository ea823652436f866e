// The evaluation runner: k sampled completions per problem through the engine's scheduler,
// answers extracted and checked (math verifier, or the embedded task's own rule), summarised as
// the R1 protocol's pass@1 / cons@k / pass@k plus length and style shares.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "engine/sequence.h"
#include "eval/dataset.h"
#include "models/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::eval {

/// DeepSeek-R1's evaluation instruction (R1 model card, "Usage Recommendations").
inline constexpr const char* kR1Instruction = "Please reason step by step, and put your final answer within \\boxed{}.";

struct EvalOptions {
  int k = 1;                          // samples per problem
  engine::SamplerOptions sampling;    // per-sample seed = sampling.seed + 1000003 * problem + sample
  int64_t max_tokens = 2048;          // generated tokens per sample at most
  std::vector<int32_t> eos_ids;       // ids that end a completion
  const tok::ChatTemplate* chat = nullptr;  // set: wrap problem + instruction as one user message
  std::string instruction = kR1Instruction;  // appended to the problem in chat mode (unless it
                                             // already asks for \boxed{})
  bool allow_bos = true;              // raw prompts: prepend BOS per the tokenizer's convention
  bool batch = true;                  // decode k samples at a time (one forward_batch per step,
                                      // continuous batching across problems); false: one at a time
};

/// One sampled completion and its verdict.
struct SampleRecord {
  int problem = 0, sample = 0;
  std::string completion;
  std::string answer;           // the extracted final answer ("" when none)
  bool correct = false;
  int64_t completion_tokens = 0;
  std::string finish_reason;
  bool think = false;           // closed a </think> block
  bool wait = false;            // contains "wait" (self-correction), case-insensitive
  bool check = false;           // contains a "check" passage (the embedded task's self-check)
  bool format_ok = false;       // rewards::format_reward == 1
};

/// Protocol results over all problems.
struct EvalSummary {
  int64_t n_problems = 0;
  int k = 0;
  double pass_at_1 = 0.0;      // mean over problems of (correct samples / k)
  double cons_at_k = 0.0;      // share of problems whose majority answer is correct
  double pass_at_k = 0.0;      // mean unbiased pass@k with n = k samples
  double mean_completion_tokens = 0.0;
  double think_share = 0.0, wait_share = 0.0, check_share = 0.0, format_share = 0.0;
  double truncated_share = 0.0;  // finish_reason "length"
  /// results.json: the required keys plus the extras.
  nlohmann::ordered_json to_json() const;
};

/// Whether `completion` (for problem text `prompt` as rendered) solves `item`; sets `answer` to
/// the extracted final answer. The rule is rewards::answer_correct, the one GRPO and distillation
/// use (task items by task::check_answer, others math_equal against the gold).
bool judge(const EvalItem& item, const std::string& rendered_prompt, const std::string& completion, std::string& answer);

/// Summarises records (grouped by .problem; every problem must have exactly `k` records).
/// `items` give the golds for cons@k (the vote's representative is judged like a sample).
EvalSummary summarize(const std::vector<EvalItem>& items, const std::vector<SampleRecord>& records, int k);

/// Progress after each sample: (done samples, total samples, the record).
using EvalProgress = std::function<void(int64_t, int64_t, const SampleRecord&)>;

/// Runs the evaluation: for each item, renders the prompt (chat template or raw), then generates
/// k completions through one engine::Scheduler (each sample's context: its prompt plus
/// max_tokens, capped at the model's), judging each. Errors: a prompt that does not fit the model's context, a chat template render
/// error. Cost: k * (prompt + max_tokens) forward tokens per problem.
Result<std::vector<SampleRecord>> run_eval(models::CausalLM& model, const tok::Tokenizer& tok,
                                           const std::vector<EvalItem>& items, const EvalOptions& opts,
                                           const EvalProgress& progress = {});

}  // namespace r1::eval

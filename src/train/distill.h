// Distillation by rejection sampling (DeepSeek-R1 §2.3.3 and §2.4): a teacher samples k
// completions per prompt (engine::Scheduler through sample_batch, any architecture, DeepSeek-V3
// included), a verifier keeps the correct and well-formed ones, exact duplicates are
// dropped, the survivors are written as traces.jsonl ({prompt, completion, answer}) and the
// student is fine-tuned on them with run_sft (train/sft.h). The verifier is a callback so this
// library stays below rewards/ and task/ (the CLI wires accuracy AND format: cmd_distill.cpp).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace r1::train {

/// A prompt to distil: text (as fed to the teacher) and the gold answer.
struct DistillPrompt {
  std::string prompt;
  std::string gold;
};

/// One sampled completion and the verifier's verdicts.
struct Candidate {
  int64_t prompt_index = 0;
  std::string completion;  // decoded text, without the final EOS
  bool truncated = false;  // stopped at max_tokens without an EOS
  bool correct = false;
  bool well_formed = false;
};

/// Verdict of the verifier on (prompt, completion, gold): {correct, well_formed}.
struct Verdict {
  bool correct = false;
  bool well_formed = false;
};
using Verifier = std::function<Verdict(const std::string& prompt, const std::string& completion,
                                       const std::string& gold)>;

/// One kept trace.
struct Trace {
  std::string prompt, completion, answer;
};

/// Counts of a filtering pass.
struct FilterStats {
  int64_t samples = 0, truncated = 0, correct = 0, well_formed = 0, accepted_before_dedup = 0,
          duplicates = 0, kept = 0, prompts_with_trace = 0;
  /// Rejection sampling's acceptance: samples passing the verifier (before dedup) / samples.
  double acceptance_rate() const {
    return samples ? double(accepted_before_dedup) / double(samples) : 0.0;
  }
};

/// Keeps candidates that are not truncated, correct AND well-formed, dropping exact duplicates
/// (same prompt and completion text; the first occurrence wins, order preserved). At most
/// max_per_prompt traces per prompt (<= 0: no limit). `prompts` gives texts and golds by index.
std::vector<Trace> filter_traces(const std::vector<DistillPrompt>& prompts,
                                 const std::vector<Candidate>& candidates, int64_t max_per_prompt,
                                 FilterStats* stats);

/// JSONL of traces: one {"prompt", "completion", "answer"} object per line.
std::string traces_jsonl(const std::vector<Trace>& traces);

/// Error unless two tokenizers have the same vocabulary (size and every id's bytes and special
/// flag): teacher samples are decoded to text and re-tokenized for the student, and the
/// distillation recipe assumes one vocabulary.
Result<void> check_same_vocab(const tok::Tokenizer& teacher, const tok::Tokenizer& student);

struct SampleOptions {
  int64_t k = 4;               // completions per prompt
  double temperature = 1.0;    // > 0
  int64_t max_tokens = 64;     // new tokens per completion
  int64_t batch = 64;          // rows decoded together
  uint64_t seed = 0;
  bool quiet = false;
};

/// Samples k completions for every prompt with `teacher` (prompt ids from prompt_ids(text)),
/// `batch` rows at a time; row (i, j) uses seed mix(seed, i, j), so the samples do not depend on
/// the batch size. Verdicts are filled by `verify`. Progress lines go to `progress`.
std::vector<Candidate> sample_candidates(
    models::CausalLM& teacher, const tok::Tokenizer& tok, const std::vector<DistillPrompt>& prompts,
    const std::function<std::vector<int32_t>(const std::string&)>& prompt_ids,
    const Verifier& verify, const SampleOptions& o, std::FILE* progress);

}  // namespace r1::train

// Supervised fine-tuning (DeepSeek-R1 §2.3.3 / §2.4): next-token cross-entropy on (prompt,
// completion) pairs where only the completion tokens (and the EOS closing each completion) are
// predicted; the prompt tokens are context with target -1 (TrainLM::forward_backward ignores
// them). Examples are packed whole into rows of seq_len + 1 tokens (inputs = row[0..L-1],
// targets = row[1..L]); the row set is fixed at load (seeded shuffle) and visited in a seeded
// order per epoch, so sample k is a pure function of (seed, k) and --resume needs no data state.
// Optimiser, schedule, checkpoints and metrics are the pretraining loop's (train/trainer.h).
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/thread_pool.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::train {

/// One tokenized example: prompt ids (BOS included when the tokenizer's convention asks for one)
/// and completion ids (ending with EOS).
struct SftExample {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
};

/// How a (prompt, completion) pair becomes text.
enum class SftFormat {
  Auto,  // `messages` rows through the chat template, `prompt`/`completion` rows raw
  Chat,  // everything through the chat template (prompt as one user message)
  Raw,   // prompt text then completion text (messages rows are an error)
};

/// Tokenizes one pair. Raw: prompt encoded with BOS when bos_id() >= 0 and add_bos_default()
/// (engine/prompt.h's rule, which `r1 eval` uses), completion encoded without BOS, then EOS
/// appended unless it already ends with an EOS id. Chat: the prompt is rendered as
/// [{user: prompt}] with the generation prompt (BOS as tok::needs_bos), the completion is the
/// text that rendering [{user}, {assistant: completion}] adds after that prefix (falls back to
/// the completion itself when the template rewrites history, e.g. R1 drops <think> blocks).
/// `eos` < 0 uses tok.eos_id(). Errors: no EOS id, template render errors.
Result<SftExample> tokenize_pair(const tok::Tokenizer& tok, const tok::ChatTemplate* chat,
                                 const std::string& prompt, const std::string& completion,
                                 int32_t eos = -1);

/// Reads a JSONL file: per line {"prompt": str, "completion": str} or {"messages": [{role,
/// content}...]} whose last message is the assistant completion (earlier ones form the prompt).
/// `chat` is needed for Chat/Auto-with-messages. Errors (naming file:line): bad JSON, missing
/// fields, messages without a final assistant turn, messages in Raw mode, empty file.
Result<std::vector<SftExample>> load_sft_data(const std::string& path, const tok::Tokenizer& tok,
                                              const tok::ChatTemplate* chat, SftFormat format);

/// A packed row: tokens [L + 1]; row targets are tokens[1..L] masked to -1 where the predicted
/// token is a prompt token or padding.
struct SftRow {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;  // [L]
  int64_t n_targets = 0;         // targets >= 0
};

/// Packs examples (in the given order) greedily into rows of seq_len + 1 tokens; an example that
/// does not fit in the current row starts a new one; one longer than seq_len + 1 is cut (its
/// tail dropped; *truncated counts them). Padding is `pad` with target -1.
std::vector<SftRow> pack_sft(const std::vector<SftExample>& examples, int64_t seq_len,
                             int32_t pad, int64_t* truncated = nullptr);

struct SftOptions {
  std::string model;           // HF dir to fine-tune (tokenizer.json inside)
  std::string data;            // JSONL (see load_sft_data)
  std::string out;             // metrics.jsonl, checkpoint-STEP/
  SftFormat format = SftFormat::Auto;
  bool resume = false;
  int64_t steps = 0;           // optimizer steps; 0: derived from epochs
  double epochs = 0;           // used when steps == 0 (default 1 then)
  int64_t batch = 8, accum = 1, seq_len = 256;
  double lr = 1e-4, min_lr = 1e-5;
  int64_t warmup = 10;
  double weight_decay = 0.0, clip = 1.0, beta1 = 0.9, beta2 = 0.95;
  int64_t save_every = 100;
  int keep_last = 2;
  uint64_t seed = 0;
  bool quiet = false;
};

/// Result of a run: the last checkpoint's directory and loss figures.
struct SftReport {
  std::string checkpoint;
  int64_t steps = 0, n_examples = 0, n_rows = 0, truncated = 0;
  double first_loss = 0, last_loss = 0;
};

/// Runs SFT (see file comment). Per step one OUT/metrics.jsonl line (step, loss (mean CE per
/// completion token), lr, grad_norm, tokens_per_s, completion_tokens) and a progress line
/// "step 3/100 loss 1.2345 lr 1.00e-04 | 1234 tok/s | ETA 1m05s"; tokens_per_s and the ETA are
/// wall-clock since the run started, checkpoints included (ProgressMeter). Errors: unreadable model or
/// data, bad options, tokenizer larger than the model's vocab, I/O failures.
Result<SftReport> run_sft(const SftOptions& o, ThreadPool& pool, std::FILE* progress);

}  // namespace r1::train

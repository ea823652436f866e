// The causal language model interface every architecture implements (llama, qwen2, deepseek_v3),
// and the loader that picks the architecture from a checkpoint. The engine (sampling, generation,
// server) only ever sees this interface.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/result.h"
#include "core/thread_pool.h"
#include "models/batch.h"

namespace r1::models {

/// Facts about a loaded model that the engine, the CLI and benchmarks need.
struct ModelInfo {
  std::string arch;             // "llama", "qwen2", "deepseek_v3"
  std::string name;             // directory or file stem, for display / the server's model id
  std::string path;             // what it was loaded from
  int64_t vocab_size = 0;       // rows of the output head (logits width V)
  int64_t max_position_embeddings = 0;  // context length from the config / GGUF
  int64_t n_params = 0;         // all parameters
  int64_t weight_bytes_per_token = 0;   // bytes of weights streamed per decoded token (roofline)
  std::vector<int32_t> eos_token_ids;   // from config.json / generation_config.json / GGUF
  int32_t bos_token_id = -1;
  bool is_r1 = false;           // an R1-family checkpoint: sampling defaults T=0.6, top-p 0.95
};

/// Per-sequence state: the KV cache and how many positions it holds. Created by the model.
class Session {
 public:
  virtual ~Session() = default;
  /// Positions already in the cache (the next token goes at position n_past()).
  virtual int64_t n_past() const = 0;
  /// Capacity in tokens (the context length this session was created with).
  virtual int64_t n_ctx() const = 0;
  /// Forgets positions >= n (n <= n_past()), e.g. to reuse a shared prompt prefix.
  virtual void truncate(int64_t n) = 0;
};

/// One sequence's rows of a Batch: rows row0 .. row0+T-1 at positions p0 .. p0+T-1.
struct BatchSpan {
  int32_t seq = 0;
  int64_t row0 = 0, T = 0, p0 = 0;
  Session* session = nullptr;  // null: no cache (p0 == 0, attends to its own rows only)
};

/// Checks `batch` (see CausalLM::forward's preconditions; ids in [0, vocab_size)) and returns
/// its sequences in row order. R1_CHECK on a malformed batch, before anything is computed.
std::vector<BatchSpan> split_batch(const Batch& batch, int64_t vocab_size);

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual const ModelInfo& info() const = 0;

  /// A new empty session with room for n_ctx tokens (n_ctx <= 0: the model's context length).
  virtual std::unique_ptr<Session> new_session(int64_t n_ctx) = 0;

  /// THE forward: every row of `batch` in one pass. Rows are grouped per sequence; every
  /// projection, norm, MLP and MoE runs once over all N rows; attention runs per sequence over
  /// its own cache (causal within its new rows), which receives the rows' K/V, and each
  /// session's n_past advances by its row count. Writes ctx.logits [count(kLogits), V] and
  /// ctx.hidden [count(kHidden), D] for the flagged rows in row order; returns the logits
  /// (ctx.logits, or a tape buffer when ctx.tape is set and ctx.logits is null; null if none).
  /// Preconditions (R1_CHECK, nothing changed on failure): sessions from this model and
  /// distinct; each sequence's rows contiguous at positions n_past (0 without a session) ..
  /// +T-1 within its context; ids in [0, V).
  virtual float* forward(const Batch& batch, ForwardContext& ctx) = 0;

  /// Largest batch one forward() should carry (activation memory); thin helpers split above it.
  virtual int64_t max_batch_rows() const { return int64_t(1) << 40; }

  /// Helper over forward(Batch): tokens[T] of one session at positions n_past() .. +T-1,
  /// split into batches of max_batch_rows(). logits: if all_logits, [T, V] f32 (row t predicts
  /// token t+1); else [1, V] for the last token; may be null (fill the cache only).
  void forward(std::span<const int32_t> tokens, Session& session, float* logits, bool all_logits) {
    const int64_t T = int64_t(tokens.size()), V = info().vocab_size;
    R1_CHECK(T > 0, "forward of zero tokens");
    const uint8_t flag = logits != nullptr ? Batch::kLogits : 0;
    Batch b;
    for (int64_t c0 = 0; c0 < T; c0 += max_batch_rows()) {
      const int64_t Tc = std::min(max_batch_rows(), T - c0);
      const bool last = c0 + Tc == T;
      b.clear();
      b.add_tokens(b.add_sequence(&session), tokens.subspan(size_t(c0), size_t(Tc)),
                   session.n_past(), all_logits || last ? flag : 0, !all_logits);
      ForwardContext ctx;
      ctx.logits = logits == nullptr ? nullptr : all_logits ? logits + c0 * V : logits;
      forward(b, ctx);
    }
  }

  /// Helper over forward(Batch): one decode token per session, tokens[b] at position
  /// sessions[b]->n_past(). logits: [B, V] f32. The sessions must be distinct.
  void forward_batch(std::span<const int32_t> tokens, std::span<Session* const> sessions,
                     float* logits) {
    R1_CHECK(tokens.size() == sessions.size(), "{} tokens for {} sessions", tokens.size(),
             sessions.size());
    if (tokens.empty()) return;
    Batch b;
    for (size_t i = 0; i < tokens.size(); ++i)
      b.add(tokens[i], b.add_sequence(sessions[i]), sessions[i]->n_past(), Batch::kLogits);
    ForwardContext ctx;
    ctx.logits = logits;
    forward(b, ctx);
  }
};

/// How to load: threads come from the caller's pool.
struct LoadOptions {
  bool dequantize_fp8 = false;  // dequantise FP8 block weights to BF16/F32 at load instead of using them directly
};

/// Loads a model from a Hugging Face directory (config.json + safetensors) or a .gguf file,
/// choosing the architecture from config.json `model_type` / GGUF `general.architecture`.
/// Errors: unknown architecture, missing/mis-shaped tensors, bad config fields (one line each).
Result<std::unique_ptr<CausalLM>> load_model(const std::string& path, const LoadOptions& opts,
                                             ThreadPool& pool);

}  // namespace r1::models

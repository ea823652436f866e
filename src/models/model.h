// The causal language model interface every architecture implements (llama, qwen2, deepseek_v3),
// and the loader that picks the architecture from a checkpoint. The engine (sampling, generation,
// server) only ever sees this interface.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/result.h"
#include "core/thread_pool.h"

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

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual const ModelInfo& info() const = 0;

  /// A new empty session with room for n_ctx tokens (n_ctx <= 0: the model's context length).
  virtual std::unique_ptr<Session> new_session(int64_t n_ctx) = 0;

  /// Runs tokens[T] at positions session.n_past() .. +T-1 in ONE batched pass (prefill when T > 1,
  /// decode when T == 1), appending them to the session's KV cache.
  /// logits: if all_logits, [T, V] f32 (row t predicts token t+1); else [1, V] for the last token.
  /// Preconditions (R1_CHECK): session from this model; n_past + T <= n_ctx; ids in [0, V).
  virtual void forward(std::span<const int32_t> tokens, Session& session, float* logits,
                       bool all_logits) = 0;

  /// Decodes one token for each of B sessions: tokens[b] at position sessions[b]->n_past().
  /// Architectures that override this run ONE batched pass (each weight streamed once for all
  /// B tokens, attention per sequence over its own cache); the default loops forward().
  /// logits: [B, V] f32. Preconditions as forward(); the sessions must be distinct.
  virtual void forward_batch(std::span<const int32_t> tokens, std::span<Session* const> sessions,
                             float* logits) {
    R1_CHECK(tokens.size() == sessions.size(), "{} tokens for {} sessions", tokens.size(),
             sessions.size());
    const int64_t V = info().vocab_size;
    for (size_t b = 0; b < tokens.size(); ++b)
      forward(tokens.subspan(b, 1), *sessions[b], logits + int64_t(b) * V, false);
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

// The unit of work of every forward: a Batch of token rows from one or more sequences, each
// sequence with its own KV cache (Session) or none (a training micro-batch row block), and which
// rows need logits or hidden states. Prefill, decode, mixed prefill + decode (chunked prefill),
// speculative verification (K+1 rows of one sequence, logits for each) and training micro-batches
// are all a Batch; CausalLM::forward(Batch, ForwardContext) is the one entry point.
// Modelled on llama.cpp's llama_batch (token, pos, seq_id, logits), with a Session per sequence.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/check.h"

namespace r1::autograd {
class Tape;
}

namespace r1::models {

class Session;

/// Rows (token, sequence, position) plus per-row output flags. Rows of one sequence must be
/// contiguous and at consecutive positions; a sequence with a session starts at the session's
/// n_past() (the rows are appended to its cache), one without starts at position 0 and attends
/// only to its own rows (training). Build with add_sequence() then add()/add_tokens().
struct Batch {
  static constexpr uint8_t kLogits = 1;  // this row's logits are wanted
  static constexpr uint8_t kHidden = 2;  // this row's last hidden state (before the final norm)

  std::vector<int32_t> tokens;    // [N] token ids
  std::vector<int32_t> seq;       // [N] index into sessions
  std::vector<int32_t> pos;       // [N] position of the row in its sequence
  std::vector<uint8_t> out;       // [N] kLogits | kHidden
  std::vector<Session*> sessions; // [n_seq] the cache of each sequence, or null (no cache)

  int64_t size() const { return int64_t(tokens.size()); }
  bool empty() const { return tokens.empty(); }
  int64_t n_seq() const { return int64_t(sessions.size()); }
  void clear() {
    tokens.clear();
    seq.clear();
    pos.clear();
    out.clear();
    sessions.clear();
  }

  /// Registers a sequence (its session may be null) and returns its index.
  int32_t add_sequence(Session* s) {
    sessions.push_back(s);
    return int32_t(sessions.size() - 1);
  }
  /// Appends one row.
  void add(int32_t token, int32_t seq_index, int64_t position, uint8_t flags = 0) {
    R1_CHECK(seq_index >= 0 && seq_index < n_seq(), "batch row of sequence {} of {}", seq_index,
             n_seq());
    tokens.push_back(token);
    seq.push_back(seq_index);
    pos.push_back(int32_t(position));
    out.push_back(flags);
  }
  /// Appends ids[T] to sequence seq_index at positions p0.., each row with `flags`, or, when
  /// last_only, only the last row flagged (a prompt whose last logits give the next token).
  void add_tokens(int32_t seq_index, std::span<const int32_t> ids, int64_t p0, uint8_t flags,
                  bool last_only = false) {
    for (size_t t = 0; t < ids.size(); ++t)
      add(ids[t], seq_index, p0 + int64_t(t),
          !last_only || t + 1 == ids.size() ? flags : uint8_t(0));
  }
  /// A training micro-batch: tokens [B*T] as B sequences of T tokens (row b*T + t is token t of
  /// sequence b, at position t), without sessions, every row's logits wanted. Checks B divides.
  static Batch training(std::span<const int32_t> tokens, int64_t B) {
    const int64_t n = int64_t(tokens.size());
    R1_CHECK(B > 0 && n > 0 && n % B == 0, "{} tokens do not split into {} sequences", n, B);
    const int64_t T = n / B;
    Batch b;
    for (int64_t i = 0; i < B; ++i)
      b.add_tokens(b.add_sequence(nullptr), tokens.subspan(size_t(i * T), size_t(T)), 0, kLogits);
    return b;
  }
  /// Rows flagged with `flag` (the rows of ForwardContext::logits / hidden).
  int64_t count(uint8_t flag) const {
    int64_t n = 0;
    for (uint8_t o : out) n += (o & flag) != 0;
    return n;
  }
};

/// What a forward writes and records besides the caches.
struct ForwardContext {
  /// [count(kLogits), V] f32: the flagged rows' logits in batch row order. May be null at
  /// inference (then no logits are computed); while training (tape set) a null logits comes
  /// back as a tape buffer from forward().
  float* logits = nullptr;
  /// [count(kHidden), D] f32: the flagged rows' last hidden state (before the final norm).
  float* hidden = nullptr;
  /// Training: every block records its backward node here (nn/grad.h); needs F32 weights.
  autograd::Tape* tape = nullptr;
  /// MoE models: += tokens routed per expert over this batch, [layers][E] (resized as needed).
  std::vector<std::vector<int64_t>>* expert_counts = nullptr;
};

}  // namespace r1::models

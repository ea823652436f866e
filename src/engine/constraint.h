// The per-sequence hook for constrained decoding: an object that says which tokens may come next
// (a grammar, a JSON schema, a forced tool call). engine::Sequence consults it after the
// reasoning block has closed; the engine knows nothing of grammars (src/grammar, and the
// server's adapter over it, implement this).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace r1::engine {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  /// Whether `token` may come next AND the output can still be completed afterwards within
  /// `remaining - 1` tokens with one to spare for the end-of-sequence token. `remaining`: tokens
  /// the sequence may still generate, this one included. An end-of-sequence id is allowed only
  /// when the output so far is complete. Cost: the token's bytes through the recogniser.
  virtual bool allows(int32_t token, int64_t remaining) = 0;
  /// Sets logits[i] to -inf for every token not allowed now (the room check aside). logits: [V].
  /// Cost: O(V) plus, on a cache miss, one pass over the vocabulary.
  virtual void mask(std::span<float> logits) = 0;
  /// Advances past `token` (one allows() accepted, or one of completion()'s).
  virtual void accept(int32_t token) = 0;
  /// The tokens of the shortest text that completes the output, then an end-of-sequence id.
  /// By the room check in allows(), they fit in the remaining tokens.
  virtual std::vector<int32_t> completion() = 0;
};

}  // namespace r1::engine

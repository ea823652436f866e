// Structured output for the server: the engine::TokenConstraint over a grammar (GrammarConstraint),
// and the per-model store of the vocabulary's token table and compiled grammars (with their mask
// caches), so that requests with the same schema share masks.
#pragma once
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/constraint.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

/// A grammar as a token constraint for one sequence (engine/constraint.h). The output must be a
/// sentence of the grammar; an EOS id is allowed only once it is complete.
class GrammarConstraint : public engine::TokenConstraint {
 public:
  /// All references must outlive the constraint; `eos_ids` non-empty (completion() ends with the
  /// first).
  GrammarConstraint(std::shared_ptr<grammar::CompiledGrammar> g, const grammar::TokenTable& table,
                    const tok::Tokenizer& tok, std::vector<int32_t> eos_ids);
  bool allows(int32_t token, int64_t remaining) override;
  void mask(std::span<float> logits) override;
  void accept(int32_t token) override;
  std::vector<int32_t> completion() override;

 private:
  bool is_eos(int32_t t) const;
  std::shared_ptr<grammar::CompiledGrammar> g_;
  const grammar::TokenTable& table_;
  const tok::Tokenizer& tok_;
  std::vector<int32_t> eos_;
  grammar::Matcher m_;
  grammar::Matcher::Mark mark_;
  std::vector<float> eos_logits_;
  bool broken_ = false;  // a token was refused by accept(): only the end may follow
};

/// The token table of one tokenizer (built on first use, ~0.1 s for 150K tokens) and an LRU of
/// compiled grammars keyed by GBNF text. Thread-safe.
class GrammarStore {
 public:
  explicit GrammarStore(size_t max_grammars = 64) : max_(max_grammars) {}
  /// Excludes special tokens and `eos_ids` from grammar matches (EOS is decided separately).
  const grammar::TokenTable& table(const tok::Tokenizer& tok, const std::vector<int32_t>& eos_ids);
  /// The compiled grammar for `text` (parsed as `parsed`), shared with earlier requests.
  std::shared_ptr<grammar::CompiledGrammar> get(const std::string& text,
                                                std::shared_ptr<const grammar::Grammar> parsed);

 private:
  std::mutex mu_;
  std::once_flag table_once_;
  std::unique_ptr<grammar::TokenTable> table_;
  size_t max_;
  std::list<std::pair<std::string, std::shared_ptr<grammar::CompiledGrammar>>> lru_;
};

}  // namespace r1::server

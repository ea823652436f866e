// Grammar-constrained decoding for the server (see structured.h).
#include "server/structured.h"

#include <algorithm>
#include <limits>

namespace r1::server {

GrammarConstraint::GrammarConstraint(std::shared_ptr<grammar::CompiledGrammar> g,
                                     const grammar::TokenTable& table, const tok::Tokenizer& tok,
                                     std::vector<int32_t> eos_ids)
    : g_(std::move(g)), table_(table), tok_(tok), eos_(std::move(eos_ids)), m_(g_->grammar) {}

bool GrammarConstraint::is_eos(int32_t t) const {
  return std::find(eos_.begin(), eos_.end(), t) != eos_.end();
}

bool GrammarConstraint::allows(int32_t token, int64_t remaining) {
  if (is_eos(token)) return broken_ || m_.complete();
  if (broken_ || token < 0 || token >= table_.size() || table_.excluded(token)) return false;
  m_.mark_into(mark_);
  // Room: after this token, the shortest completion (at most one token per byte) and the EOS.
  const bool ok = m_.accept_bytes(table_.bytes(token)) &&
                  m_.shortest_completion_bytes() + 1 <= remaining - 1;
  m_.rewind(mark_);
  return ok;
}

void GrammarConstraint::mask(std::span<float> logits) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const bool eos_ok = broken_ || m_.complete();
  eos_logits_.clear();
  for (int32_t e : eos_) eos_logits_.push_back(e >= 0 && static_cast<size_t>(e) < logits.size() ? logits[static_cast<size_t>(e)] : 0.0f);
  if (broken_) {
    std::fill(logits.begin(), logits.end(), kNegInf);
  } else {
    const auto mask = g_->masks.get(m_, table_);
    const size_t n = std::min(logits.size(), static_cast<size_t>(table_.size()));
    for (size_t w = 0; w * 64 < n; ++w) {
      const uint64_t bits = (*mask)[w];
      if (bits == ~uint64_t{0}) continue;
      const size_t end = std::min(n, w * 64 + 64);
      for (size_t i = w * 64; i < end; ++i) {
        if (!((bits >> (i - w * 64)) & 1u)) logits[i] = kNegInf;
      }
    }
    for (size_t i = n; i < logits.size(); ++i) logits[i] = kNegInf;
  }
  for (size_t k = 0; k < eos_.size(); ++k) {
    const auto e = static_cast<size_t>(eos_[k]);
    if (e < logits.size()) logits[e] = eos_ok ? eos_logits_[k] : kNegInf;
  }
}

void GrammarConstraint::accept(int32_t token) {
  if (is_eos(token) || broken_) return;
  if (token < 0 || token >= table_.size() || table_.excluded(token) || !m_.accept_bytes(table_.bytes(token))) {
    broken_ = true;  // cannot happen for tokens allows() or completion() gave; end cleanly if it does
    return;
  }
  if (m_.pool_size() > 4096) m_.compact();
}

std::vector<int32_t> GrammarConstraint::completion() {
  std::vector<int32_t> ids;
  if (!broken_) ids = tok_.encode(m_.shortest_completion(), /*add_bos=*/false, /*parse_special=*/false);
  if (!eos_.empty()) ids.push_back(eos_.front());
  return ids;
}

const grammar::TokenTable& GrammarStore::table(const tok::Tokenizer& tok, const std::vector<int32_t>& eos_ids) {
  std::call_once(table_once_, [&] {
    const int32_t V = tok.vocab_size();
    std::vector<std::string> bytes(static_cast<size_t>(V));
    std::vector<bool> excluded(static_cast<size_t>(V), false);
    for (int32_t i = 0; i < V; ++i) {
      bytes[static_cast<size_t>(i)] = tok.token_bytes(i);
      excluded[static_cast<size_t>(i)] = tok.is_special(i);
    }
    for (int32_t e : eos_ids) {
      if (e >= 0 && e < V) excluded[static_cast<size_t>(e)] = true;
    }
    table_ = std::make_unique<grammar::TokenTable>(std::move(bytes), excluded);
  });
  return *table_;
}

std::shared_ptr<grammar::CompiledGrammar> GrammarStore::get(const std::string& text,
                                                            std::shared_ptr<const grammar::Grammar> parsed) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->first == text) {
      lru_.splice(lru_.begin(), lru_, it);
      return lru_.front().second;
    }
  }
  auto g = std::make_shared<grammar::CompiledGrammar>();
  g->grammar = std::move(parsed);
  lru_.emplace_front(text, g);
  if (lru_.size() > max_) lru_.pop_back();
  return g;
}

}  // namespace r1::server

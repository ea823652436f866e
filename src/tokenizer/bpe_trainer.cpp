// Byte-level BPE trainer (see bpe_trainer.h). Word counts after GPT-2 pre-tokenization, then the
// classic incremental pair-count algorithm: a max-heap of pairs with lazy re-validation, and for
// each pair the list of words that contain it so a merge only revisits those words.
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace r1::tok {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

std::string byte_level_char(uint8_t b) {
  std::string s;
  append_utf8(byte_to_codepoint()[b], s);
  return s;
}

}  // namespace

Result<std::vector<std::string>> read_training_corpus(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot open file", path);
  std::vector<std::string> texts;
  const bool jsonl = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  if (!jsonl) {
    std::stringstream ss;
    ss << f.rdbuf();
    texts.push_back(ss.str());
    return texts;
  }
  std::string line;
  size_t line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return make_error("{}: line {}: not a JSON object", path, line_no);
    if (!j.contains("text") || !j["text"].is_string()) {
      return make_error("{}: line {}: missing string field \"text\"", path, line_no);
    }
    texts.push_back(j["text"].get<std::string>());
  }
  return texts;
}

Result<BpeTrainResult> train_bpe(const std::vector<std::string>& texts, const BpeTrainerOptions& opts) {
  std::vector<std::string> specials = opts.special_tokens;
  for (const std::string* t : {&opts.bos_token, &opts.eos_token}) {
    if (!t->empty() && std::find(specials.begin(), specials.end(), *t) == specials.end()) specials.push_back(*t);
  }
  {
    std::unordered_set<std::string> seen;
    for (const std::string& s : specials) {
      if (s.empty()) return make_error("special tokens: empty token");
      if (!seen.insert(s).second) return make_error("special tokens: '{}' given twice", s);
    }
  }
  const auto n_special = static_cast<int32_t>(specials.size());
  if (opts.vocab_size < n_special + 256) {
    return make_error("vocab size {} is smaller than {} special + 256 byte tokens", opts.vocab_size, n_special);
  }

  // 1. Word frequencies: text between special tokens, split by the GPT-2 regex.
  R1_ASSIGN_OR_RETURN(gpt2, Regex::compile(kGpt2Regex));
  std::vector<PreTokenizerStep> steps(1);
  steps[0].kind = PreTokenizerStep::Kind::ByteLevel;
  steps[0].regex = std::shared_ptr<const Regex>(std::move(gpt2));
  const PreTokenizer pre(std::move(steps));
  std::unordered_map<std::string, int64_t> word_counts;
  std::vector<Piece> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  auto count_segment = [&](std::string_view seg) {
    pieces.clear();
    pre.split(seg, pieces, owned);
    for (Piece p : pieces) ++word_counts[std::string(p)];
  };
  for (const std::string& text : texts) {
    std::string_view rest = text;
    while (!rest.empty()) {
      size_t best = std::string_view::npos, best_len = 0;
      for (const std::string& s : specials) {
        const size_t at = rest.find(s);
        if (at < best || (at == best && s.size() > best_len)) {
          best = at;
          best_len = s.size();
        }
      }
      if (best == std::string_view::npos) {
        count_segment(rest);
        break;
      }
      count_segment(rest.substr(0, best));
      rest.remove_prefix(best + best_len);
    }
  }

  // 2. Words as symbol sequences, in sorted order so the result does not depend on hashing.
  std::vector<std::pair<std::string, int64_t>> sorted(word_counts.begin(), word_counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<int32_t>> words(sorted.size());
  std::vector<int64_t> counts(sorted.size());
  for (size_t w = 0; w < sorted.size(); ++w) {
    counts[w] = sorted[w].second;
    for (char c : sorted[w].first) words[w].push_back(n_special + static_cast<uint8_t>(c));
  }

  std::vector<std::string> vocab = specials;  // id -> byte-level token string
  std::unordered_map<std::string, int32_t> vocab_ids;
  for (int32_t i = 0; i < n_special; ++i) vocab_ids.emplace(specials[i], i);
  for (int b = 0; b < 256; ++b) {
    vocab.push_back(byte_level_char(static_cast<uint8_t>(b)));
    if (!vocab_ids.emplace(vocab.back(), static_cast<int32_t>(vocab.size() - 1)).second) {
      return make_error("special token '{}' is also the byte-level token of byte 0x{:02X}", vocab.back(), b);
    }
  }

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
  for (size_t w = 0; w < words.size(); ++w) {
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      pair_count[k] += counts[w];
      auto& lst = pair_words[k];
      if (lst.empty() || lst.back() != static_cast<int32_t>(w)) lst.push_back(static_cast<int32_t>(w));
    }
  }
  struct Cand {
    int64_t count;
    uint64_t key;
    // Max-heap on count; on equal counts the smaller (left, right) pair wins.
    bool operator<(const Cand& o) const { return count != o.count ? count < o.count : key > o.key; }
  };
  std::priority_queue<Cand> heap;
  for (const auto& [k, c] : pair_count) heap.push({c, k});

  // 3. Merge loop.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<int32_t> seen_at(words.size(), -1);
  while (static_cast<int32_t>(vocab.size()) < opts.vocab_size && !heap.empty()) {
    const Cand top = heap.top();
    heap.pop();
    const auto it = pair_count.find(top.key);
    const int64_t current = it == pair_count.end() ? 0 : it->second;
    if (current != top.count) {  // stale entry: re-queue with the current count
      if (current > 0) heap.push({current, top.key});
      continue;
    }
    if (current < std::max<int64_t>(opts.min_frequency, 1)) break;
    const auto a = static_cast<int32_t>(top.key >> 32), b = static_cast<int32_t>(top.key & 0xffffffffu);
    // Two merge paths can spell the same string ("ab"+"c", "a"+"bc"): reuse its id then.
    const std::string merged_text = vocab[a] + vocab[b];
    auto [vit, fresh] = vocab_ids.emplace(merged_text, static_cast<int32_t>(vocab.size()));
    const int32_t new_id = vit->second;
    if (fresh) vocab.push_back(merged_text);
    merges.emplace_back(vocab[a], vocab[b]);
    const int32_t merge_index = static_cast<int32_t>(merges.size());

    std::unordered_map<uint64_t, int64_t> delta;
    const std::vector<int32_t> affected = std::move(pair_words[top.key]);
    pair_words.erase(top.key);
    for (int32_t w : affected) {
      if (seen_at[w] == merge_index) continue;
      seen_at[w] = merge_index;
      std::vector<int32_t>& sym = words[w];
      bool has = false;
      for (size_t i = 0; i + 1 < sym.size(); ++i) has = has || (sym[i] == a && sym[i + 1] == b);
      if (!has) continue;
      for (size_t i = 0; i + 1 < sym.size(); ++i) delta[pair_key(sym[i], sym[i + 1])] -= counts[w];
      std::vector<int32_t> merged;
      merged.reserve(sym.size());
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          merged.push_back(new_id);
          ++i;
        } else {
          merged.push_back(sym[i]);
        }
      }
      sym = std::move(merged);
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        const uint64_t k = pair_key(sym[i], sym[i + 1]);
        delta[k] += counts[w];
        if (sym[i] == new_id || sym[i + 1] == new_id) {
          auto& lst = pair_words[k];
          if (lst.empty() || lst.back() != w) lst.push_back(w);
        }
      }
    }
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[k];
      c += d;
      if (d > 0) heap.push({c, k});
      if (c <= 0) pair_count.erase(k);
    }
  }

  // 4. tokenizer.json (keys in HF's order) and tokenizer_config.json.
  using ojson = nlohmann::ordered_json;
  ojson added = ojson::array();
  for (int32_t i = 0; i < n_special; ++i) {
    added.push_back({{"id", i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  ojson vocab_json = ojson::object();
  for (size_t i = 0; i < vocab.size(); ++i) vocab_json[vocab[i]] = i;
  ojson merges_json = ojson::array();
  for (const auto& [l, r] : merges) merges_json.push_back(l + " " + r);  // byte-level tokens hold no space
  ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  ojson tj = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", byte_level},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab_json}, {"merges", merges_json}}},
  };
  ojson cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
               {"bos_token", opts.bos_token.empty() ? ojson(nullptr) : ojson(opts.bos_token)},
               {"eos_token", opts.eos_token.empty() ? ojson(nullptr) : ojson(opts.eos_token)},
               {"add_bos_token", !opts.bos_token.empty()},
               {"add_eos_token", false},
               {"clean_up_tokenization_spaces", false}};
  BpeTrainResult r;
  r.tokenizer_json = tj.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  r.tokenizer_config_json = cfg.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  r.vocab_size = static_cast<int32_t>(vocab.size());
  r.n_merges = static_cast<int32_t>(merges.size());
  return r;
}

}  // namespace r1::tok

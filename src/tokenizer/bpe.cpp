// Byte-level BPE merging (rank-based, as HF tokenizers' Word::merge_all), the merge table, the
// added-token trie and the word cache.
#include <algorithm>
#include <climits>
#include <queue>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1::tok {

// ---------------------------------------------------------------- MergeTable

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  std::vector<Entry> old = std::move(slots_);
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
  size_ = 0;
  for (const Entry& e : old) {
    if (e.key == ~uint64_t{0}) continue;
    insert(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xffffffffu), e.rank, e.id);
  }
}

bool MergeTable::insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) reserve(std::max<size_t>(size_ + 1, slots_.size()));
  const uint64_t key = make_key(a, b);
  size_t i = hash(key) & mask_;
  while (slots_[i].key != ~uint64_t{0}) {
    if (slots_[i].key == key) return false;
    i = (i + 1) & mask_;
  }
  slots_[i] = Entry{key, rank, id};
  ++size_;
  return true;
}

// ---------------------------------------------------------------- AddedTokenTrie

void AddedTokenTrie::add(std::string_view s, int32_t added_index) {
  if (s.empty()) return;
  first_[static_cast<uint8_t>(s[0])] = true;
  int32_t node = 0;
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    int32_t child = -1;
    for (const auto& [b, n] : nodes_[node].next) {
      if (b == c) {
        child = n;
        break;
      }
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[node].next.emplace_back(c, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  if (nodes_[node].token < 0) nodes_[node].token = added_index;  // first registration wins
}

int32_t AddedTokenTrie::longest_at(std::string_view text, size_t pos, size_t* end) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    int32_t child = -1;
    for (const auto& [b, n] : nodes_[node].next) {
      if (b == c) {
        child = n;
        break;
      }
    }
    if (child < 0) break;
    node = child;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      *end = i + 1;
    }
  }
  return best;
}

// ---------------------------------------------------------------- WordCache

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  Shard& s = shards_[StringHash{}(word) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(word);
  if (it == s.map.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, const int32_t* ids, size_t n) const {
  Shard& s = shards_[StringHash{}(word) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.map.size() >= kMaxPerShard) s.map.clear();  // bounded memory; cheap to refill
  s.map.emplace(std::string(word), std::vector<int32_t>(ids, ids + n));
}

// ---------------------------------------------------------------- byte-level mapping

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& table = byte_to_codepoint();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(table[static_cast<uint8_t>(c)], out);
  return out;
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  std::string tmp;
  tmp.reserve(token.size());
  size_t i = 0;
  while (i < token.size()) {
    uint32_t cp;
    const int len = decode_utf8(token, i, &cp);
    if (len == 0) return false;
    const int b = codepoint_to_byte(cp);
    if (b < 0) return false;
    tmp.push_back(static_cast<char>(b));
    i += len;
  }
  out += tmp;
  return true;
}

// ---------------------------------------------------------------- BPE merge

namespace {

constexpr int32_t kNoRank = INT_MAX;

// Small words: keep symbols and the rank of each adjacent pair in arrays; each step merges the
// lowest-ranked pair (leftmost on ties) and refreshes only its two neighbouring pairs.
void merge_small(const MergeTable& merges, std::vector<int32_t>& sym) {
  const size_t n0 = sym.size();
  int32_t rank[256], nid[256];
  for (size_t i = 0; i + 1 < n0; ++i) {
    const MergeTable::Entry* e = merges.find(sym[i], sym[i + 1]);
    rank[i] = e ? e->rank : kNoRank;
    nid[i] = e ? e->id : -1;
  }
  size_t n = n0;
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = rank[0];
    for (size_t i = 1; i + 1 < n; ++i) {
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    }
    if (best_rank == kNoRank) break;
    sym[best] = nid[best];
    // Remove symbol best+1 and pair best+1 (pair best is recomputed below).
    for (size_t i = best + 1; i + 1 < n; ++i) sym[i] = sym[i + 1];
    for (size_t i = best + 1; i + 2 < n; ++i) {
      rank[i] = rank[i + 1];
      nid[i] = nid[i + 1];
    }
    --n;
    if (best + 1 < n) {
      const MergeTable::Entry* e = merges.find(sym[best], sym[best + 1]);
      rank[best] = e ? e->rank : kNoRank;
      nid[best] = e ? e->id : -1;
    }
    if (best > 0) {
      const MergeTable::Entry* e = merges.find(sym[best - 1], sym[best]);
      rank[best - 1] = e ? e->rank : kNoRank;
      nid[best - 1] = e ? e->id : -1;
    }
  }
  sym.resize(n);
}

// Long words: a doubly linked list of symbols and a min-heap of candidate merges keyed by
// (rank, position), with stale entries skipped on pop (as HF's Word::merge_all).
void merge_large(const MergeTable& merges, std::vector<int32_t>& sym) {
  const int32_t n = static_cast<int32_t>(sym.size());
  std::vector<int32_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank, pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const MergeTable::Entry* e = merges.find(sym[i], sym[i + 1])) heap.push({e->rank, i, e->id});
  }
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int32_t r = next[c.pos];
    const MergeTable::Entry* e = merges.find(sym[c.pos], sym[r]);
    if (e == nullptr || e->id != c.id || e->rank != c.rank) continue;  // stale
    sym[c.pos] = c.id;
    alive[r] = 0;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    if (prev[c.pos] >= 0) {
      const int32_t p = prev[c.pos];
      if (const MergeTable::Entry* pe = merges.find(sym[p], sym[c.pos])) heap.push({pe->rank, p, pe->id});
    }
    if (next[c.pos] >= 0) {
      if (const MergeTable::Entry* ne = merges.find(sym[c.pos], sym[next[c.pos]])) {
        heap.push({ne->rank, c.pos, ne->id});
      }
    }
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0 && i < n; i = next[i]) sym[k++] = sym[i];
  sym.resize(k);
}

}  // namespace

void TokenizerImpl::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    const int32_t id = byte_id[static_cast<uint8_t>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  constexpr size_t kMaxCachedBytes = 256;
  const bool cacheable = word.size() <= kMaxCachedBytes;
  if (cacheable && cache_.lookup(word, out)) return;
  if (ignore_merges) {
    if (auto it = model_bytes_to_id.find(word); it != model_bytes_to_id.end()) {
      out.push_back(it->second);
      return;
    }
  }
  thread_local std::vector<int32_t> sym;
  sym.clear();
  for (char c : word) {
    const int32_t id = byte_id[static_cast<uint8_t>(c)];
    if (id >= 0) sym.push_back(id);  // a vocabulary without this byte drops it (HF: no unk set)
  }
  if (sym.size() <= 256) {
    merge_small(merges, sym);
  } else {
    merge_large(merges, sym);
  }
  if (cacheable) cache_.insert(word, sym.data(), sym.size());
  out.insert(out.end(), sym.begin(), sym.end());
}

}  // namespace r1::tok

// Token masks from a grammar state (see token_mask.h).
#include "grammar/token_mask.h"

#include <algorithm>
#include <numeric>

namespace r1::grammar {

TokenTable::TokenTable(std::vector<std::string> bytes, const std::vector<bool>& excluded)
    : bytes_(std::move(bytes)), excluded_(bytes_.size(), false) {
  for (size_t i = 0; i < bytes_.size(); ++i) {
    excluded_[i] = (i < excluded.size() && excluded[i]) || bytes_[i].empty();
    if (!excluded_[i]) order_.push_back(static_cast<int32_t>(i));
  }
  std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)];
  });
  lcp_.assign(order_.size(), 0);
  for (size_t i = 1; i < order_.size(); ++i) {
    const std::string& a = bytes_[static_cast<size_t>(order_[i - 1])];
    const std::string& b = bytes_[static_cast<size_t>(order_[i])];
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    lcp_[i] = static_cast<int32_t>(n);
  }
}

void TokenTable::compute_mask(Matcher& m, TokenMask& out) const {
  out.assign((bytes_.size() + 63) / 64, 0);
  // marks[d]: the state after the first d bytes of the current token (marks[0]: the start).
  // `depth` bytes of the previous token were accepted; it failed at byte `depth` unless it
  // was accepted whole.
  thread_local std::vector<Matcher::Mark> marks;
  size_t depth = 0;
  if (marks.empty()) marks.resize(1);
  m.mark_into(marks[0]);
  for (size_t i = 0; i < order_.size(); ++i) {
    const int32_t id = order_[i];
    const std::string& b = bytes_[static_cast<size_t>(id)];
    const auto l = static_cast<size_t>(lcp_[i]);
    if (l > depth) continue;  // shares the byte the previous token was refused at
    if (depth > l) {
      depth = l;
      m.rewind(marks[depth]);
    }
    while (depth < b.size()) {
      if (!m.accept_byte(static_cast<uint8_t>(b[depth]))) break;
      ++depth;
      if (marks.size() <= depth) marks.resize(depth + 1);
      m.mark_into(marks[depth]);
    }
    if (depth == b.size()) out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  }
  m.rewind(marks[0]);
}

std::shared_ptr<const TokenMask> MaskCache::get(Matcher& m, const TokenTable& table) {
  const std::string key = m.key();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      ++hits_;
      return it->second;
    }
  }
  auto mask = std::make_shared<TokenMask>();
  table.compute_mask(m, *mask);
  std::lock_guard<std::mutex> lock(mu_);
  ++misses_;
  if (map_.size() >= max_entries_) map_.clear();
  map_.emplace(key, mask);
  return mask;
}

}  // namespace r1::grammar

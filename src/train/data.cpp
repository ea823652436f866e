#include "train/data.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace r1::train {

Result<std::vector<int32_t>> load_corpus(const std::string& path, const tok::Tokenizer& tok,
                                         int32_t eos) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot read corpus", path);
  std::vector<int32_t> out;
  auto add_doc = [&](std::string_view text) {
    std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/false, /*parse_special=*/false);
    out.insert(out.end(), ids.begin(), ids.end());
    if (eos >= 0) out.push_back(eos);
  };
  const bool jsonl = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  if (jsonl) {
    std::string line;
    int64_t n = 0;
    while (std::getline(f, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return make_error("{}:{}: not valid JSON", path, n);
      auto it = j.is_object() ? j.find("text") : j.end();
      if (!j.is_object() || it == j.end() || !it->is_string())
        return make_error("{}:{}: expected an object with a string field \"text\"", path, n);
      add_doc(it->get_ref<const std::string&>());
    }
  } else {
    std::stringstream ss;
    ss << f.rdbuf();
    add_doc(ss.str());
  }
  if (out.size() <= 1) return make_error("{}: corpus has no tokens", path);
  return out;
}

Result<PackedDataset> PackedDataset::make(std::vector<int32_t> stream, int64_t seq_len,
                                          uint64_t seed, int64_t val_windows) {
  if (seq_len <= 0) return make_error("seq-len must be positive, got {}", seq_len);
  if (int64_t(stream.size()) < seq_len + 1)
    return make_error("corpus has {} tokens, fewer than seq-len + 1 = {}", stream.size(),
                      seq_len + 1);
  PackedDataset d;
  const int64_t total = (int64_t(stream.size()) - 1) / seq_len;
  d.n_val_ = std::clamp<int64_t>(val_windows, 0, total - 1);
  d.n_windows_ = total - d.n_val_;
  d.stream_ = std::move(stream);
  d.seq_len_ = seq_len;
  d.seed_ = seed;
  return d;
}

void PackedDataset::val_sample(int64_t i, std::vector<int32_t>& inputs,
                               std::vector<int32_t>& targets) const {
  R1_CHECK(i >= 0 && i < n_val_, "validation window {} of {}", i, n_val_);
  const int64_t start = (n_windows_ + i) * seq_len_;
  inputs.assign(stream_.begin() + start, stream_.begin() + start + seq_len_);
  targets.assign(stream_.begin() + start + 1, stream_.begin() + start + seq_len_ + 1);
}

void PackedDataset::sample(int64_t k, std::vector<int32_t>& inputs,
                           std::vector<int32_t>& targets) {
  const int64_t epoch = k / n_windows_;
  if (epoch != epoch_) {
    perm_.resize(size_t(n_windows_));
    std::iota(perm_.begin(), perm_.end(), 0);
    std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
    // Fisher-Yates with our own index draw (std::shuffle's algorithm is library-specific).
    for (int64_t i = n_windows_ - 1; i > 0; --i) {
      const int64_t j = int64_t(rng() % uint64_t(i + 1));
      std::swap(perm_[size_t(i)], perm_[size_t(j)]);
    }
    epoch_ = epoch;
  }
  const int64_t start = perm_[size_t(k % n_windows_)] * seq_len_;
  inputs.assign(stream_.begin() + start, stream_.begin() + start + seq_len_);
  targets.assign(stream_.begin() + start + 1, stream_.begin() + start + seq_len_ + 1);
}

}  // namespace r1::train

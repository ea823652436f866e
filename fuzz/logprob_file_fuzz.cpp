// libFuzzer harness for the base-logits file of `r1 perplexity --kl-divergence-base F`
// (eval/logprob_file.h): a file a user hands us, possibly truncated, from another model, or not
// such a file at all. Input: the file's bytes. Invariants: no crash, hang or sanitizer report;
// a file that opens has n_chunk * n_ctx tokens in [0, V), every row it announces reads (the size
// was checked at open) or fails with an error, and a row that reads compares with a model's
// logits to finite statistics.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "eval/logprob_file.h"
#include "eval/perplexity.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  static const std::string path = fuzz::scratch_dir("logprob_file") + "/base.kld";
  fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  auto r = eval::LogProbReader::open(path);
  if (!r.ok()) return 0;
  const eval::LogProbHeader& h = r->header();
  if (int64_t(r->tokens().size()) != h.n_chunk * h.n_ctx) std::abort();
  for (int32_t t : r->tokens())
    if (t < 0 || t >= h.n_vocab) std::abort();
  // The header's vocabulary bounds the row size; the fuzzer's inputs are far below libFuzzer's
  // size limit, so V here is small whenever the file is consistent.
  std::vector<float> logits(size_t(h.n_vocab));
  for (int64_t i = 0; i < h.n_vocab; ++i) logits[size_t(i)] = float(i % 7) * 0.5f;
  eval::LogProbRow row;
  const int64_t rows = h.n_chunk * h.rows_per_chunk();
  for (int64_t i = 0; i < rows; ++i) {
    if (!r->read_row(row).ok()) return 0;
    if (int64_t(row.codes.size()) != h.n_vocab) std::abort();
    const eval::KldRow k = eval::compare_to_base(logits, r->tokens()[0], row.view(h.step));
    if (!std::isfinite(k.kld)) std::abort();
  }
  return 0;
}

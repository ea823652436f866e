// Batch validation, grouping and row selection shared by every architecture's forward.
#include "models/model.h"
#include "models/rows.h"
#include "nn/grad.h"

namespace r1::models {

std::vector<BatchSpan> split_batch(const Batch& batch, int64_t vocab_size) {
  const int64_t N = batch.size();
  R1_CHECK(N > 0, "forward of an empty batch");
  R1_CHECK(int64_t(batch.seq.size()) == N && int64_t(batch.pos.size()) == N &&
               int64_t(batch.out.size()) == N,
           "batch arrays of {} tokens, {} seq, {} pos, {} out", N, batch.seq.size(),
           batch.pos.size(), batch.out.size());
  std::vector<BatchSpan> spans;
  std::vector<uint8_t> seen(size_t(batch.n_seq()), 0);
  for (int64_t i = 0; i < N; ++i) {
    const int32_t id = batch.tokens[size_t(i)], sq = batch.seq[size_t(i)];
    R1_CHECK(id >= 0 && id < vocab_size, "token id {} out of range [0, {})", id, vocab_size);
    R1_CHECK(sq >= 0 && sq < batch.n_seq(), "row {}: sequence {} of {}", i, sq, batch.n_seq());
    if (!spans.empty() && spans.back().seq == sq) {
      BatchSpan& b = spans.back();
      R1_CHECK(batch.pos[size_t(i)] == b.p0 + b.T, "row {}: position {} after {} in sequence {}",
               i, batch.pos[size_t(i)], b.p0 + b.T - 1, sq);
      ++b.T;
      continue;
    }
    R1_CHECK(!seen[size_t(sq)], "row {}: the rows of sequence {} are not contiguous", i, sq);
    seen[size_t(sq)] = 1;
    BatchSpan b;
    b.seq = sq;
    b.row0 = i;
    b.T = 1;
    b.p0 = batch.pos[size_t(i)];
    b.session = batch.sessions[size_t(sq)];
    const int64_t start = b.session != nullptr ? b.session->n_past() : 0;
    R1_CHECK(b.p0 == start, "sequence {} starts at position {}, its cache holds {}", sq, b.p0,
             start);
    spans.push_back(b);
  }
  for (size_t a = 0; a < spans.size(); ++a) {
    const BatchSpan& b = spans[a];
    if (b.session == nullptr) continue;
    R1_CHECK(b.p0 + b.T <= b.session->n_ctx(), "{} cached + {} new tokens exceed the context of {}",
             b.p0, b.T, b.session->n_ctx());
    for (size_t c = 0; c < a; ++c)
      R1_CHECK(spans[c].session != b.session, "a session given twice (sequences {} and {})",
               spans[c].seq, b.seq);
  }
  return spans;
}

float* gather_rows(nn::Context& ctx, const Batch& batch, uint8_t flag, float* x,
                          int64_t D, float* dst, float* scratch) {
  const int64_t N = batch.size(), n = batch.count(flag);
  if (n == 0) return nullptr;
  if (dst == nullptr) {
    if (n == N) return x;  // every row: no copy
    dst = nn::activation_buffer(ctx, n * D, scratch);
  }
  int64_t j = 0;
  for (int64_t i = 0; i < N; ++i) {  // runs of consecutive flagged rows, one copy each
    if (!(batch.out[size_t(i)] & flag)) continue;
    int64_t e = i + 1;
    while (e < N && (batch.out[size_t(e)] & flag)) ++e;
    nn::copy_rows(ctx, x + i * D, D, dst + j * D, D, D, e - i);
    j += e - i;
    i = e - 1;
  }
  return dst;
}

}  // namespace r1::models

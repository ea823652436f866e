// The base-model file of `r1 perplexity --save-logits F` / `--kl-divergence-base F`: the tokens
// each chunk was evaluated on and, for every scored position, the base model's distribution as
// uint16 log-probability codes (llama-perplexity stores uint16-quantised log-probs too, in a
// different layout; this format is r1's own). Version 1, all fields little-endian:
//
//   offset  type        field
//   0       char[8]     magic "R1LOGPRB"
//   8       u32         version (1)
//   12      u32         header bytes (64)
//   16      i64         n_vocab V
//   24      i64         n_ctx (tokens per chunk)
//   32      i64         n_chunk
//   40      i64         first scored position (n_ctx / 2)
//   48      f64         step: nats per code (kWindowNats / 65534)
//   56      i32         BOS id the chunks start with (-1: none; informational)
//   60      u32         zero
//   64      i32[n_chunk * n_ctx]   tokens as evaluated (each chunk's first token already BOS)
//   then, chunk by chunk, one row per scored position j = first .. n_ctx-2 (predicting j+1):
//           i32 top_id, f32 log p(top_id), f32 -log p(token j+1), u16 code[V]
//
// code_i = round((log p_top - log p_i) / step) covers the kWindowNats below the top token (step
// 3.05e-4 nats); 0xFFFF marks p_i < exp(-kWindowNats) p_top, taken as 0 (with V = 152K such tokens
// hold at most 3e-4 of the mass). A row is 12 + 2V bytes: 304 KB at V = 151936, i.e. 78 MB per
// 512-token chunk. The file is written through a temporary and renamed into place at the end.
#pragma once
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "eval/perplexity.h"
#include "io/io_util.h"

namespace r1::eval {

inline constexpr char kLogProbMagic[8] = {'R', '1', 'L', 'O', 'G', 'P', 'R', 'B'};
inline constexpr uint32_t kLogProbVersion = 1;
inline constexpr uint32_t kLogProbHeaderBytes = 64;
inline constexpr double kWindowNats = 20.0;
inline constexpr double kLogProbStep = kWindowNats / 65534.0;

/// The header fields of a base-logits file.
struct LogProbHeader {
  int64_t n_vocab = 0, n_ctx = 0, n_chunk = 0, first = 0;
  double step = kLogProbStep;
  int32_t bos_id = -1;
  int64_t rows_per_chunk() const { return n_ctx - 1 - first; }
  /// Bytes of one row: 12 + 2 V.
  int64_t row_bytes() const { return 12 + 2 * n_vocab; }
};

/// One stored row (the buffers are reused from row to row).
struct LogProbRow {
  int32_t top_id = 0;
  float top_log_p = 0.0f, nll_target = 0.0f;
  std::vector<uint16_t> codes;  // [V]
  /// A view for compare_to_base with the file's step.
  BaseRowView view(double step) const { return {top_id, top_log_p, nll_target, step, codes}; }
};

/// Writes a base-logits file row by row; nothing appears at `path` until commit().
class LogProbWriter {
 public:
  /// Starts the file: header and tokens [n_chunk * n_ctx]. Errors: cannot create the temporary,
  /// tokens of the wrong count.
  static Result<LogProbWriter> create(const std::string& path, const LogProbHeader& h,
                                      std::span<const int32_t> tokens);
  /// Appends one row (codes [V]). Errors: write failure, more rows than the header announced.
  Result<void> write_row(const LogProbRow& row);
  /// Renames the finished file into place. Errors: fewer rows than announced, I/O failure.
  Result<void> commit();

 private:
  explicit LogProbWriter(io::AtomicFile f) : f_(std::move(f)) {}
  io::AtomicFile f_;
  LogProbHeader h_;
  int64_t rows_ = 0;
};

/// Reads a base-logits file: open() checks the header, the exact file size and every token id;
/// rows are then read in order.
class LogProbReader {
 public:
  /// Errors (one line naming the file): missing/unreadable, wrong magic (not such a file),
  /// unsupported version, header fields out of range, size not matching the header (truncated),
  /// a token id outside [0, n_vocab).
  static Result<LogProbReader> open(const std::string& path);
  LogProbReader(LogProbReader&& o) noexcept;
  LogProbReader& operator=(LogProbReader&&) = delete;
  ~LogProbReader();

  const LogProbHeader& header() const { return h_; }
  /// The evaluated tokens [n_chunk * n_ctx].
  const std::vector<int32_t>& tokens() const { return tokens_; }
  /// Reads the next row into `row` (resized to V). Errors: read failure, a top id outside the
  /// vocabulary or a non-finite value (a corrupt file).
  Result<void> read_row(LogProbRow& row);

 private:
  LogProbReader() = default;
  std::string path_;
  std::FILE* f_ = nullptr;
  LogProbHeader h_;
  std::vector<int32_t> tokens_;
  int64_t rows_read_ = 0;
};

}  // namespace r1::eval

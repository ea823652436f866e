// Reader and writer of the base-logits file (format in logprob_file.h).
#include "eval/logprob_file.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace r1::eval {

static_assert(std::endian::native == std::endian::little,
              "the base-logits file is little-endian and read by memcpy");

namespace {

// The fixed 64-byte header, serialised field by field (no struct padding assumptions).
void encode_header(const LogProbHeader& h, unsigned char out[kLogProbHeaderBytes]) {
  std::memset(out, 0, kLogProbHeaderBytes);
  std::memcpy(out, kLogProbMagic, 8);
  std::memcpy(out + 8, &kLogProbVersion, 4);
  std::memcpy(out + 12, &kLogProbHeaderBytes, 4);
  std::memcpy(out + 16, &h.n_vocab, 8);
  std::memcpy(out + 24, &h.n_ctx, 8);
  std::memcpy(out + 32, &h.n_chunk, 8);
  std::memcpy(out + 40, &h.first, 8);
  std::memcpy(out + 48, &h.step, 8);
  std::memcpy(out + 56, &h.bos_id, 4);
}

}  // namespace

Result<LogProbWriter> LogProbWriter::create(const std::string& path, const LogProbHeader& h,
                                            std::span<const int32_t> tokens) {
  if (int64_t(tokens.size()) != h.n_chunk * h.n_ctx)
    return make_error("{}: {} tokens for {} chunks of {}", path, tokens.size(), h.n_chunk, h.n_ctx);
  R1_ASSIGN_OR_RETURN(f, io::AtomicFile::create(path));
  LogProbWriter w(std::move(f));
  w.h_ = h;
  unsigned char head[kLogProbHeaderBytes];
  encode_header(h, head);
  R1_TRY(w.f_.write(head, sizeof head));
  R1_TRY(w.f_.write(tokens.data(), tokens.size_bytes()));
  return w;
}

Result<void> LogProbWriter::write_row(const LogProbRow& row) {
  if (rows_ >= h_.n_chunk * h_.rows_per_chunk())
    return make_error("base-logits file: more rows than the {} announced",
                      h_.n_chunk * h_.rows_per_chunk());
  if (int64_t(row.codes.size()) != h_.n_vocab)
    return make_error("base-logits file: a row of {} codes for vocab {}", row.codes.size(),
                      h_.n_vocab);
  unsigned char head[12];
  std::memcpy(head, &row.top_id, 4);
  std::memcpy(head + 4, &row.top_log_p, 4);
  std::memcpy(head + 8, &row.nll_target, 4);
  R1_TRY(f_.write(head, sizeof head));
  R1_TRY(f_.write(row.codes.data(), row.codes.size() * sizeof(uint16_t)));
  ++rows_;
  return {};
}

Result<void> LogProbWriter::commit() {
  if (rows_ != h_.n_chunk * h_.rows_per_chunk())
    return make_error("base-logits file: {} rows written of {}", rows_,
                      h_.n_chunk * h_.rows_per_chunk());
  return f_.commit();
}

Result<LogProbReader> LogProbReader::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return make_error("{}: no such file (the base-logits file from `r1 perplexity --save-logits`)",
                      path);
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return make_error("{}: cannot stat: {}", path, ec.message());
  LogProbReader r;
  r.path_ = path;
  r.f_ = std::fopen(path.c_str(), "rb");
  if (!r.f_) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  unsigned char head[kLogProbHeaderBytes];
  if (size < kLogProbHeaderBytes || std::fread(head, 1, sizeof head, r.f_) != sizeof head ||
      std::memcmp(head, kLogProbMagic, 8) != 0)
    return make_error("{}: not a base-logits file of `r1 perplexity --save-logits` (no R1LOGPRB "
                      "magic)",
                      path);
  uint32_t version = 0, header_bytes = 0;
  std::memcpy(&version, head + 8, 4);
  std::memcpy(&header_bytes, head + 12, 4);
  if (version != kLogProbVersion || header_bytes != kLogProbHeaderBytes)
    return make_error("{}: version {} (header {} bytes); this r1 reads version {} ({} bytes)",
                      path, version, header_bytes, kLogProbVersion, kLogProbHeaderBytes);
  LogProbHeader& h = r.h_;
  std::memcpy(&h.n_vocab, head + 16, 8);
  std::memcpy(&h.n_ctx, head + 24, 8);
  std::memcpy(&h.n_chunk, head + 32, 8);
  std::memcpy(&h.first, head + 40, 8);
  std::memcpy(&h.step, head + 48, 8);
  std::memcpy(&h.bos_id, head + 56, 4);
  // Bounds keep every product below 2^63: V < 2^31, n_ctx < 2^24, n_chunk < 2^24.
  if (h.n_vocab < 1 || h.n_vocab >= (int64_t(1) << 31))
    return make_error("{}: header: n_vocab {} is out of range", path, h.n_vocab);
  if (h.n_ctx < 3 || h.n_ctx >= (int64_t(1) << 24))
    return make_error("{}: header: n_ctx {} is out of range", path, h.n_ctx);
  if (h.n_chunk < 1 || h.n_chunk >= (int64_t(1) << 24))
    return make_error("{}: header: n_chunk {} is out of range", path, h.n_chunk);
  if (h.first != h.n_ctx / 2)
    return make_error("{}: header: first scored position {} is not n_ctx/2 = {}", path, h.first,
                      h.n_ctx / 2);
  if (!(h.step > 0 && h.step < 1))
    return make_error("{}: header: step {} nats per code is out of range", path, h.step);
  const uint64_t n_tok = uint64_t(h.n_chunk * h.n_ctx);
  // n_tok * 4 < 2^50 and rows * row_bytes < 2^47 * 2^33: the sum fits unsigned 64 bits only
  // with the bounds above, so compute it in long double to report absurd headers plainly.
  const long double expected = (long double)kLogProbHeaderBytes + 4.0L * n_tok +
                               (long double)(h.n_chunk * h.rows_per_chunk()) * h.row_bytes();
  if ((long double)size != expected)
    return make_error("{}: {} bytes, but its header (vocab {}, {} chunks of {}) needs {:.0f}: "
                      "truncated or not written by this r1",
                      path, size, h.n_vocab, h.n_chunk, h.n_ctx, (double)expected);
  r.tokens_.resize(n_tok);
  if (std::fread(r.tokens_.data(), 4, n_tok, r.f_) != n_tok)
    return make_error("{}: cannot read the {} tokens", path, n_tok);
  for (size_t i = 0; i < r.tokens_.size(); ++i)
    if (r.tokens_[i] < 0 || r.tokens_[i] >= h.n_vocab)
      return make_error("{}: token {} is {}, outside the vocabulary of {}", path, i, r.tokens_[i],
                        h.n_vocab);
  return r;
}

LogProbReader::LogProbReader(LogProbReader&& o) noexcept
    : path_(std::move(o.path_)), f_(o.f_), h_(o.h_), tokens_(std::move(o.tokens_)),
      rows_read_(o.rows_read_) {
  o.f_ = nullptr;
}

LogProbReader::~LogProbReader() {
  if (f_) std::fclose(f_);
}

Result<void> LogProbReader::read_row(LogProbRow& row) {
  unsigned char head[12];
  row.codes.resize(size_t(h_.n_vocab));
  if (std::fread(head, 1, sizeof head, f_) != sizeof head ||
      std::fread(row.codes.data(), 2, row.codes.size(), f_) != row.codes.size())
    return make_error("{}: cannot read row {}", path_, rows_read_);
  std::memcpy(&row.top_id, head, 4);
  std::memcpy(&row.top_log_p, head + 4, 4);
  std::memcpy(&row.nll_target, head + 8, 4);
  if (row.top_id < 0 || row.top_id >= h_.n_vocab || !std::isfinite(row.top_log_p) ||
      row.top_log_p > 0 || !std::isfinite(row.nll_target) || row.nll_target < 0)
    return make_error("{}: row {}: top id {}, log p {}, nll {}: corrupt", path_, rows_read_,
                      row.top_id, row.top_log_p, row.nll_target);
  // The most likely of V tokens has p >= 1/V and code 0 by construction; a row without that has
  // no distribution to compare with (every stored probability would decode to 0).
  if (double(row.top_log_p) < -std::log(double(h_.n_vocab)) - 1e-3 ||
      row.codes[size_t(row.top_id)] != 0)
    return make_error("{}: row {}: top token {} has log p {} and code {} (the top of {} tokens "
                      "has log p >= -ln V and code 0): corrupt", path_, rows_read_, row.top_id,
                      row.top_log_p, row.codes[size_t(row.top_id)], h_.n_vocab);
  ++rows_read_;
  return {};
}

}  // namespace r1::eval

// Importance-matrix files as llama.cpp writes and reads them (tools/imatrix/imatrix.cpp,
// common/imatrix-loader.cpp and tools/quantize/quantize.cpp of llama.cpp commit 80fb11ac):
//  - GGUF (current): general.type = "imatrix", imatrix.datasets (string array),
//    imatrix.chunk_count and imatrix.chunk_size (u32); per weight matrix NAME two F32 tensors,
//    NAME.in_sum2 of shape [n_mat, ne0] (GGUF ne = {ne0, n_mat}): the sums of squared inputs of
//    each column, one row per expert (n_mat 1 for a dense matrix), and NAME.counts of shape
//    [n_mat, 1]: the number of input rows (tokens) summed per expert. Tensors sorted by name.
//  - legacy .dat: i32 n_entries, then per entry i32 name length, name, i32 ncall, i32 nval,
//    nval f32 (already divided by the count and multiplied by ncall); then optionally i32 chunk
//    count, i32 dataset-name length, dataset name.
// The importance llama-quantize uses is the mean: in_sum2 / count per expert (1 where the count
// is 0), legacy values / ncall.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "models/convert_quant.h"

namespace r1::models {

struct ImatrixEntry {
  std::vector<float> sums;      // n_mat * ne0: sum of x^2 per column, expert-major
  std::vector<int64_t> counts;  // n_mat (legacy: one, ncall)
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // by weight name ("blk.0.attn_q.weight")
  std::vector<std::string> datasets;
  uint32_t chunk_count = 0, chunk_size = 0;
  bool legacy = false;

  /// The per-column importance of every entry as llama-quantize's load_imatrix computes it
  /// (f32 sum / f32 count per expert; 1 for an expert never counted; legacy: value / ncall).
  ImatrixValues values() const;
};

/// Reads a GGUF or legacy .dat imatrix file. Errors (one line naming the file and the entry): not
/// readable, truncated, a GGUF without any NAME.in_sum2 / NAME.counts pair or lacking the imatrix.*
/// metadata, a sums tensor without its counts (or the reverse), non-F32 tensors, sums not
/// n_mat * ne0 with n_mat the count's length, non-finite values.
Result<Imatrix> read_imatrix(const std::string& path);

/// Writes `m` in the GGUF layout above (atomically). Errors: an entry whose sums are not a
/// multiple of its counts' length; I/O.
Result<void> write_imatrix_gguf(const Imatrix& m, const std::string& path);

}  // namespace r1::models

// The importance matrix of a model over a text (llama.cpp's `llama-imatrix`, tools/imatrix of
// llama.cpp commit 80fb11ac): for every weight matrix W of the transformer blocks, the sum over
// the tokens of the squared input of each column, x_j^2, and the number of tokens summed (per
// expert for MoE expert tensors, which see only the tokens routed to them). Divided, these are the
// importance weights llama.cpp's quantizers (and r1 convert --imatrix) minimise their error by.
// The activations come from kernels' matmul observer (kernels/matmul_observer.h); weights are
// recognised by their data, registered by GGUF name while the model loads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/matmul.h"
#include "models/convert_quant_imatrix.h"

namespace r1::eval {

class ImatrixCollector {
 public:
  ImatrixCollector() = default;
  ~ImatrixCollector();
  ImatrixCollector(const ImatrixCollector&) = delete;
  ImatrixCollector& operator=(const ImatrixCollector&) = delete;

  /// Registers weight `name` (a GGUF name) viewed by t. Only block weights ("blk.*", >= 2 dims)
  /// are kept, as llama-imatrix does without --process-output; 3-D tensors hold dim(0) matrices
  /// (experts, or heads of MLA's attn_k_b / attn_v_b) of dim(1) rows each.
  /// A name registered again (one call per expert slice) is ignored.
  void add_weight(const std::string& name, const Tensor& t);
  size_t n_weights() const { return entries_.size(); }

  /// Installs this collector as the kernels' matmul observer; stop() (or the destructor) removes
  /// it. Products of weights that were not registered are ignored.
  void start();
  void stop();

  /// One product: x [T, w.k]. Adds sum_t x[t, j]^2 to column j of every matrix of the weight
  /// the view lies in, and T to that matrix's count.
  void observe(const kernels::WeightView& w, const float* x, int64_t T);

  /// The collected data in llama.cpp's imatrix layout: entries seen at least once, counts per
  /// expert for expert tensors ("_exps"), one count when all of a tensor's matrices have the
  /// same (as llama-imatrix stores dense and per-head products).
  models::Imatrix result(std::vector<std::string> datasets, uint32_t chunk_count,
                         uint32_t chunk_size) const;

 private:
  struct Entry {
    std::string name;
    const uint8_t* begin = nullptr;
    const uint8_t* end = nullptr;
    int64_t n_mat = 1, ne0 = 0, mat_bytes = 0;
    std::vector<double> sums;     // n_mat * ne0
    std::vector<int64_t> counts;  // n_mat
  };
  std::vector<Entry> entries_;  // sorted by begin once started
  bool started_ = false;
};

}  // namespace r1::eval

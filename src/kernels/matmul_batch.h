// Several independent weight-times-activation products in ONE parallel loop: the routed experts
// of a MoE layer at decode are many small matrices (DeepSeek-V2-Lite: 6 experts x 3 matrices of
// 1408 x 2048 per layer), each too small for a pool round-trip of its own to pay off.
#pragma once
#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace r1::kernels {

/// One product y[T, w.n] = x[T, w.k] . W^T (as kernels::matmul).
struct MatmulJob {
  WeightView w;
  const float* x = nullptr;  // [T, K] f32 contiguous
  float* y = nullptr;        // [T, N] f32, overwritten; must not alias any job's x
  int64_t T = 0;
};

/// Runs every job; results equal kernels::matmul's for each job alone (the same row kernels and
/// the same Q8_0 activation rounding). Small jobs (Q8_0/Q4_0 weights with T <= 32, other dtypes
/// with T < 8) share one parallel_for over all their rows; activations of consecutive jobs with
/// the same x and K are quantised once. Larger jobs run one by one through kernels::matmul.
/// Buffers are per calling thread and reused (no allocation once grown).
void matmul_batch(std::span<const MatmulJob> jobs, ThreadPool& pool);

}  // namespace r1::kernels

// The context every nn/ forward receives: the thread pool (and, when training lands, the tape and
// the no-grad flag). Passed explicitly so blocks hold only their parameters, never global state.
#pragma once
#include "core/thread_pool.h"

namespace r1::autograd {
class Tape;
}

namespace r1::nn {

/// Execution context of one forward (and later backward) call. Not owned by blocks.
struct Context {
  ThreadPool& pool;
  /// When set, blocks record backward nodes on it and keep their activations (nn/grad.h).
  autograd::Tape* tape = nullptr;
};

/// Elementwise x[i] += y[i] for i < n (residual connections), threaded when large.
void add_inplace(Context& ctx, float* x, const float* y, int64_t n);

}  // namespace r1::nn

// A process-wide observer of weight products, for tools that need the activations entering each
// matmul (r1 imatrix: llama.cpp's imatrix collector sees the same through its graph callback).
// kernels::matmul and kernels::matmul_batch report each product (weight view, input rows) before
// computing it. Off (one predictable branch) unless a tool installs an observer.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"

namespace r1::kernels {

/// fn(user, w, x, T): x is [T, w.k] f32 contiguous, valid only during the call.
using MatmulObserver = void (*)(void* user, const WeightView& w, const float* x, int64_t T);

/// Installs the observer (fn null: removes it). Not synchronised with running forwards: install
/// before and remove after them. Products run from one thread at a time when observed (the
/// model forwards call the kernels from their calling thread).
void set_matmul_observer(MatmulObserver fn, void* user);

namespace detail {
extern MatmulObserver g_matmul_observer;
extern void* g_matmul_observer_user;
}  // namespace detail

/// Reports one product to the observer, if any.
inline void notify_matmul(const WeightView& w, const float* x, int64_t T) {
  if (detail::g_matmul_observer) detail::g_matmul_observer(detail::g_matmul_observer_user, w, x, T);
}

}  // namespace r1::kernels

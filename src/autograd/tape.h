// The autograd tape: a list of coarse nodes (a whole matmul, a whole attention, a whole MoE
// dispatch), each with a hand-written backward closure, plus the gradient buffers of activations
// and parameters. Blocks in nn/ record onto it when nn::Context::tape is set; with no tape they run
// the inference path unchanged. Gradients are found by ADDRESS: a gradient region mirrors a
// buffer [begin, begin + n) (an activation from alloc(), a parameter from add_param(), or any
// other buffer the first time grad() sees it), and grad(p, n) returns the matching slice of the
// region containing p, so sub-views (one head's slice, the rope part of a row) just work.
//
// Dependency order of the training stack: kernels <- ops (backward kernels) ;
// core <- autograd (this tape) ; nn (blocks record nodes) <- models <- train <- cli.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace r1::autograd {

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// A new activation buffer of n floats, kept alive until clear() (never reused while taping,
  /// so every saved input is still intact at backward time). Contents are uninitialised.
  float* alloc(int64_t n);

  /// Registers a trainable parameter: data [n] floats whose gradient accumulates into grad [n]
  /// (owned by the caller, e.g. the optimizer; never cleared by the tape). Survives clear().
  void add_param(const float* data, int64_t n, float* grad);

  /// The gradient slice of the n floats at p: a region containing [p, p+n) is found or (for an
  /// unknown address) created zero-filled. Checks that [p, p+n) does not straddle regions.
  float* grad(const void* p, int64_t n);
  /// The gradient slice at p if a region holding p already has a gradient buffer, else null
  /// (backward rules skip outputs nothing depended on).
  float* grad_if(const void* p);

  /// Appends a node; backward() runs nodes last-recorded first.
  void record(std::function<void()> backward) { nodes_.push_back(std::move(backward)); }
  int64_t n_nodes() const { return int64_t(nodes_.size()); }

  /// Runs every node in reverse order, then drops the nodes (activations stay until clear()).
  void backward();
  /// Keeps `obj` alive until clear() (e.g. a KV cache whose rows the nodes saved).
  void keep_alive(std::shared_ptr<void> obj) { keep_.push_back(std::move(obj)); }

  /// Frees activations, activation gradients and nodes; parameters stay registered.
  void clear();

 private:
  struct Region {
    int64_t n = 0;
    float* grad = nullptr;           // null until first requested
    std::unique_ptr<float[]> owned;  // activation gradients (parameters: caller-owned)
    int64_t owned_n = 0;             // capacity of `owned` in floats (>= n)
    bool param = false;
  };
  Region* find(const char* p, int64_t bytes, const char** begin);
  // A buffer of at least n floats (its size in *capacity): reused from `free_` (training repeats
  // about the same shapes every step, so after the first ones no memory is requested from the
  // system: no page faults).
  std::unique_ptr<float[]> take(int64_t n, int64_t* capacity);

  std::multimap<int64_t, std::unique_ptr<float[]>> free_;
  std::vector<std::pair<int64_t, std::unique_ptr<float[]>>> arena_sized_;

  std::map<const char*, Region> regions_;  // keyed by first byte
  std::vector<std::function<void()>> nodes_;
  std::vector<std::shared_ptr<void>> keep_;
};

}  // namespace r1::autograd

// DeepSeekMoE (DeepSeek-V2 report §2.2, DeepSeek-V3 report §2.1.2): always-on shared experts plus
// fine-grained routed experts chosen per token by a router, with V3's aux-loss-free bias used only
// for selection and group-limited routing. Experts run grouped: the tokens routed to one expert
// are gathered and go through it in one batched matmul.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/context.h"
#include "nn/linear.h"
#include "nn/mlp.h"

namespace r1::nn {

enum class MoeScoring { Sigmoid, Softmax };  // config scoring_func: V3 sigmoid, V2 softmax
enum class MoeTopkMethod {
  NoauxTc,             // V3: select on scores + e_score_correction_bias, groups by sum of top-2
  Greedy,              // V2: plain top-k of the scores
  GroupLimitedGreedy,  // V2: groups scored by their max score
};

/// Routing hyper-parameters (config.json names).
struct MoeConfig {
  int64_t n_routed_experts = 0;     // E
  int64_t num_experts_per_tok = 0;  // K
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.0f;
  MoeScoring scoring = MoeScoring::Sigmoid;
  MoeTopkMethod topk_method = MoeTopkMethod::NoauxTc;
};

/// Router output for T tokens: expert ids [T, K] (top-k order) and combine weights [T, K].
struct MoeRouting {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

/// Chooses experts from router logits [T, E] (f32). bias: [E] e_score_correction_bias (NoauxTc
/// only; null means zeros). HF DeepseekV3TopkRouter / MoEGate:
///   s = sigmoid(logits) | softmax(logits); choice = s + bias;
///   groups (E / n_group experts each) scored by the sum of their top-2 choice values (NoauxTc) or
///   their max (GroupLimitedGreedy); the best topk_group groups are kept, the rest masked;
///   experts = top-K of the masked choice values; weights = s[experts] (unbiased),
///   / (sum + 1e-20) if norm_topk_prob, then * routed_scaling_factor (NoauxTc, V3); the V2
///   methods (Greedy, GroupLimitedGreedy) normalise only when K > 1 and scale only when not
///   normalising, as DeepseekV2MoEGate does. Masked groups get -inf (DeepSeek's inference code).
/// Checks E % n_group == 0, K <= experts in kept groups.
void moe_route(const MoeConfig& cfg, const float* logits, const float* bias, int64_t T,
               MoeRouting& out);

/// Parameters of one MoE layer (HF DeepseekV3MoE names).
struct MoeWeights {
  Linear gate;                                // router [E, D]
  /// [E] F32 selection bias (undefined: zeros). A view of the checkpoint's tensor (a trainable
  /// model's parameter: the aux-loss-free update writes it there and every model sees it).
  Tensor e_score_correction_bias;
  std::vector<SwiGluMlp> experts;             // E routed experts, ffn moe_intermediate_size
  SwiGluMlp shared_experts;                   // ffn moe_intermediate_size * n_shared_experts
  bool has_shared = false;
  const float* selection_bias() const {
    return e_score_correction_bias.defined() ? e_score_correction_bias.data<float>() : nullptr;
  }
};

/// Reusable buffers of moe_forward, owned by the session and shared by its layers, so that
/// decode allocates nothing per token once they have grown. Used only when T <=
/// kMoeScratchMaxTokens (a long prefill's buffers are freed when it returns).
struct MoeScratch {
  std::vector<float> logits;            // [T, E]
  MoeRouting routing;                   // when the caller passes none
  std::vector<int32_t> offsets, order;  // [E + 1], [T*K]: (token, slot) pairs bucketed by expert
  std::vector<float> xe, gu, ye;        // gathered inputs, gate|up activations, expert outputs
  std::vector<float> shared;            // the shared experts' gate|up [2, T, F_shared]
};
inline constexpr int64_t kMoeScratchMaxTokens = 64;

/// out[T, D] = shared(x) + sum_k w[t,k] * expert_{e[t,k]}(x[t]) (V3 eq. 12).
/// x: [T, D] f32, out: [T, D] f32 (must not alias x).
/// expert_counts: if non-null, [E] counters incremented by tokens routed to each expert.
/// routing: if non-null, receives this call's routing (ids and weights).
/// scratch: the caller's reusable buffers (see MoeScratch), or null to allocate per call.
/// Inference runs the shared and all used routed experts' gate/up products as one
/// kernels::matmul_batch, then all their down products as another (two pool loops per layer
/// instead of two per matrix), with the same products and combine order as the expert-by-expert
/// loop (training keeps that loop: its tape records per-expert gather/combine nodes).
void moe_forward(Context& ctx, const MoeConfig& cfg, const MoeWeights& w, const float* x,
                 int64_t T, float* out, int64_t* expert_counts, MoeRouting* routing,
                 MoeScratch* scratch = nullptr);

/// The same result computed token by token, expert by expert (reference for tests).
void moe_forward_ref(Context& ctx, const MoeConfig& cfg, const MoeWeights& w, const float* x,
                     int64_t T, float* out);

}  // namespace r1::nn

// DeepSeekMoE routing and the grouped expert dispatch.
#include "nn/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/matmul_batch.h"
#include "kernels/ops.h"
#include "nn/grad.h"

namespace r1::nn {

void moe_route(const MoeConfig& cfg, const float* logits, const float* bias, int64_t T,
               MoeRouting& out) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t G = cfg.topk_method == MoeTopkMethod::Greedy ? 1 : cfg.n_group;
  const int64_t G_keep = cfg.topk_method == MoeTopkMethod::Greedy ? 1 : cfg.topk_group;
  R1_CHECK(E > 0 && K > 0 && G > 0 && E % G == 0 && G_keep >= 1 && G_keep <= G &&
               K <= (E / G) * G_keep,
           "bad MoE routing config: E {} K {} n_group {} topk_group {}", E, K, G, G_keep);
  const int64_t per_group = E / G;
  out.experts.resize(size_t(T * K));
  out.weights.resize(size_t(T * K));
  // Per-thread buffers, reused: routing runs once per MoE layer per decoded token.
  thread_local std::vector<float> s, choice, gscore, top2;
  thread_local std::vector<int32_t> gidx, top2i;
  thread_local std::vector<char> keep;
  s.resize(size_t(E));
  choice.resize(size_t(E));
  gscore.resize(size_t(G));
  top2.resize(2);
  gidx.resize(size_t(G));
  top2i.resize(2);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < T; ++t) {
    const float* lg = logits + t * E;
    if (cfg.scoring == MoeScoring::Sigmoid) {
      for (int64_t e = 0; e < E; ++e) s[size_t(e)] = 1.0f / (1.0f + std::exp(-lg[e]));
    } else {
      std::memcpy(s.data(), lg, size_t(E) * sizeof(float));
      kernels::softmax(s.data(), E);
    }
    for (int64_t e = 0; e < E; ++e)
      choice[size_t(e)] = s[size_t(e)] + (cfg.topk_method == MoeTopkMethod::NoauxTc && bias
                                              ? bias[e] : 0.0f);
    if (G > 1 && G_keep < G) {
      for (int64_t g = 0; g < G; ++g) {
        const float* cg = choice.data() + g * per_group;
        if (cfg.topk_method == MoeTopkMethod::NoauxTc) {
          const int64_t k2 = std::min<int64_t>(2, per_group);
          kernels::top_k(cg, per_group, k2, top2i.data(), top2.data());
          gscore[size_t(g)] = k2 == 2 ? top2[0] + top2[1] : top2[0];
        } else {
          float m = cg[0];
          for (int64_t i = 1; i < per_group; ++i) m = std::max(m, cg[i]);
          gscore[size_t(g)] = m;
        }
      }
      kernels::top_k(gscore.data(), G, G_keep, gidx.data(), nullptr);
      keep.assign(size_t(G), 0);
      for (int64_t i = 0; i < G_keep; ++i) keep[size_t(gidx[size_t(i)])] = true;
      for (int64_t e = 0; e < E; ++e)
        if (keep[size_t(e / per_group)] == 0) choice[size_t(e)] = neg_inf;
    }
    int32_t* ids = out.experts.data() + t * K;
    float* wts = out.weights.data() + t * K;
    kernels::top_k(choice.data(), E, K, ids, nullptr);
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      wts[k] = s[size_t(ids[k])];
      sum += wts[k];
    }
    const bool v3 = cfg.topk_method == MoeTopkMethod::NoauxTc;
    const bool norm = cfg.norm_topk_prob && (v3 || K > 1);
    if (norm) {
      const float denom = float(sum) + 1e-20f;
      for (int64_t k = 0; k < K; ++k) wts[k] /= denom;
    }
    if (v3 || !norm)
      for (int64_t k = 0; k < K; ++k) wts[k] *= cfg.routed_scaling_factor;
  }
}

namespace {

// Backward of the combine weights to the router logits (selected experts only):
//   w_k = c * s_k / (sum_j s_j)  (normalised)  or  c * s_k,  s = sigmoid(l) or softmax(l).
void record_moe_router(Context& ctx, const MoeConfig& cfg, const float* logits,
                       const std::vector<int32_t>& experts, const float* wts, int64_t T) {
  autograd::Tape* tape = ctx.tape;
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  tape->record([tape, cfg, logits, ids = experts, wts, T, E, K] {
    const float* dw = tape->grad_if(wts);
    if (dw == nullptr) return;
    float* dl = tape->grad(logits, T * E);
    const bool v3 = cfg.topk_method == MoeTopkMethod::NoauxTc;
    const bool norm = cfg.norm_topk_prob && (v3 || K > 1);
    const double c = (v3 || !norm) ? cfg.routed_scaling_factor : 1.0;
    std::vector<double> s(static_cast<size_t>(E)), ds(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
      const float* lg = logits + t * E;
      if (cfg.scoring == MoeScoring::Sigmoid) {
        for (int64_t e = 0; e < E; ++e) s[size_t(e)] = 1.0 / (1.0 + std::exp(-double(lg[e])));
      } else {
        double mx = lg[0], sum = 0;
        for (int64_t e = 1; e < E; ++e) mx = std::max(mx, double(lg[e]));
        for (int64_t e = 0; e < E; ++e) sum += (s[size_t(e)] = std::exp(double(lg[e]) - mx));
        for (auto& v : s) v /= sum;
      }
      std::fill(ds.begin(), ds.end(), 0.0);
      const int32_t* id = ids.data() + t * K;
      const float* g = dw + t * K;
      if (norm) {
        double S = 1e-20, gs = 0;
        for (int64_t k = 0; k < K; ++k) S += s[size_t(id[k])];
        for (int64_t k = 0; k < K; ++k) gs += double(g[k]) * s[size_t(id[k])];
        for (int64_t k = 0; k < K; ++k) ds[size_t(id[k])] += c * (g[k] / S - gs / (S * S));
      } else {
        for (int64_t k = 0; k < K; ++k) ds[size_t(id[k])] += c * g[k];
      }
      float* d = dl + t * E;
      if (cfg.scoring == MoeScoring::Sigmoid) {
        for (int64_t e = 0; e < E; ++e) d[e] += float(ds[size_t(e)] * s[size_t(e)] * (1 - s[size_t(e)]));
      } else {
        double dot = 0;
        for (int64_t e = 0; e < E; ++e) dot += ds[size_t(e)] * s[size_t(e)];
        for (int64_t e = 0; e < E; ++e) d[e] += float(s[size_t(e)] * (ds[size_t(e)] - dot));
      }
    }
  });
}

// xe[i] = x[tok[i]]: dx[tok[i]] += dxe[i].
void record_gather(autograd::Tape* tape, const float* x, const float* xe,
                   const std::vector<int32_t>& tok, int64_t D) {
  tape->record([tape, x, xe, tok, D] {
    const float* g = tape->grad_if(xe);
    if (g == nullptr) return;
    const int64_t n = int64_t(tok.size());
    int64_t T = 0;
    for (int32_t t : tok) T = std::max<int64_t>(T, t + 1);
    float* dx = tape->grad(x, T * D);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < D; ++d) dx[int64_t(tok[size_t(i)]) * D + d] += g[i * D + d];
  });
}

// out[tok[i]] += wts[slot[i]] * ye[i]: dye[i] += w dout, dw += <dout, ye[i]>.
void record_combine(autograd::Tape* tape, const float* ye, const float* out, const float* wts,
                    const std::vector<int32_t>& tok, const std::vector<int32_t>& slot,
                    int64_t D) {
  tape->record([tape, ye, out, wts, tok, slot, D] {
    const float* g = tape->grad_if(out);
    if (g == nullptr) return;
    const int64_t n = int64_t(tok.size());
    int64_t nw = 0;
    for (int32_t s : slot) nw = std::max<int64_t>(nw, s + 1);
    float* dye = tape->grad(ye, n * D);
    float* dw = tape->grad(wts, nw);
    for (int64_t i = 0; i < n; ++i) {
      const float* go = g + int64_t(tok[size_t(i)]) * D;
      const float a = wts[slot[size_t(i)]];
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) {
        dye[i * D + d] += a * go[d];
        dot += double(go[d]) * ye[i * D + d];
      }
      dw[slot[size_t(i)]] += float(dot);
    }
  });
}

void router_logits(Context& ctx, const MoeWeights& w, const float* x, int64_t T,
                   std::vector<float>& logits) {
  logits.resize(size_t(T * w.gate.out_features()));
  w.gate.forward(ctx, x, logits.data(), T);
}

}  // namespace

namespace {

bool experts_have_bias(const MoeWeights& w) {
  auto biased = [](const SwiGluMlp& m) {
    return m.gate_proj().has_bias() || m.up_proj().has_bias() || m.down_proj().has_bias();
  };
  if (w.has_shared && biased(w.shared_experts)) return true;
  for (const auto& e : w.experts)
    if (biased(e)) return true;
  return false;
}

// g[i] = silu(g[i]) * u[i] for i < n, threaded when large (as SwiGluMlp::forward).
void swiglu_inplace(Context& ctx, float* g, const float* u, int64_t n) {
  if (n < (1 << 15)) {
    kernels::swiglu(g, u, g, n);
  } else {
    ctx.pool.parallel_for(n, 1 << 13, [&](int64_t b, int64_t e, int) {
      kernels::swiglu(g + b, u + b, g + b, e - b);
    });
  }
}

// Inference: every used expert's gate and up products (and the shared experts') in one
// kernels::matmul_batch, one SwiGLU pass, then every down product in a second batch. The
// combine adds shared + routed outputs in the order of the expert-by-expert loop (experts
// ascending, tokens ascending), so results match it up to the SwiGLU kernel's rounding.
void moe_forward_infer(Context& ctx, const MoeConfig& cfg, const MoeWeights& w, const float* x,
                       int64_t T, float* out, int64_t* expert_counts, MoeRouting* routing,
                       MoeScratch& sc) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t D = w.gate.in_features();
  const int64_t F = w.experts.empty() ? 0 : w.experts[0].ffn_dim();
  sc.logits.resize(size_t(T * E));
  w.gate.forward(ctx, x, sc.logits.data(), T);
  MoeRouting& r = routing ? *routing : sc.routing;
  moe_route(cfg, sc.logits.data(), w.selection_bias(), T, r);

  // Bucket the T*K (token, slot) pairs by expert: a stable counting sort (tokens ascending
  // within each expert). order[i] = t*K + k.
  sc.offsets.assign(size_t(E + 1), 0);
  for (int64_t i = 0; i < T * K; ++i) ++sc.offsets[size_t(r.experts[size_t(i)]) + 1];
  for (int64_t e = 0; e < E; ++e) {
    R1_CHECK(w.experts[size_t(e)].ffn_dim() == F, "MoE experts of different widths");
    if (expert_counts) expert_counts[e] += sc.offsets[size_t(e) + 1];
    sc.offsets[size_t(e) + 1] += sc.offsets[size_t(e)];
  }
  sc.order.resize(size_t(T * K));
  {
    // offsets[e] is advanced while filling, then restored by a shift.
    for (int64_t i = 0; i < T * K; ++i) {
      const int32_t e = r.experts[size_t(i)];
      sc.order[size_t(sc.offsets[size_t(e)]++)] = int32_t(i);
    }
    for (int64_t e = E; e > 0; --e) sc.offsets[size_t(e)] = sc.offsets[size_t(e) - 1];
    sc.offsets[0] = 0;
  }
  const int64_t n_rows = T * K;
  sc.xe.resize(size_t(n_rows * D));
  sc.gu.resize(size_t(2 * n_rows * F));
  sc.ye.resize(size_t(n_rows * D));
  for (int64_t i = 0; i < n_rows; ++i)
    std::memcpy(sc.xe.data() + i * D, x + int64_t(sc.order[size_t(i)] / K) * D,
                size_t(D) * sizeof(float));
  float* g = sc.gu.data();           // [n_rows, F]
  float* u = g + n_rows * F;         // [n_rows, F]
  const int64_t Fs = w.has_shared ? w.shared_experts.ffn_dim() : 0;
  sc.shared.resize(size_t(2 * T * Fs));
  float* sg = sc.shared.data();      // [T, Fs]
  float* su = sg + T * Fs;           // [T, Fs]

  thread_local std::vector<kernels::MatmulJob> jobs;
  jobs.clear();
  if (w.has_shared) {
    jobs.push_back({w.shared_experts.gate_proj().view(), x, sg, T});
    jobs.push_back({w.shared_experts.up_proj().view(), x, su, T});
  }
  for (int64_t e = 0; e < E; ++e) {
    const int64_t o = sc.offsets[size_t(e)], n = sc.offsets[size_t(e) + 1] - o;
    if (n == 0) continue;
    const SwiGluMlp& ex = w.experts[size_t(e)];
    jobs.push_back({ex.gate_proj().view(), sc.xe.data() + o * D, g + o * F, n});
    jobs.push_back({ex.up_proj().view(), sc.xe.data() + o * D, u + o * F, n});
  }
  kernels::matmul_batch(jobs, ctx.pool);
  if (w.has_shared) swiglu_inplace(ctx, sg, su, T * Fs);
  swiglu_inplace(ctx, g, u, n_rows * F);

  jobs.clear();
  if (w.has_shared) jobs.push_back({w.shared_experts.down_proj().view(), sg, out, T});
  for (int64_t e = 0; e < E; ++e) {
    const int64_t o = sc.offsets[size_t(e)], n = sc.offsets[size_t(e) + 1] - o;
    if (n == 0) continue;
    jobs.push_back({w.experts[size_t(e)].down_proj().view(), g + o * F, sc.ye.data() + o * D, n});
  }
  kernels::matmul_batch(jobs, ctx.pool);
  if (!w.has_shared) std::memset(out, 0, size_t(T * D) * sizeof(float));
  for (int64_t i = 0; i < n_rows; ++i) {
    const int32_t slot = sc.order[size_t(i)];
    float* o = out + int64_t(slot / K) * D;
    const float a = r.weights[size_t(slot)];
    const float* y = sc.ye.data() + i * D;
    for (int64_t d = 0; d < D; ++d) o[d] += a * y[d];
  }
}

}  // namespace

void moe_forward(Context& ctx, const MoeConfig& cfg, const MoeWeights& w, const float* x,
                 int64_t T, float* out, int64_t* expert_counts, MoeRouting* routing,
                 MoeScratch* scratch) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t D = w.gate.in_features();
  R1_CHECK(int64_t(w.experts.size()) == E && w.gate.out_features() == E,
           "MoE layer has {} experts and a router of {} rows; config says {}", w.experts.size(),
           w.gate.out_features(), E);
  autograd::Tape* tape = ctx.tape;
  if (tape == nullptr && !experts_have_bias(w)) {
    MoeScratch local;
    moe_forward_infer(ctx, cfg, w, x, T, out, expert_counts, routing,
                      scratch != nullptr && T <= kMoeScratchMaxTokens ? *scratch : local);
    return;
  }
  std::vector<float> logits_local;
  float* logits = tape ? tape->alloc(T * E) : (logits_local.resize(size_t(T * E)), logits_local.data());
  w.gate.forward(ctx, x, logits, T);
  MoeRouting local;
  MoeRouting& r = routing ? *routing : local;
  moe_route(cfg, logits, w.selection_bias(), T, r);
  // Training: the combine weights live in a tape buffer whose gradient flows back to the router
  // logits of the selected experts only (the selection itself is not differentiable).
  float* wts = r.weights.data();
  if (tape != nullptr) {
    wts = tape->alloc(T * K);
    std::copy(r.weights.begin(), r.weights.end(), wts);
    record_moe_router(ctx, cfg, logits, r.experts, wts, T);
  }

  // Shared experts see every token; their output initialises out (routed outputs are added in
  // place: d out flows unchanged to both).
  if (w.has_shared) {
    std::vector<float> shared_scratch(static_cast<size_t>(w.shared_experts.scratch_floats(T)));
    w.shared_experts.forward(ctx, x, out, T, shared_scratch.data());
  } else {
    std::memset(out, 0, size_t(T * D) * sizeof(float));
  }

  // Bucket (token, slot) pairs by expert, then one batched pass per used expert.
  std::vector<std::vector<int32_t>> tok(static_cast<size_t>(E));
  std::vector<std::vector<float>> wt(static_cast<size_t>(E));
  std::vector<std::vector<int32_t>> slot(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = r.experts[size_t(t * K + k)];
      tok[size_t(e)].push_back(int32_t(t));
      wt[size_t(e)].push_back(r.weights[size_t(t * K + k)]);
      slot[size_t(e)].push_back(int32_t(t * K + k));
    }
  std::vector<float> xin, yout, mlp_scratch;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = int64_t(tok[size_t(e)].size());
    if (expert_counts) expert_counts[e] += n;
    if (n == 0) continue;
    const SwiGluMlp& ex = w.experts[size_t(e)];
    xin.resize(size_t(n * D));  // gathered x rows [n, D]
    yout.resize(size_t(n * D));
    mlp_scratch.resize(size_t(ex.scratch_floats(n)));
    float* xe = tape ? tape->alloc(n * D) : xin.data();
    float* ye = tape ? tape->alloc(n * D) : yout.data();
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(xe + i * D, x + int64_t(tok[size_t(e)][size_t(i)]) * D,
                  size_t(D) * sizeof(float));
    if (tape != nullptr) record_gather(tape, x, xe, tok[size_t(e)], D);
    ex.forward(ctx, xe, ye, n, mlp_scratch.data());
    if (tape != nullptr) record_combine(tape, ye, out, wts, tok[size_t(e)], slot[size_t(e)], D);
    for (int64_t i = 0; i < n; ++i) {
      float* o = out + int64_t(tok[size_t(e)][size_t(i)]) * D;
      const float a = wt[size_t(e)][size_t(i)];
      const float* y = ye + i * D;
      for (int64_t d = 0; d < D; ++d) o[d] += a * y[d];
    }
  }
}

void moe_forward_ref(Context& ctx, const MoeConfig& cfg, const MoeWeights& w, const float* x,
                     int64_t T, float* out) {
  const int64_t K = cfg.num_experts_per_tok, D = w.gate.in_features();
  std::vector<float> logits;
  router_logits(ctx, w, x, T, logits);
  MoeRouting r;
  moe_route(cfg, logits.data(), w.selection_bias(), T, r);
  std::vector<float> y(static_cast<size_t>(D)), scratch;
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * D;
    if (w.has_shared) {
      scratch.resize(size_t(w.shared_experts.scratch_floats(1)));
      w.shared_experts.forward(ctx, x + t * D, o, 1, scratch.data());
    } else {
      std::memset(o, 0, size_t(D) * sizeof(float));
    }
    for (int64_t k = 0; k < K; ++k) {
      const SwiGluMlp& ex = w.experts[size_t(r.experts[size_t(t * K + k)])];
      scratch.resize(size_t(ex.scratch_floats(1)));
      ex.forward(ctx, x + t * D, y.data(), 1, scratch.data());
      for (int64_t d = 0; d < D; ++d) o[d] += r.weights[size_t(t * K + k)] * y[size_t(d)];
    }
  }
}

}  // namespace r1::nn

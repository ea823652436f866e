// DeepSeek-V3 loading (HF names) and the top-to-bottom forward over nn/ blocks.
#include "models/deepseek_v3/model.h"
#include "quant/dequantize.h"

#include "nn/grad.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kernels/ops.h"
#include "models/model_info.h"
#include "models/rows.h"

namespace r1::models::deepseek_v3 {

// ---------------------------------------------------------------------------------------------
// Session

void DeepseekV3Session::truncate(int64_t n) {
  R1_CHECK(n >= 0 && n <= n_past_, "truncate({}) with {} cached positions", n, n_past_);
  n_past_ = n;  // rows past n are overwritten by the next forward
  mtp_n_past_ = std::min(mtp_n_past_, n);
}

void DeepseekV3Session::reset_expert_counts() {
  for (auto& v : expert_counts_) std::fill(v.begin(), v.end(), 0);
}

int64_t DeepseekV3Session::kv_bytes_per_token() const {
  int64_t b = 0;
  for (const auto& c : caches_) b += c.row * int64_t(sizeof(float));
  return b;
}

// ---------------------------------------------------------------------------------------------
// Loading

namespace {

// kv_b_proj [H*(Dn+Dv), L] (per head W_UK_h [Dn, L] then W_UV_h [Dv, L]) of a float dtype as
// w_uk [H, L, Dn] (W_UK_h transposed) and w_uv [H, Dv, L], same dtype, element by element.
void split_kv_b(const Tensor& w, int64_t H, int64_t L, int64_t Dn, int64_t Dv, Tensor& w_uk,
                Tensor& w_uv) {
  const size_t e = size_t(dtype_bytes(w.dtype(), 1));
  w_uk = Tensor::zeros(w.dtype(), {H, L, Dn});
  w_uv = Tensor::zeros(w.dtype(), {H, Dv, L});
  const uint8_t* src = w.bytes();
  uint8_t* uk = w_uk.data<uint8_t>();
  uint8_t* uv = w_uv.data<uint8_t>();
  for (int64_t h = 0; h < H; ++h) {
    const uint8_t* wh = src + size_t(h * (Dn + Dv) * L) * e;
    for (int64_t j = 0; j < Dn; ++j)
      for (int64_t l = 0; l < L; ++l)
        std::memcpy(uk + size_t((h * L + l) * Dn + j) * e, wh + size_t(j * L + l) * e, e);
    std::memcpy(uv + size_t(h * Dv * L) * e, wh + size_t(Dn * L) * e, size_t(Dv * L) * e);
  }
}

class Loader {
 public:
  Loader(const Config& c, const TensorSource& src, const LoadOptions& opts)
      : c_(c), src_(src), opts_(opts) {}

  Result<Tensor> tensor(const std::string& name, const std::vector<int64_t>& shape) {
    return src_.get(name, shape);
  }

  // A projection weight; FP8 stays FP8 with its scales unless dequantisation is requested or the
  // block size is not the 128x128 that kernels::weight_view assumes.
  Result<nn::Linear> linear(const std::string& name, const std::vector<int64_t>& shape,
                            Tensor* f32_copy = nullptr) {
    R1_ASSIGN_OR_RETURN(w, src_.get(name, shape));
    if (w.dtype() != DType::F8_E4M3) {
      if (f32_copy) *f32_copy = w.dtype() == DType::F32 ? w : quant::to_f32(w);
      return nn::Linear(w);
    }
    R1_ASSIGN_OR_RETURN(s, src_.scale_inv(name));
    const int64_t bn = c_.fp8_block_n, bk = c_.fp8_block_k;
    if (s.dtype() != DType::F32 || s.ndim() != 2 || s.dim(0) != (w.dim(0) + bn - 1) / bn ||
        s.dim(1) != (w.dim(1) + bk - 1) / bk)
      return make_error("{}: tensor {}_scale_inv has shape {}, expected [{}, {}] F32", src_.label(),
                        name, s.shape_str(), (w.dim(0) + bn - 1) / bn, (w.dim(1) + bk - 1) / bk);
    if (f32_copy || opts_.dequantize_fp8 || bn != 128 || bk != 128) {
      Tensor f = nn::weight_to_f32(w, &s, bn, bk);
      if (f32_copy) *f32_copy = f;
      if (opts_.dequantize_fp8 || bn != 128 || bk != 128) return nn::Linear(f);
    }
    return nn::Linear(w, {}, s);
  }

  Result<nn::RMSNorm> norm(const std::string& name, int64_t dim) {
    R1_ASSIGN_OR_RETURN(w, src_.get(name, {dim}));
    return nn::RMSNorm(w, float(c_.rms_norm_eps));
  }

  Result<nn::SwiGluMlp> mlp(const std::string& pre, int64_t F) {
    const int64_t D = c_.hidden_size;
    R1_ASSIGN_OR_RETURN(g, linear(pre + "gate_proj.weight", {F, D}));
    R1_ASSIGN_OR_RETURN(u, linear(pre + "up_proj.weight", {F, D}));
    R1_ASSIGN_OR_RETURN(d, linear(pre + "down_proj.weight", {D, F}));
    return nn::SwiGluMlp(std::move(g), std::move(u), std::move(d));
  }

  Result<Block> block(int64_t l) {
    const Config& c = c_;
    const int64_t D = c.hidden_size, H = c.num_attention_heads, L = c.kv_lora_rank;
    const int64_t R = c.qk_rope_head_dim, Dn = c.qk_nope_head_dim, Dv = c.v_head_dim;
    const std::string pre = fmt::format("model.layers.{}.", l);
    const std::string at = pre + "self_attn.";
    Block b;
    R1_ASSIGN_OR_RETURN(in_ln, norm(pre + "input_layernorm.weight", D));
    R1_ASSIGN_OR_RETURN(post_ln, norm(pre + "post_attention_layernorm.weight", D));
    b.input_layernorm = std::move(in_ln);
    b.post_attention_layernorm = std::move(post_ln);
    auto& a = b.attn;
    if (c.q_lora_rank > 0) {
      R1_ASSIGN_OR_RETURN(qa, linear(at + "q_a_proj.weight", {c.q_lora_rank, D}));
      R1_ASSIGN_OR_RETURN(qn, norm(at + "q_a_layernorm.weight", c.q_lora_rank));
      R1_ASSIGN_OR_RETURN(qb, linear(at + "q_b_proj.weight", {H * (Dn + R), c.q_lora_rank}));
      a.q_a_proj = std::move(qa);
      a.q_a_layernorm = std::move(qn);
      a.q_b_proj = std::move(qb);
    } else {
      R1_ASSIGN_OR_RETURN(q, linear(at + "q_proj.weight", {H * (Dn + R), D}));
      a.q_proj = std::move(q);
    }
    R1_ASSIGN_OR_RETURN(kva, linear(at + "kv_a_proj_with_mqa.weight", {L + R, D}));
    R1_ASSIGN_OR_RETURN(kvn, norm(at + "kv_a_layernorm.weight", L));
    if (src_.has(at + "k_b_proj.weight") && src_.has(at + "v_b_proj.weight")) {
      // Per-head absorbed weights in their stored dtype (llama.cpp GGUF attn_k_b / attn_v_b):
      // decode reads them directly, the naive path decompresses from them (nn/mla.h).
      R1_ASSIGN_OR_RETURN(uk, tensor(at + "k_b_proj.weight", {H, L, Dn}));
      R1_ASSIGN_OR_RETURN(uv, tensor(at + "v_b_proj.weight", {H, Dv, L}));
      a.w_uk = std::move(uk);
      a.w_uv = std::move(uv);
    } else {
      R1_ASSIGN_OR_RETURN(w, src_.get(at + "kv_b_proj.weight", {H * (Dn + Dv), L}));
      if (w.dtype() == DType::F32) {
        // Both paths read kv_b_proj itself: an F32 weight may be a trainable master copy (TrainLM,
        // GrpoPolicy), and a copy made here would keep decoding from the weights of load time.
        a.kv_b_proj = nn::Linear(w);
      } else if (w.dtype() == DType::BF16 || w.dtype() == DType::F16) {
        // Inference-only weights: the absorbed path's per-head copies in the checkpoint's own
        // dtype (half the bytes of an f32 copy; element copies, exact); naive uses kv_b_proj.
        split_kv_b(w, H, L, Dn, Dv, a.w_uk, a.w_uv);
        a.kv_b_proj = nn::Linear(w);
      } else {
        // FP8 / quantised (inference only): per-head f32 copies of the dequantised weight.
        Tensor f32;
        R1_ASSIGN_OR_RETURN(kvb, linear(at + "kv_b_proj.weight", {H * (Dn + Dv), L}, &f32));
        split_kv_b(f32, H, L, Dn, Dv, a.w_uk, a.w_uv);
        a.kv_b_proj = std::move(kvb);
      }
    }
    R1_ASSIGN_OR_RETURN(o, linear(at + "o_proj.weight", {D, H * Dv}));
    a.kv_a_proj_with_mqa = std::move(kva);
    a.kv_a_layernorm = std::move(kvn);
    a.o_proj = std::move(o);
    b.is_moe = c.is_moe_layer(l);
    if (!b.is_moe) {
      R1_ASSIGN_OR_RETURN(m, mlp(pre + "mlp.", c.intermediate_size));
      b.mlp = std::move(m);
      return b;
    }
    const int64_t E = c.n_routed_experts;
    R1_ASSIGN_OR_RETURN(gate, tensor(pre + "mlp.gate.weight", {E, D}));
    b.moe.gate = nn::Linear(gate);
    if (c.topk_method == "noaux_tc") {
      R1_ASSIGN_OR_RETURN(bias, tensor(pre + "mlp.gate.e_score_correction_bias", {E}));
      // A view when F32 (a trainable model's parameter, which update_router_bias changes).
      b.moe.e_score_correction_bias = bias.dtype() == DType::F32 ? bias : bias.to_f32();
    }
    b.moe.experts.reserve(size_t(E));
    for (int64_t e = 0; e < E; ++e) {
      R1_ASSIGN_OR_RETURN(m, mlp(fmt::format("{}mlp.experts.{}.", pre, e),
                                 c.moe_intermediate_size));
      b.moe.experts.push_back(std::move(m));
    }
    if (c.n_shared_experts > 0) {
      R1_ASSIGN_OR_RETURN(m, mlp(pre + "mlp.shared_experts.",
                                 c.moe_intermediate_size * c.n_shared_experts));
      b.moe.shared_experts = std::move(m);
      b.moe.has_shared = true;
    }
    return b;
  }

 private:
  const Config& c_;
  const TensorSource& src_;
  const LoadOptions& opts_;
};

}  // namespace

Result<std::unique_ptr<DeepseekV3>> DeepseekV3::load(const Config& cfg, const TensorSource& src,
                                                     const LoadOptions& opts, ModelInfo info,
                                                     ThreadPool& pool) {
  const auto plan = tensor_plan(cfg);
  R1_TRY(check_shapes(
      plan,
      [&](const std::string& name, std::vector<int64_t>& shape) {
        // A source offering the per-head absorbed weights (GGUF) would build an f32 kv_b_proj
        // just to show its shape: take [H*(Dn+Dv), L] from k_b_proj [H, L, Dn] and v_b_proj
        // [H, Dv, L] instead (block() checks their full shapes).
        const std::string kvb = "kv_b_proj.weight";
        if (name.size() > kvb.size() && name.ends_with(kvb)) {
          const std::string at = name.substr(0, name.size() - kvb.size());
          if (src.has(at + "k_b_proj.weight") && src.has(at + "v_b_proj.weight")) {
            auto k = src.get(at + "k_b_proj.weight");
            auto v = src.get(at + "v_b_proj.weight");
            if (!k.ok() || !v.ok() || k->ndim() != 3 || v->ndim() != 3) return false;
            shape = {k->dim(0) * (k->dim(2) + v->dim(1)), k->dim(1)};
            return true;
          }
        }
        if (!src.has(name)) return false;
        auto t = src.get(name);
        if (!t.ok()) return false;
        shape.assign(t->shape().begin(), t->shape().begin() + t->ndim());
        return true;
      },
      src.label()));

  std::unique_ptr<DeepseekV3> m(new DeepseekV3(pool));
  m->cfg_ = cfg;
  const int64_t D = cfg.hidden_size, V = cfg.vocab_size;
  m->rope_ = kernels::rope_table(cfg.rope_theta, cfg.qk_rope_head_dim, cfg.rope_scaling);
  Loader ld(cfg, src, opts);
  R1_ASSIGN_OR_RETURN(emb, ld.tensor("model.embed_tokens.weight", {V, D}));
  m->embed_ = nn::Embedding(emb);
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    R1_ASSIGN_OR_RETURN(b, ld.block(l));
    m->layers_.push_back(std::move(b));
  }
  R1_ASSIGN_OR_RETURN(fn, ld.norm("model.norm.weight", D));
  m->norm_ = std::move(fn);
  if (src.has("lm_head.weight")) {
    R1_ASSIGN_OR_RETURN(head, ld.linear("lm_head.weight", {V, D}));
    m->lm_head_ = std::move(head);
  } else {
    m->lm_head_ = nn::Linear(emb);  // tie_word_embeddings (checked by the plan)
  }
  for (int64_t k = 0; k < cfg.num_nextn_predict_layers; ++k) {
    const int64_t l = cfg.num_hidden_layers + k;
    const std::string pre = fmt::format("model.layers.{}.", l);
    MtpModule mt;
    R1_ASSIGN_OR_RETURN(en, ld.norm(pre + "enorm.weight", D));
    R1_ASSIGN_OR_RETURN(hn, ld.norm(pre + "hnorm.weight", D));
    R1_ASSIGN_OR_RETURN(eh, ld.linear(pre + "eh_proj.weight", {D, 2 * D}));
    R1_ASSIGN_OR_RETURN(sn, ld.norm(pre + "shared_head.norm.weight", D));
    R1_ASSIGN_OR_RETURN(blk, ld.block(l));
    mt.enorm = std::move(en);
    mt.hnorm = std::move(hn);
    mt.eh_proj = std::move(eh);
    mt.shared_head_norm = std::move(sn);
    mt.block = std::move(blk);
    if (src.has(pre + "embed_tokens.weight")) {
      R1_ASSIGN_OR_RETURN(e, ld.tensor(pre + "embed_tokens.weight", {V, D}));
      mt.embed = nn::Embedding(e);
      mt.own_embed = true;
    }
    if (src.has(pre + "shared_head.head.weight")) {
      R1_ASSIGN_OR_RETURN(h, ld.linear(pre + "shared_head.head.weight", {V, D}));
      mt.head = std::move(h);
      mt.own_head = true;
    }
    m->mtp_.push_back(std::move(mt));
  }

  // Facts for the engine: parameters (MTP included), bytes streamed per decoded token (one
  // embedding row, every dense weight, K of E routed experts; MTP excluded: unused by decode).
  const ParamCount pc = count_params(cfg, plan);
  info.arch = "deepseek_v3";
  info.vocab_size = V;
  info.max_position_embeddings = cfg.max_position_embeddings;
  info.n_params = pc.total;
  int64_t bytes = int64_t(emb.row_bytes()) + m->norm_.dim() * 4 + m->lm_head_.weight_bytes();
  for (const auto& b : m->layers_) {
    const auto& a = b.attn;
    bytes += a.q_proj.weight_bytes() + a.q_a_proj.weight_bytes() + a.q_b_proj.weight_bytes() +
             a.kv_a_proj_with_mqa.weight_bytes() + (a.w_uk.defined() ? int64_t(a.w_uk.nbytes() + a.w_uv.nbytes())
                                : a.kv_b_proj.weight_bytes()) +
             a.o_proj.weight_bytes();
    if (!b.is_moe) {
      bytes += b.mlp.weight_bytes();
    } else {
      bytes += b.moe.gate.weight_bytes();
      if (b.moe.has_shared) bytes += b.moe.shared_experts.weight_bytes();
      if (!b.moe.experts.empty())
        bytes += b.moe.experts[0].weight_bytes() * cfg.num_experts_per_tok;
    }
  }
  info.weight_bytes_per_token = bytes;
  if (info.eos_token_ids.empty()) info.eos_token_ids = cfg.eos_token_ids;
  if (info.bos_token_id < 0) info.bos_token_id = cfg.bos_token_id;
  m->info_ = std::move(info);
  m->total_counts_.assign(size_t(cfg.num_hidden_layers), {});
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
    if (m->layers_[size_t(l)].is_moe) m->total_counts_[size_t(l)].assign(size_t(cfg.n_routed_experts), 0);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Forward

std::unique_ptr<Session> DeepseekV3::new_session(int64_t n_ctx) {
  if (n_ctx <= 0) n_ctx = cfg_.max_position_embeddings > 0 ? cfg_.max_position_embeddings : 4096;
  auto s = std::make_unique<DeepseekV3Session>();
  s->n_ctx_ = n_ctx;
  s->caches_.resize(layers_.size());
  for (auto& c : s->caches_) c.init(n_ctx, cfg_.mla().cache_row());
  if (!mtp_.empty()) s->mtp_cache_.init(n_ctx, cfg_.mla().cache_row());
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s->expert_counts_ = total_counts_;
  }
  s->reset_expert_counts();
  s->routing_.assign(layers_.size(), {});
  return s;
}

nn::MlaPath DeepseekV3::mla_path(const Block& b, int64_t T, int64_t p0) const {
  if (mla_mode_ == MlaMode::Naive) return nn::MlaPath::Naive;
  if (mla_mode_ == MlaMode::Absorbed) return nn::MlaPath::Absorbed;
  // Auto: naive (cheaper attention over Dn+R dims) for prefill while the decompressed K/V of all
  // p0+T positions stays under kNaiveKvBudgetBytes; absorbed for decode and for long contexts,
  // where decompressing H*(Dn+R+Dv) floats per cached position would cost too much memory.
  constexpr int64_t kNaiveKvBudgetBytes = int64_t(512) << 20;
  const auto mc = cfg_.mla();
  const int64_t naive_bytes =
      (p0 + T) * mc.n_head * (mc.qk_head_dim() + mc.v_head_dim + mc.qk_nope_head_dim + mc.v_head_dim) *
      int64_t(sizeof(float));
  // Without kv_b_proj (GGUF per-head weights) naive first decompresses an f32 kv_b_proj
  // (H*(Dn+Dv)*L conversions): worth it for a prefill, not for a few verified draft tokens.
  const int64_t min_naive_t = b.attn.kv_b_proj.weight().defined() ? 2 : 32;
  return T >= min_naive_t && naive_bytes <= kNaiveKvBudgetBytes ? nn::MlaPath::Naive
                                                                 : nn::MlaPath::Absorbed;
}

float* DeepseekV3::block_forward(nn::Context& ctx, const Block& b, float* h, int64_t n,
                                 const int32_t* positions, std::span<nn::MlaSpan> spans,
                                 int64_t* counts, nn::MoeRouting* routing, float* xa_scratch,
                                 float* xb_scratch, ForwardScratch* fs) {
  const int64_t D = cfg_.hidden_size;
  // Each sequence attends by its own path (training: always naive).
  for (nn::MlaSpan& sp : spans)
    sp.path = ctx.tape != nullptr ? nn::MlaPath::Naive : mla_path(b, sp.T, sp.p0);
  // Inference reuses the two scratch buffers and updates h in place; training takes fresh tape
  // buffers (nn::activation_buffer / nn::residual_add).
  float* xa = nn::activation_buffer(ctx, n * D, xa_scratch);
  float* xb = nn::activation_buffer(ctx, n * D, xb_scratch);
  b.input_layernorm.forward(ctx, h, xa, n);
  nn::mla_forward(ctx, cfg_.mla(), b.attn, rope_, xa, n, positions, spans, xb,
                  fs ? &fs->mla : nullptr);
  h = nn::residual_add(ctx, h, xb, n * D);
  xa = nn::activation_buffer(ctx, n * D, xa_scratch);
  xb = nn::activation_buffer(ctx, n * D, xb_scratch);
  b.post_attention_layernorm.forward(ctx, h, xa, n);
  if (!b.is_moe) {
    std::vector<float> local;
    std::vector<float>& scratch = fs ? fs->mlp : local;
    scratch.resize(size_t(b.mlp.scratch_floats(n)));
    b.mlp.forward(ctx, xa, xb, n, scratch.data());
  } else {
    nn::moe_forward(ctx, cfg_.moe(), b.moe, xa, n, xb, counts, routing, fs ? &fs->moe : nullptr);
  }
  return nn::residual_add(ctx, h, xb, n * D);
}

float* DeepseekV3::forward(const Batch& batch, ForwardContext& fc) {
  return forward_impl(batch, fc, nullptr, nullptr);
}

float* DeepseekV3::forward_impl(const Batch& batch, ForwardContext& fc, float** h_final,
                                std::shared_ptr<DeepseekV3Session>* stack_out) {
  const std::vector<BatchSpan> spans = split_batch(batch, cfg_.vocab_size);
  const int64_t N = batch.size(), D = cfg_.hidden_size, V = cfg_.vocab_size;
  const int64_t K = cfg_.num_experts_per_tok;
  int64_t n_stacked = 0;  // rows of sequences without a session
  for (const BatchSpan& b : spans) {
    auto* s = dynamic_cast<DeepseekV3Session*>(b.session);
    R1_CHECK(b.session == nullptr || (s != nullptr && s->caches_.size() == layers_.size()),
             "session of sequence {} was not created by this deepseek_v3 model", b.seq);
    if (b.session == nullptr) n_stacked += b.T;
  }
  autograd::Tape* tape = fc.tape;
  if (tape != nullptr) {
    for (const auto& b : layers_)
      R1_CHECK(!b.attn.w_uk.defined(),
               "training needs F32 weights with kv_b_proj as the only copy of W_UK/W_UV; this "
               "model has per-head absorbed weights (GGUF or a non-F32 checkpoint), which would "
               "go stale");
  }
  // Sequences without a session (training micro-batches) stack their latents in one fresh
  // cache, row0 of the stack = their first row's index among them; it lives on the tape.
  std::shared_ptr<DeepseekV3Session> stack;
  if (n_stacked > 0) {
    stack.reset(static_cast<DeepseekV3Session*>(new_session(n_stacked).release()));
    if (tape != nullptr) tape->keep_alive(stack);
  }
  if (stack_out != nullptr) *stack_out = stack;
  std::vector<int64_t> stack_row0(spans.size(), 0);
  for (size_t i = 0, off = 0; i < spans.size(); ++i) {
    if (spans[i].session != nullptr) continue;
    stack_row0[i] = int64_t(off);
    off += size_t(spans[i].T);
  }

  // Inference buffers: the model's workspace for small batches (decode, verification: nothing
  // allocated per step once grown), this call's for large ones (prefill: freed on return) or
  // when another thread holds the workspace; training takes tape buffers.
  std::unique_lock<std::mutex> lock(ws_mu_, std::defer_lock);
  if (N <= ForwardScratch::kScratchMaxTokens) lock.try_lock();
  ForwardScratch local;
  ForwardScratch& fs = lock.owns_lock() ? ws_ : local;
  if (tape == nullptr) {
    fs.h.resize(size_t(N * D));
    fs.xa.resize(size_t(N * D));
    fs.xb.resize(size_t(N * D));
  }
  std::vector<nn::MlaSpan> mla(spans.size());
  nn::Context ctx{pool_, tape};
  float* h = nn::activation_buffer(ctx, N * D, fs.h.data());  // [N, D] residual streams
  embed_.forward(ctx, batch.tokens.data(), h, N);
  auto& counts = fs.counts;
  counts.resize(layers_.size());
  nn::MoeRouting& routing = fs.routing;
  for (size_t l = 0; l < layers_.size(); ++l) {
    for (size_t i = 0; i < spans.size(); ++i) {
      auto* s = static_cast<DeepseekV3Session*>(spans[i].session);
      mla[i].row0 = spans[i].row0;
      mla[i].T = spans[i].T;
      mla[i].p0 = spans[i].p0;
      mla[i].cache = s != nullptr ? &s->caches_[l] : &stack->caches_[l];
      mla[i].cache_row0 = s != nullptr ? 0 : stack_row0[i];
    }
    counts[l].assign(size_t(cfg_.n_routed_experts), 0);
    h = block_forward(ctx, layers_[l], h, N, batch.pos.data(), mla, counts[l].data(), &routing,
                      fs.xa.data(), fs.xb.data(), tape == nullptr ? &fs : nullptr);
    if (!layers_[l].is_moe) continue;
    // Statistics per session from its own rows' K experts (as separate forwards count them).
    std::lock_guard<std::mutex> stats(stats_mu_);
    for (size_t e = 0; e < counts[l].size(); ++e) total_counts_[l][e] += counts[l][e];
    for (const BatchSpan& b : spans) {
      auto* s = static_cast<DeepseekV3Session*>(b.session);
      if (s == nullptr) continue;
      const int32_t* ids = routing.experts.data() + b.row0 * K;
      for (int64_t k = 0; k < b.T * K; ++k) ++s->expert_counts_[l][size_t(ids[k])];
      if (s->record_routing_) s->routing_[l].insert(s->routing_[l].end(), ids, ids + b.T * K);
    }
  }
  if (fc.expert_counts != nullptr) {
    fc.expert_counts->resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      auto& c = (*fc.expert_counts)[l];
      c.resize(counts[l].size(), 0);
      for (size_t e = 0; e < c.size(); ++e) c[e] += counts[l][e];
    }
  }
  for (const BatchSpan& b : spans)
    if (b.session != nullptr) static_cast<DeepseekV3Session*>(b.session)->n_past_ += b.T;
  if (h_final != nullptr) *h_final = h;
  if (fc.hidden != nullptr) gather_rows(ctx, batch, Batch::kHidden, h, D, fc.hidden, nullptr);
  const int64_t n_logits = batch.count(Batch::kLogits);
  if (n_logits == 0 || (fc.logits == nullptr && tape == nullptr)) return nullptr;
  // The final norm and head run over the flagged rows only (a prompt's last row).
  float* hl = gather_rows(ctx, batch, Batch::kLogits, h, D, nullptr, fs.xb.data());
  float* xn = nn::activation_buffer(ctx, n_logits * D, fs.xa.data());
  norm_.forward(ctx, hl, xn, n_logits);
  float* logits = fc.logits != nullptr ? fc.logits : tape->alloc(n_logits * V);
  lm_head_.forward(ctx, xn, logits, n_logits);
  return logits;
}

void DeepseekV3::forward_hidden(std::span<const int32_t> tokens, DeepseekV3Session& s,
                                float* logits, bool all_logits, float* hidden) {
  Batch b;
  const uint8_t flags = uint8_t((logits != nullptr ? Batch::kLogits : 0) |
                                (hidden != nullptr ? Batch::kHidden : 0));
  b.add_tokens(b.add_sequence(&s), tokens, s.n_past(), flags);
  if (!all_logits)  // hidden for every row, logits for the last only
    for (size_t i = 0; i + 1 < b.out.size(); ++i) b.out[i] &= uint8_t(~Batch::kLogits);
  ForwardContext fc;
  fc.logits = logits;
  fc.hidden = hidden;
  forward(b, fc);
}

float* DeepseekV3::forward_train(std::span<const int32_t> tokens, autograd::Tape& tape,
                                 float** mtp_logits,
                                 std::vector<std::vector<int64_t>>* expert_counts) {
  return forward_train_batch(tokens, 1, tape, mtp_logits, expert_counts);
}

float* DeepseekV3::forward_train_batch(std::span<const int32_t> tokens, int64_t B,
                                       autograd::Tape& tape, float** mtp_logits,
                                       std::vector<std::vector<int64_t>>* expert_counts) {
  const int64_t N = int64_t(tokens.size()), V = cfg_.vocab_size, D = cfg_.hidden_size;
  R1_CHECK(B >= 1 && N % B == 0 && N >= B, "{} tokens do not split into {} sequences", N, B);
  const int64_t T = N / B;  // tokens per sequence
  for (const auto& m : mtp_)
    R1_CHECK(!m.block.attn.w_uk.defined(),
             "training needs F32 weights with kv_b_proj as the only copy of W_UK/W_UV");
  const Batch batch = Batch::training(tokens, B);
  ForwardContext fc;
  fc.tape = &tape;
  fc.expert_counts = expert_counts;
  float* h = nullptr;
  std::shared_ptr<DeepseekV3Session> stack;
  float* logits = forward_impl(batch, fc, &h, &stack);
  if (mtp_logits != nullptr) {
    R1_CHECK(!mtp_.empty() && T >= 2, "MTP training needs an MTP module and 2+ tokens");
    nn::Context ctx{pool_, &tape};
    *mtp_logits = tape.alloc(B * (T - 1) * V);
    // Sequence b's MTP rows pair h[b*T + i] with tokens[b*T + i + 1], i < T-1: gathered into
    // [B*(T-1), D] / [B*(T-1)] (the gather records its backward).
    float* hid = h;
    if (B > 1) {
      hid = tape.alloc(B * (T - 1) * D);
      for (int64_t b = 0; b < B; ++b)
        nn::copy_rows(ctx, h + b * T * D, D, hid + b * (T - 1) * D, D, D, T - 1);
    }
    std::vector<int32_t> next(static_cast<size_t>(B * (T - 1)));
    for (int64_t b = 0; b < B; ++b)
      std::copy(tokens.begin() + b * T + 1, tokens.begin() + (b + 1) * T,
                next.begin() + b * (T - 1));
    mtp_forward_ctx(ctx, hid, next, *stack, *mtp_logits, B);
  }
  return logits;
}

void DeepseekV3::mtp_logits(std::span<const int32_t> tokens, float* out) {
  R1_CHECK(!mtp_.empty(), "this checkpoint has no MTP module (num_nextn_predict_layers = 0)");
  const int64_t N = int64_t(tokens.size()), D = cfg_.hidden_size;
  R1_CHECK(N >= 2, "MTP logits need at least 2 tokens, got {}", N);
  auto sess = new_session(N);
  auto& s = static_cast<DeepseekV3Session&>(*sess);
  std::vector<float> hid(size_t(N * D));
  forward_hidden(tokens, s, nullptr, false, hid.data());
  mtp_forward(hid.data(), tokens.subspan(1), s, out);
}

void DeepseekV3::mtp_forward(const float* hidden, std::span<const int32_t> next_tokens,
                             DeepseekV3Session& s, float* logits) {
  nn::Context ctx{pool_};
  mtp_forward_ctx(ctx, hidden, next_tokens, s, logits);
}

void DeepseekV3::mtp_forward_ctx(nn::Context& ctx, const float* hidden,
                                 std::span<const int32_t> next_tokens, DeepseekV3Session& s,
                                 float* logits, int64_t n_seq) {
  R1_CHECK(!mtp_.empty(), "this checkpoint has no MTP module (num_nextn_predict_layers = 0)");
  const MtpModule& m = mtp_[0];
  const int64_t T = int64_t(next_tokens.size()), D = cfg_.hidden_size;
  const int64_t p0 = s.mtp_n_past_;
  R1_CHECK(T >= 1 && T % n_seq == 0 && (n_seq == 1 || p0 == 0) &&
               p0 + T <= s.mtp_cache_.capacity,
           "MTP positions {}..{} as {} sequences past the context {}", p0, p0 + T - 1, n_seq,
           s.mtp_cache_.capacity);
  // n_seq > 1 (training): n_seq sequences of Ts rows each, stacked in the MTP cache from 0.
  const int64_t Ts = T / n_seq;
  std::vector<nn::MlaSpan> spans(static_cast<size_t>(n_seq));
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t i = 0; i < n_seq; ++i) {
    spans[size_t(i)] = nn::MlaSpan{i * Ts, Ts, n_seq == 1 ? p0 : 0, &s.mtp_cache_, i * Ts,
                                   nn::MlaPath::Naive};
    for (int64_t t = 0; t < Ts; ++t) pos[size_t(i * Ts + t)] = int32_t(spans[size_t(i)].p0 + t);
  }
  // cat [T, 2D] = [enorm(emb(t_{i+1})) | hnorm(h_i)] (V3 report eq. 21; HF eh_proj input order).
  // Buffers come from the tape when training (nn::activation_buffer).
  std::vector<float> ev(size_t(T * D)), hnv(size_t(T * D)), catv(size_t(T * 2 * D)),
      hv(size_t(T * D)), xa(size_t(T * D)), xb(size_t(T * D));
  float* e = nn::activation_buffer(ctx, T * D, ev.data());
  (m.own_embed ? m.embed : embed_).forward(ctx, next_tokens.data(), e, T);
  float* en = ctx.tape != nullptr ? ctx.tape->alloc(T * D) : e;
  m.enorm.forward(ctx, e, en, T);
  float* hn = nn::activation_buffer(ctx, T * D, hnv.data());
  m.hnorm.forward(ctx, hidden, hn, T);
  float* cat = nn::activation_buffer(ctx, T * 2 * D, catv.data());
  nn::copy_rows(ctx, en, D, cat, 2 * D, D, T);
  nn::copy_rows(ctx, hn, D, cat + D, 2 * D, D, T);
  float* h = nn::activation_buffer(ctx, T * D, hv.data());
  m.eh_proj.forward(ctx, cat, h, T);
  ForwardScratch local;
  h = block_forward(ctx, m.block, h, T, pos.data(), spans, nullptr, nullptr, xa.data(), xb.data(),
                    ctx.tape == nullptr ? &local : nullptr);
  s.mtp_n_past_ = p0 + T;
  float* xn = nn::activation_buffer(ctx, T * D, xa.data());
  m.shared_head_norm.forward(ctx, h, xn, T);
  (m.own_head ? m.head : lm_head_).forward(ctx, xn, logits, T);
}

std::vector<std::vector<int64_t>> DeepseekV3::total_expert_counts() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return total_counts_;
}

int64_t DeepseekV3::kv_bytes_per_token_mla() const {
  return cfg_.num_hidden_layers * cfg_.mla().cache_row() * int64_t(sizeof(float));
}

int64_t DeepseekV3::kv_bytes_per_token_mha() const {
  const auto m = cfg_.mla();
  return cfg_.num_hidden_layers * m.n_head * (m.qk_head_dim() + m.v_head_dim) *
         int64_t(sizeof(float));
}

Result<std::unique_ptr<DeepseekV3>> load_hf(const io::HfModelDir& dir, const LoadOptions& opts,
                                            ThreadPool& pool) {
  const std::string label = dir.dir() + "/config.json";
  R1_ASSIGN_OR_RETURN(cfg, parse_config(dir.config(), label));
  R1_ASSIGN_OR_RETURN(info, hf_model_info(dir, cfg.model_type));
  HfTensorSource src(&dir);
  return DeepseekV3::load(cfg, src, opts, std::move(info), pool);
}

}  // namespace r1::models::deepseek_v3

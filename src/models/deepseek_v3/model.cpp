// DeepSeek-V3 loading (HF names) and the top-to-bottom forward over nn/ blocks.
#include "models/deepseek_v3/model.h"
#include "quant/dequantize.h"

#include "nn/grad.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kernels/ops.h"
#include "models/model_info.h"

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

float* DeepseekV3::block_forward(nn::Context& ctx, const Block& b, float* h, int64_t T, int64_t p0,
                                 nn::MlaCache& cache, int64_t* counts,
                                 std::vector<int32_t>* routing, float* xa_scratch,
                                 float* xb_scratch, ForwardScratch* fs, int64_t n_seq) {
  const int64_t D = cfg_.hidden_size;
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
  const nn::MlaPath path = mla_mode_ == MlaMode::Naive      ? nn::MlaPath::Naive
                           : mla_mode_ == MlaMode::Absorbed ? nn::MlaPath::Absorbed
                           : T >= min_naive_t && naive_bytes <= kNaiveKvBudgetBytes
                               ? nn::MlaPath::Naive
                               : nn::MlaPath::Absorbed;
  // Inference reuses the two scratch buffers and updates h in place; training takes fresh tape
  // buffers (nn::activation_buffer / nn::residual_add) and always the naive MLA path.
  float* xa = nn::activation_buffer(ctx, T * D, xa_scratch);
  float* xb = nn::activation_buffer(ctx, T * D, xb_scratch);
  b.input_layernorm.forward(ctx, h, xa, T);
  nn::mla_forward(ctx, cfg_.mla(), b.attn, rope_, xa, T, p0, cache,
                  ctx.tape != nullptr || n_seq > 1 ? nn::MlaPath::Naive : path, xb,
                  fs ? &fs->mla : nullptr, n_seq);
  h = nn::residual_add(ctx, h, xb, T * D);
  xa = nn::activation_buffer(ctx, T * D, xa_scratch);
  xb = nn::activation_buffer(ctx, T * D, xb_scratch);
  b.post_attention_layernorm.forward(ctx, h, xa, T);
  if (!b.is_moe) {
    std::vector<float> local;
    std::vector<float>& scratch = fs ? fs->mlp : local;
    scratch.resize(size_t(b.mlp.scratch_floats(T)));
    b.mlp.forward(ctx, xa, xb, T, scratch.data());
  } else if (routing != nullptr) {
    nn::MoeRouting r;
    nn::moe_forward(ctx, cfg_.moe(), b.moe, xa, T, xb, counts, &r, fs ? &fs->moe : nullptr);
    routing->insert(routing->end(), r.experts.begin(), r.experts.end());
  } else {
    nn::moe_forward(ctx, cfg_.moe(), b.moe, xa, T, xb, counts, nullptr, fs ? &fs->moe : nullptr);
  }
  return nn::residual_add(ctx, h, xb, T * D);
}

void DeepseekV3::forward(std::span<const int32_t> tokens, Session& session, float* logits,
                         bool all_logits) {
  auto* s = dynamic_cast<DeepseekV3Session*>(&session);
  R1_CHECK(s != nullptr, "session was not created by a deepseek_v3 model");
  forward_hidden(tokens, *s, logits, all_logits, nullptr);
}

void DeepseekV3::forward_batch(std::span<const int32_t> tokens,
                               std::span<Session* const> sessions, float* logits) {
  const int64_t B = int64_t(tokens.size());
  R1_CHECK(B == int64_t(sessions.size()), "{} tokens for {} sessions", B, sessions.size());
  if (B == 0) return;
  if (mla_mode_ == MlaMode::Naive) {  // the forced naive path exists per sequence only
    CausalLM::forward_batch(tokens, sessions, logits);
    return;
  }
  std::lock_guard<std::mutex> lock(batch_mu_);
  BatchScratch& bs = batch_;
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size, K = cfg_.num_experts_per_tok;
  bs.sessions.resize(size_t(B));
  bs.pos.resize(size_t(B));
  bs.caches.resize(size_t(B));
  for (int64_t b = 0; b < B; ++b) {
    auto* s = dynamic_cast<DeepseekV3Session*>(sessions[size_t(b)]);
    R1_CHECK(s != nullptr && s->caches_.size() == layers_.size(),
             "session {} was not created by this deepseek_v3 model", b);
    R1_CHECK(s->n_past_ + 1 <= s->n_ctx_, "session {}: {} cached tokens fill its context {}", b,
             s->n_past_, s->n_ctx_);
    R1_CHECK(tokens[size_t(b)] >= 0 && tokens[size_t(b)] < V, "token id {} out of range [0, {})",
             tokens[size_t(b)], V);
    for (int64_t c = 0; c < b; ++c) R1_CHECK(bs.sessions[size_t(c)] != s, "session {} given twice", b);
    bs.sessions[size_t(b)] = s;
    bs.pos[size_t(b)] = int32_t(s->n_past_);
  }
  ForwardScratch& fs = bs.fs;
  fs.h.resize(size_t(B * D));
  fs.xa.resize(size_t(B * D));
  fs.xb.resize(size_t(B * D));
  nn::Context ctx{pool_};
  float* h = fs.h.data();    // [B, D] residual streams, one row per sequence
  float* xa = fs.xa.data();  // [B, D]
  float* xb = fs.xb.data();  // [B, D]
  embed_.forward(ctx, tokens.data(), h, B);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Block& blk = layers_[l];
    for (int64_t b = 0; b < B; ++b) bs.caches[size_t(b)] = &bs.sessions[size_t(b)]->caches_[l];
    blk.input_layernorm.forward(ctx, h, xa, B);
    nn::mla_decode_batch(ctx, cfg_.mla(), blk.attn, rope_, xa, B, bs.pos.data(),
                         bs.caches.data(), xb, fs.mla);
    nn::add_inplace(ctx, h, xb, B * D);
    blk.post_attention_layernorm.forward(ctx, h, xa, B);
    if (!blk.is_moe) {
      fs.mlp.resize(size_t(blk.mlp.scratch_floats(B)));
      blk.mlp.forward(ctx, xa, xb, B, fs.mlp.data());
    } else {
      nn::moe_forward(ctx, cfg_.moe(), blk.moe, xa, B, xb, nullptr, &bs.routing, &fs.moe);
      // Statistics per session from its own row's K experts (as B forward() calls count them).
      std::lock_guard<std::mutex> stats(stats_mu_);
      for (int64_t b = 0; b < B; ++b) {
        DeepseekV3Session& s = *bs.sessions[size_t(b)];
        const int32_t* ids = bs.routing.experts.data() + b * K;
        for (int64_t k = 0; k < K; ++k) {
          ++s.expert_counts_[l][size_t(ids[k])];
          ++total_counts_[l][size_t(ids[k])];
        }
        if (s.record_routing_) s.routing_[l].insert(s.routing_[l].end(), ids, ids + K);
      }
    }
    nn::add_inplace(ctx, h, xb, B * D);
  }
  for (int64_t b = 0; b < B; ++b) bs.sessions[size_t(b)]->n_past_ += 1;
  norm_.forward(ctx, h, xa, B);
  lm_head_.forward(ctx, xa, logits, B);
}

void DeepseekV3::forward_hidden(std::span<const int32_t> tokens, DeepseekV3Session& s,
                                float* logits, bool all_logits, float* hidden) {
  nn::Context ctx{pool_};
  forward_hidden_ctx(ctx, tokens, s, logits, all_logits, hidden, nullptr, nullptr);
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
  for (int64_t t = 0; t < N; ++t)
    R1_CHECK(tokens[t] >= 0 && tokens[t] < V, "token id {} out of range [0, {})", tokens[t], V);
  auto check = [](const Block& b) {
    R1_CHECK(!b.attn.w_uk.defined(),
             "training needs F32 weights with kv_b_proj as the only copy of W_UK/W_UV; this model "
             "has per-head absorbed weights (GGUF or a non-F32 checkpoint), which would go stale");
  };
  for (const auto& b : layers_) check(b);
  for (const auto& m : mtp_) check(m.block);
  std::shared_ptr<Session> sess = new_session(N);  // the B sequences stacked in its caches
  tape.keep_alive(sess);
  auto& s = static_cast<DeepseekV3Session&>(*sess);
  nn::Context ctx{pool_, &tape};
  float* logits = tape.alloc(N * V);
  float* h = nullptr;
  forward_hidden_ctx(ctx, tokens, s, logits, true, nullptr, &h, expert_counts, B);
  if (mtp_logits != nullptr) {
    R1_CHECK(!mtp_.empty() && T >= 2, "MTP training needs an MTP module and 2+ tokens");
    *mtp_logits = tape.alloc(B * (T - 1) * V);
    if (B == 1) {
      mtp_forward_ctx(ctx, h, tokens.subspan(1), s, *mtp_logits);
    } else {
      // Sequence b's MTP rows pair h[b*T + i] with tokens[b*T + i + 1], i < T-1: gathered into
      // [B*(T-1), D] / [B*(T-1)] (the gather records its backward).
      float* hid = tape.alloc(B * (T - 1) * D);
      std::vector<int32_t> next(static_cast<size_t>(B * (T - 1)));
      for (int64_t b = 0; b < B; ++b) {
        nn::copy_rows(ctx, h + b * T * D, D, hid + b * (T - 1) * D, D, D, T - 1);
        std::copy(tokens.begin() + b * T + 1, tokens.begin() + (b + 1) * T,
                  next.begin() + b * (T - 1));
      }
      mtp_forward_ctx(ctx, hid, next, s, *mtp_logits, B);
    }
  }
  return logits;
}

void DeepseekV3::forward_hidden_ctx(nn::Context& ctx, std::span<const int32_t> tokens,
                                    DeepseekV3Session& s, float* logits, bool all_logits,
                                    float* hidden, float** h_final,
                                    std::vector<std::vector<int64_t>>* counts_out, int64_t n_seq) {
  const int64_t T = int64_t(tokens.size()), D = cfg_.hidden_size, V = cfg_.vocab_size;
  const int64_t p0 = s.n_past_;
  R1_CHECK(T >= 1 && p0 + T <= s.n_ctx_, "{} tokens at position {} exceed the context {}", T, p0,
           s.n_ctx_);
  R1_CHECK(s.caches_.size() == layers_.size(), "session from another model");
  // Inference buffers: the session's (small T) or this call's; training uses tape buffers.
  ForwardScratch local;
  ForwardScratch* fs = ctx.tape == nullptr && T <= ForwardScratch::kScratchMaxTokens ? &s.scratch_
                                                                                       : &local;
  std::vector<float>&hv = fs->h, &xa = fs->xa, &xb = fs->xb;
  if (ctx.tape == nullptr) {
    hv.resize(size_t(T * D));
    xa.resize(size_t(T * D));
    xb.resize(size_t(T * D));
  }
  float* h = nn::activation_buffer(ctx, T * D, hv.data());
  embed_.forward(ctx, tokens.data(), h, T);
  auto& counts = fs->counts;
  counts.resize(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    counts[l].assign(size_t(cfg_.n_routed_experts), 0);
    h = block_forward(ctx, layers_[l], h, T, p0, s.caches_[l], counts[l].data(),
                      s.record_routing_ ? &s.routing_[l] : nullptr, xa.data(), xb.data(),
                      ctx.tape == nullptr ? fs : nullptr, n_seq);
  }
  if (counts_out != nullptr) {
    counts_out->resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      auto& c = (*counts_out)[l];
      c.resize(counts[l].size(), 0);
      for (size_t e = 0; e < c.size(); ++e) c[e] += counts[l][e];
    }
  }
  if (h_final != nullptr) *h_final = h;
  s.n_past_ = p0 + T;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      if (!layers_[l].is_moe) continue;
      for (size_t e = 0; e < counts[l].size(); ++e) {
        total_counts_[l][e] += counts[l][e];
        s.expert_counts_[l][e] += counts[l][e];
      }
    }
  }
  if (hidden) std::memcpy(hidden, h, size_t(T * D) * sizeof(float));
  if (!logits) return;
  const int64_t first = all_logits ? 0 : T - 1;
  const int64_t n = T - first;
  float* xn = nn::activation_buffer(ctx, n * D, xa.data());
  norm_.forward(ctx, h + first * D, xn, n);
  lm_head_.forward(ctx, xn, logits, n);
  (void)V;
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
  R1_CHECK(T >= 1 && p0 + T <= s.mtp_cache_.capacity, "MTP positions {}..{} past the context {}",
           p0, p0 + T - 1, s.mtp_cache_.capacity);
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
  h = block_forward(ctx, m.block, h, T, p0, s.mtp_cache_, nullptr, nullptr, xa.data(), xb.data(),
                    ctx.tape == nullptr && T <= ForwardScratch::kScratchMaxTokens ? &s.scratch_
                                                                                   : nullptr,
                    n_seq);
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

#include "models/decoder.h"

#include <algorithm>
#include <mutex>

#include "models/rows.h"
#include "models/tensor_names.h"
#include "nn/grad.h"

namespace r1::models {

/// Per-sequence state: the KV cache and its fill.
class DecoderSession : public Session {
 public:
  DecoderSession(const DecoderLM* owner, nn::KvCache kv) : owner_(owner), kv_(std::move(kv)) {}
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return kv_.n_ctx(); }
  void truncate(int64_t n) override {
    R1_CHECK(n >= 0 && n <= n_past_, "truncate to {} with {} positions cached", n, n_past_);
    n_past_ = n;
  }

  const DecoderLM* owner_;
  nn::KvCache kv_;
  int64_t n_past_ = 0;
};

namespace {

Result<nn::Linear> load_linear(const TensorSource& src, const std::string& w_name,
                               const std::string& b_name, int64_t n, int64_t k, bool bias) {
  R1_ASSIGN_OR_RETURN(w, src.get(w_name, {n, k}));
  Tensor b, scale;
  if (bias) {
    R1_ASSIGN_OR_RETURN(bt, src.get(b_name, {n}));
    b = bt;
  }
  if (w.dtype() == DType::F8_E4M3) {
    R1_ASSIGN_OR_RETURN(s, src.scale_inv(w_name));
    scale = s;
  }
  if (!is_whole_blocks(w.dtype(), k))
    return make_error("{}: tensor {}: rows of {} are not whole {} blocks", src.label(), w_name, k,
                      dtype_name(w.dtype()));
  return nn::Linear(std::move(w), std::move(b), std::move(scale));
}

Result<nn::RMSNorm> load_norm(const TensorSource& src, const std::string& name, int64_t d,
                              double eps) {
  R1_ASSIGN_OR_RETURN(w, src.get(name, {d}));
  return nn::RMSNorm(w, float(eps));
}

}  // namespace

Result<std::unique_ptr<DecoderLM>> DecoderLM::load(const DecoderConfig& cfg,
                                                   const TensorSource& src,
                                                   kernels::RopeLayout layout,
                                                   const std::vector<float>& rope_freq_factors,
                                                   ModelInfo info, ThreadPool& pool) {
  R1_TRY(cfg.validate(src.label()));
  std::unique_ptr<DecoderLM> m(new DecoderLM(pool));
  m->cfg_ = cfg;
  const NameStyle st = src.style();
  const int64_t D = cfg.hidden_size, V = cfg.vocab_size, F = cfg.intermediate_size;
  const int64_t H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads, Hd = cfg.head_dim;

  kernels::RopeTable table = kernels::rope_table(cfg.rope_theta, cfg.rope_dim, cfg.rope_scaling);
  if (!rope_freq_factors.empty()) {
    if (int64_t(rope_freq_factors.size()) != cfg.rope_dim / 2)
      return make_error("{}: tensor rope_freqs.weight has {} entries, rope needs {}", src.label(),
                        rope_freq_factors.size(), cfg.rope_dim / 2);
    for (size_t i = 0; i < table.inv_freq.size(); ++i) table.inv_freq[i] /= rope_freq_factors[i];
  }
  m->rope_ = nn::RotaryEmbedding(std::move(table), layout);

  R1_ASSIGN_OR_RETURN(embed, src.get(global_tensor_name(st, GlobalTensor::Embed), {V, D}));
  m->embed_ = nn::Embedding(embed);

  m->layers_.reserve(size_t(cfg.num_hidden_layers));
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    auto name = [&](LayerTensor t) { return layer_tensor_name(st, l, t); };
    R1_ASSIGN_OR_RETURN(attn_norm, load_norm(src, name(LayerTensor::AttnNorm), D, cfg.rms_norm_eps));
    R1_ASSIGN_OR_RETURN(q, load_linear(src, name(LayerTensor::Q), name(LayerTensor::QBias), H * Hd,
                                       D, cfg.qkv_bias));
    R1_ASSIGN_OR_RETURN(k, load_linear(src, name(LayerTensor::K), name(LayerTensor::KBias),
                                       Hkv * Hd, D, cfg.qkv_bias));
    R1_ASSIGN_OR_RETURN(v, load_linear(src, name(LayerTensor::V), name(LayerTensor::VBias),
                                       Hkv * Hd, D, cfg.qkv_bias));
    R1_ASSIGN_OR_RETURN(o, load_linear(src, name(LayerTensor::O), name(LayerTensor::OBias), D,
                                       H * Hd, cfg.o_bias));
    nn::RMSNorm q_norm, k_norm;  // Qwen3: [Hd], shared by every head, eps = rms_norm_eps
    if (cfg.qk_norm) {
      R1_ASSIGN_OR_RETURN(qn, load_norm(src, name(LayerTensor::QNorm), Hd, cfg.rms_norm_eps));
      R1_ASSIGN_OR_RETURN(kn, load_norm(src, name(LayerTensor::KNorm), Hd, cfg.rms_norm_eps));
      q_norm = std::move(qn);
      k_norm = std::move(kn);
    }
    R1_ASSIGN_OR_RETURN(ffn_norm, load_norm(src, name(LayerTensor::FfnNorm), D, cfg.rms_norm_eps));
    R1_ASSIGN_OR_RETURN(gate, load_linear(src, name(LayerTensor::Gate), name(LayerTensor::GateBias),
                                          F, D, cfg.mlp_bias));
    R1_ASSIGN_OR_RETURN(up, load_linear(src, name(LayerTensor::Up), name(LayerTensor::UpBias), F,
                                        D, cfg.mlp_bias));
    R1_ASSIGN_OR_RETURN(down, load_linear(src, name(LayerTensor::Down), name(LayerTensor::DownBias),
                                          D, F, cfg.mlp_bias));
    DecoderLayer layer;
    layer.attn_norm = std::move(attn_norm);
    layer.attn = nn::GqaAttention(std::move(q), std::move(k), std::move(v), std::move(o), &m->rope_,
                                  H, Hkv, Hd, std::move(q_norm), std::move(k_norm));
    layer.ffn_norm = std::move(ffn_norm);
    layer.mlp = nn::SwiGluMlp(std::move(gate), std::move(up), std::move(down));
    m->layers_.push_back(std::move(layer));
  }
  R1_ASSIGN_OR_RETURN(final_norm, load_norm(src, global_tensor_name(st, GlobalTensor::FinalNorm), D,
                                            cfg.rms_norm_eps));
  m->final_norm_ = std::move(final_norm);
  if (cfg.tie_word_embeddings) {
    if (!is_whole_blocks(embed.dtype(), D))
      return make_error("{}: tied embedding rows are not whole blocks", src.label());
    m->head_ = nn::Linear(embed);
  } else {
    const std::string head_name = global_tensor_name(st, GlobalTensor::Head);
    R1_ASSIGN_OR_RETURN(head, load_linear(src, head_name, "", V, D, false));
    m->head_ = std::move(head);
  }

  // Parameters and the bytes one decoded token streams: every block weight, the head once (for a
  // tied head that is the embedding matrix) and a single embedding row.
  int64_t params = embed.numel() + m->final_norm_.dim();
  int64_t bytes = int64_t(m->final_norm_.weight().nbytes()) + m->head_.weight_bytes() +
                  int64_t(embed.row_bytes());
  if (!cfg.tie_word_embeddings) params += m->head_.n_params();
  for (const auto& layer : m->layers_) {
    params += layer.attn_norm.dim() + layer.ffn_norm.dim() + layer.attn.n_params() +
              layer.mlp.n_params();
    bytes += int64_t(layer.attn_norm.weight().nbytes() + layer.ffn_norm.weight().nbytes()) +
             layer.attn.weight_bytes() + layer.mlp.weight_bytes();
  }
  info.vocab_size = V;
  info.max_position_embeddings = cfg.max_position_embeddings;
  info.n_params = params;
  info.weight_bytes_per_token = bytes;
  if (info.eos_token_ids.empty()) info.eos_token_ids = cfg.eos_token_ids;
  if (info.bos_token_id < 0) info.bos_token_id = cfg.bos_token_id;
  m->info_ = std::move(info);
  return m;
}

std::unique_ptr<Session> DecoderLM::new_session(int64_t n_ctx) {
  if (n_ctx <= 0) n_ctx = cfg_.max_position_embeddings;
  const int64_t width = cfg_.num_key_value_heads * cfg_.head_dim;
  return std::make_unique<DecoderSession>(
      this, nn::KvCache(cfg_.num_hidden_layers, n_ctx, width, width));
}

float* DecoderLM::forward(const Batch& batch, ForwardContext& fc) {
  const std::vector<BatchSpan> spans = split_batch(batch, cfg_.vocab_size);
  for (const BatchSpan& b : spans) {
    auto* s = dynamic_cast<DecoderSession*>(b.session);
    R1_CHECK(b.session == nullptr || (s != nullptr && s->owner_ == this),
             "session of sequence {} was not created by this model", b.seq);
  }
  const int64_t N = batch.size(), D = cfg_.hidden_size, V = cfg_.vocab_size;
  autograd::Tape* tape = fc.tape;
  // Inference buffers: the model's workspace (grown to the largest batch, so decoding allocates
  // nothing), or this call's when another thread holds it; training takes tape buffers.
  std::unique_lock<std::mutex> lock(ws_mu_, std::try_to_lock);
  Workspace local;
  Workspace& ws = lock.owns_lock() ? ws_ : local;
  if (tape == nullptr && N > ws.rows) {
    int64_t scratch = 0;
    for (const auto& l : layers_)
      scratch = std::max({scratch, l.attn.scratch_floats(N), l.mlp.scratch_floats(N)});
    ws.x.assign(size_t(N * D), 0.0f);
    ws.h.assign(size_t(N * D), 0.0f);
    ws.tmp.assign(size_t(N * D), 0.0f);
    ws.scratch.assign(size_t(scratch), 0.0f);
    ws.rows = N;
  }
  ws.spans.resize(spans.size());
  nn::Context ctx{pool_, tape};
  // Inference updates the residual stream in place; training takes every activation fresh from
  // the tape (nn::activation_buffer, nn::residual_add).
  float* x = nn::activation_buffer(ctx, N * D, ws.x.data());  // [N, D] residual streams
  float* h = nullptr;                                          // [N, D] normed sub-block input
  float* tmp = nullptr;                                        // [N, D] sub-block output
  embed_.forward(ctx, batch.tokens.data(), x, N);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayer& layer = layers_[l];
    for (size_t i = 0; i < spans.size(); ++i) {
      auto* s = static_cast<DecoderSession*>(spans[i].session);
      nn::GqaAttention::Span& a = ws.spans[i];
      a.row0 = spans[i].row0;
      a.T = spans[i].T;
      a.p0 = spans[i].p0;
      a.k_cache = s != nullptr ? s->kv_.k(int64_t(l)) : nullptr;
      a.v_cache = s != nullptr ? s->kv_.v(int64_t(l)) : nullptr;
    }
    h = nn::activation_buffer(ctx, N * D, ws.h.data());
    layer.attn_norm.forward(ctx, x, h, N);
    tmp = nn::activation_buffer(ctx, N * D, ws.tmp.data());
    layer.attn.forward(ctx, h, N, batch.pos.data(), ws.spans, tmp, ws.scratch.data());
    x = nn::residual_add(ctx, x, tmp, N * D);
    h = nn::activation_buffer(ctx, N * D, ws.h.data());
    layer.ffn_norm.forward(ctx, x, h, N);
    tmp = nn::activation_buffer(ctx, N * D, ws.tmp.data());
    layer.mlp.forward(ctx, h, tmp, N, ws.scratch.data());
    x = nn::residual_add(ctx, x, tmp, N * D);
  }
  for (const BatchSpan& b : spans)
    if (b.session != nullptr) static_cast<DecoderSession*>(b.session)->n_past_ += b.T;
  if (fc.hidden != nullptr) gather_rows(ctx, batch, Batch::kHidden, x, D, fc.hidden, nullptr);
  const int64_t n_logits = batch.count(Batch::kLogits);
  if (n_logits == 0 || (fc.logits == nullptr && tape == nullptr)) return nullptr;
  // The final norm and head run over the flagged rows only (a prompt's last row).
  float* xl = gather_rows(ctx, batch, Batch::kLogits, x, D, nullptr, ws.tmp.data());
  h = nn::activation_buffer(ctx, n_logits * D, ws.h.data());
  final_norm_.forward(ctx, xl, h, n_logits);
  float* logits = fc.logits != nullptr ? fc.logits : tape->alloc(n_logits * V);
  head_.forward(ctx, h, logits, n_logits);
  return logits;
}

float* DecoderLM::forward_train(std::span<const int32_t> tokens, autograd::Tape& tape) {
  return forward_train_batch(tokens, 1, tape);
}

float* DecoderLM::forward_train_batch(std::span<const int32_t> tokens, int64_t B,
                                      autograd::Tape& tape) {
  ForwardContext fc;
  fc.tape = &tape;
  return forward(Batch::training(tokens, B), fc);
}

}  // namespace r1::models

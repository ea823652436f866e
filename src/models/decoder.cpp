#include "models/decoder.h"

#include <algorithm>

#include "models/tensor_names.h"
#include "nn/grad.h"

namespace r1::models {

/// Per-sequence state: the KV cache plus activation buffers reused by every call (they grow only
/// when a longer chunk arrives, so decoding allocates nothing).
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
  int64_t capacity_tokens_ = 0;   // T the buffers below are sized for
  std::vector<float> x_, h_, tmp_, scratch_;  // [T, D] x3, block scratch
  std::vector<int32_t> pos_;                  // [T]
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

void DecoderLM::forward(std::span<const int32_t> tokens, Session& session, float* logits,
                        bool all_logits) {
  auto* s = dynamic_cast<DecoderSession*>(&session);
  R1_CHECK(s != nullptr && s->owner_ == this, "session was not created by this model");
  const int64_t T = int64_t(tokens.size());
  R1_CHECK(T > 0, "forward of zero tokens");
  R1_CHECK(s->n_past_ + T <= s->n_ctx(), "{} cached + {} new tokens exceed the context of {}",
           s->n_past_, T, s->n_ctx());
  // Check every id before touching the cache, so a bad id leaves the session unchanged.
  for (int64_t t = 0; t < T; ++t)
    R1_CHECK(tokens[t] >= 0 && tokens[t] < cfg_.vocab_size, "token id {} out of range [0, {})",
             tokens[t], cfg_.vocab_size);
  const int64_t V = cfg_.vocab_size;
  for (int64_t c0 = 0; c0 < T; c0 += ubatch_) {
    const int64_t Tc = std::min(ubatch_, T - c0);
    const bool last = c0 + Tc == T;
    float* out = nullptr;
    if (logits != nullptr && all_logits) out = logits + c0 * V;
    if (logits != nullptr && !all_logits && last) out = logits;
    forward_chunk(tokens.data() + c0, Tc, *s, out, all_logits);
  }
}

float* DecoderLM::forward_train(std::span<const int32_t> tokens, autograd::Tape& tape) {
  const int64_t T = int64_t(tokens.size());
  R1_CHECK(T > 0, "forward of zero tokens");
  for (int64_t t = 0; t < T; ++t)
    R1_CHECK(tokens[t] >= 0 && tokens[t] < cfg_.vocab_size, "token id {} out of range [0, {})",
             tokens[t], cfg_.vocab_size);
  std::shared_ptr<Session> session = new_session(T);
  tape.keep_alive(session);
  float* logits = tape.alloc(T * cfg_.vocab_size);
  forward_chunk(tokens.data(), T, static_cast<DecoderSession&>(*session), logits, true, &tape);
  return logits;
}

float* DecoderLM::forward_train_batch(std::span<const int32_t> tokens, int64_t B,
                                      autograd::Tape& tape) {
  const int64_t n = int64_t(tokens.size());
  R1_CHECK(B > 0 && n > 0 && n % B == 0, "{} tokens do not split into {} sequences", n, B);
  const int64_t T = n / B, D = cfg_.hidden_size;
  for (int64_t t = 0; t < n; ++t)
    R1_CHECK(tokens[t] >= 0 && tokens[t] < cfg_.vocab_size, "token id {} out of range [0, {})",
             tokens[t], cfg_.vocab_size);
  std::vector<int32_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = int32_t(i % T);
  nn::Context ctx{pool_, &tape};
  float* x = tape.alloc(n * D);  // [B*T, D] residual streams
  embed_.forward(ctx, tokens.data(), x, n);
  for (const DecoderLayer& layer : layers_) {
    float* h = tape.alloc(n * D);
    layer.attn_norm.forward(ctx, x, h, n);
    float* tmp = tape.alloc(n * D);
    layer.attn.forward_rows(ctx, h, B, T, pos.data(), tmp, nullptr);
    x = nn::residual_add(ctx, x, tmp, n * D);
    h = tape.alloc(n * D);
    layer.ffn_norm.forward(ctx, x, h, n);
    tmp = tape.alloc(n * D);
    layer.mlp.forward(ctx, h, tmp, n, nullptr);
    x = nn::residual_add(ctx, x, tmp, n * D);
  }
  float* h = tape.alloc(n * D);
  final_norm_.forward(ctx, x, h, n);
  float* logits = tape.alloc(n * cfg_.vocab_size);
  head_.forward(ctx, h, logits, n);
  return logits;
}

void DecoderLM::forward_batch(std::span<const int32_t> tokens,
                              std::span<Session* const> sessions, float* logits) {
  const int64_t B = int64_t(tokens.size());
  R1_CHECK(B == int64_t(sessions.size()), "{} tokens for {} sessions", B, sessions.size());
  if (B == 0) return;
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size;
  if (int64_t(bss_.size()) < B) bss_.resize(size_t(B));
  DecoderSession** ss = bss_.data();
  for (int64_t b = 0; b < B; ++b) {
    auto* s = dynamic_cast<DecoderSession*>(sessions[size_t(b)]);
    R1_CHECK(s != nullptr && s->owner_ == this, "session {} was not created by this model", b);
    R1_CHECK(s->n_past_ + 1 <= s->n_ctx(), "session {}: {} cached tokens fill its context", b,
             s->n_past_);
    R1_CHECK(tokens[size_t(b)] >= 0 && tokens[size_t(b)] < V, "token id {} out of range [0, {})",
             tokens[size_t(b)], V);
    for (int64_t c = 0; c < b; ++c) R1_CHECK(ss[c] != s, "session {} given twice", b);
    ss[b] = s;
  }
  if (int64_t(bpos_.size()) < B) {
    int64_t scratch = 0;
    for (const auto& l : layers_)
      scratch = std::max({scratch, l.attn.scratch_floats_batch(B), l.mlp.scratch_floats(B)});
    bx_.assign(size_t(B * D), 0.0f);
    bh_.assign(size_t(B * D), 0.0f);
    btmp_.assign(size_t(B * D), 0.0f);
    bscratch_.assign(size_t(scratch), 0.0f);
    bpos_.assign(size_t(B), 0);
    bk_.assign(size_t(B), nullptr);
    bv_.assign(size_t(B), nullptr);
  }
  for (int64_t b = 0; b < B; ++b) bpos_[size_t(b)] = int32_t(ss[b]->n_past_);
  nn::Context ctx{pool_};
  float* x = bx_.data();      // [B, D] residual streams, one row per sequence
  float* h = bh_.data();      // [B, D]
  float* tmp = btmp_.data();  // [B, D]
  embed_.forward(ctx, tokens.data(), x, B);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayer& layer = layers_[l];
    for (int64_t b = 0; b < B; ++b) {
      bk_[size_t(b)] = ss[b]->kv_.k(int64_t(l));
      bv_[size_t(b)] = ss[b]->kv_.v(int64_t(l));
    }
    layer.attn_norm.forward(ctx, x, h, B);
    layer.attn.forward_decode_batch(ctx, h, B, bpos_.data(), bk_.data(), bv_.data(), tmp,
                                    bscratch_.data());
    nn::add_inplace(ctx, x, tmp, B * D);
    layer.ffn_norm.forward(ctx, x, h, B);
    layer.mlp.forward(ctx, h, tmp, B, bscratch_.data());
    nn::add_inplace(ctx, x, tmp, B * D);
  }
  for (int64_t b = 0; b < B; ++b) ss[b]->n_past_ += 1;
  final_norm_.forward(ctx, x, h, B);
  head_.forward(ctx, h, logits, B);
}

void DecoderLM::forward_chunk(const int32_t* ids, int64_t T, DecoderSession& s, float* logits,
                              bool all_logits, autograd::Tape* tape) {
  const int64_t D = cfg_.hidden_size;
  if (T > s.capacity_tokens_) {
    int64_t scratch = 0;
    for (const auto& l : layers_)
      scratch = std::max({scratch, l.attn.scratch_floats(T), l.mlp.scratch_floats(T)});
    s.x_.assign(size_t(T * D), 0.0f);
    s.h_.assign(size_t(T * D), 0.0f);
    s.tmp_.assign(size_t(T * D), 0.0f);
    s.scratch_.assign(size_t(scratch), 0.0f);
    s.pos_.assign(size_t(T), 0);
    s.capacity_tokens_ = T;
  }
  // Inference reuses the session's buffers (the residual stream updated in place); training
  // takes every activation fresh from the tape (nn::activation_buffer, nn::residual_add).
  nn::Context ctx{pool_, tape};
  float* x = nn::activation_buffer(ctx, T * D, s.x_.data());  // [T, D] residual stream
  float* h = nullptr;                                          // [T, D] normed sub-block input
  float* tmp = nullptr;                                        // [T, D] sub-block output
  const int64_t p0 = s.n_past_;
  for (int64_t t = 0; t < T; ++t) s.pos_[size_t(t)] = int32_t(p0 + t);

  embed_.forward(ctx, ids, x, T);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayer& layer = layers_[l];
    h = nn::activation_buffer(ctx, T * D, s.h_.data());
    layer.attn_norm.forward(ctx, x, h, T);
    tmp = nn::activation_buffer(ctx, T * D, s.tmp_.data());
    layer.attn.forward(ctx, h, T, p0, s.pos_.data(), s.kv_.k(int64_t(l)), s.kv_.v(int64_t(l)), tmp,
                       s.scratch_.data());
    x = nn::residual_add(ctx, x, tmp, T * D);
    h = nn::activation_buffer(ctx, T * D, s.h_.data());
    layer.ffn_norm.forward(ctx, x, h, T);
    tmp = nn::activation_buffer(ctx, T * D, s.tmp_.data());
    layer.mlp.forward(ctx, h, tmp, T, s.scratch_.data());
    x = nn::residual_add(ctx, x, tmp, T * D);
  }
  h = nn::activation_buffer(ctx, T * D, s.h_.data());
  s.n_past_ = p0 + T;
  if (logits == nullptr) return;
  if (all_logits) {
    final_norm_.forward(ctx, x, h, T);
    head_.forward(ctx, h, logits, T);
  } else {
    final_norm_.forward(ctx, x + (T - 1) * D, h, 1);
    head_.forward(ctx, h, logits, 1);
  }
}

}  // namespace r1::models

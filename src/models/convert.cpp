#include "models/convert.h"

#include <cstring>
#include <filesystem>

#include "io/gguf_writer.h"
#include "io/io_util.h"
#include "models/tensor_names.h"

namespace r1::models {
namespace {

// Rows of a [n_head * Hd, ...] tensor (weight or bias) regrouped per head from (half, i) to
// (i, half): new row h*Hd + 2i + j = old row h*Hd + j*Hd/2 + i. Copies bytes in the source dtype.
Tensor permute_qk_rows(const Tensor& t, int64_t n_head, int64_t head_dim) {
  Tensor out = t.clone();
  const size_t rb = t.ndim() == 1 ? size_t(dtype_bytes(t.dtype(), 1)) : t.row_bytes();
  const uint8_t* src = t.bytes();
  uint8_t* dst = out.mutable_bytes();
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(dst + size_t(h * head_dim + 2 * i + j) * rb,
                    src + size_t(h * head_dim + j * half + i) * rb, rb);
  return out;
}

}  // namespace

void set_gguf_file_type(io::GgufWriter& w, const QuantOptions& q) {
  w.set_u32("general.file_type", q.preset.file_type);
  if (dtype_traits(q.preset.base).quantized) w.set_u32("general.quantization_version", 2);
}

Result<void> add_tensors_as_chosen(io::GgufWriter& w, const std::vector<PendingTensor>& tensors,
                                   const QuantModelShape& shape, const QuantOptions& q) {
  std::vector<QuantTensor> info;
  info.reserve(tensors.size());
  for (const auto& p : tensors) info.push_back({p.name, p.t.ndim(), p.t.row_len()});
  R1_ASSIGN_OR_RETURN(types, choose_tensor_types(info, shape, q));
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PendingTensor& p = tensors[i];
    R1_ASSIGN_OR_RETURN(qw, imatrix_for_tensor(p.name, p.t, types[i], q));
    R1_TRY(w.add_tensor(p.name, p.t, types[i], std::move(qw)));
  }
  return {};
}

Result<bool> add_gguf_tokenizer(io::GgufWriter& w, const std::string& dir, int64_t vocab_size,
                                const std::string& pre, bool default_add_bos) {
  const std::string path = dir + "/tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  R1_ASSIGN_OR_RETURN(tj, io::read_json_file(path));
  auto model = tj.find("model");
  if (model == tj.end() || !model->is_object()) return false;
  if (auto ty = model->find("type"); ty == model->end() || *ty != "BPE") return false;
  const int64_t V = vocab_size;
  std::vector<std::string> tokens(static_cast<size_t>(V));
  std::vector<int32_t> types(size_t(V), 5);  // UNUSED
  auto put = [&](int64_t id, const std::string& s, int32_t type) {
    if (id < 0 || id >= V) return;
    tokens[size_t(id)] = s;
    types[size_t(id)] = type;
  };
  for (const auto& [s, id] : (*model)["vocab"].items())
    if (id.is_number_integer()) put(id.get<int64_t>(), s, 1);  // NORMAL
  if (auto at = tj.find("added_tokens"); at != tj.end() && at->is_array())
    for (const auto& a : *at) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content")) continue;
      const auto sp = a.find("special");
      if (!a["id"].is_number_integer() || !a["content"].is_string() ||
          (sp != a.end() && !sp->is_boolean()))
        return make_error("{}: added_tokens entry {}: id must be an integer, content a string, "
                          "special true or false", path, a.dump().substr(0, 120));
      put(a["id"].get<int64_t>(), a["content"].get<std::string>(),
          sp != a.end() && sp->get<bool>() ? 3 : 4);  // CONTROL : USER_DEFINED
    }
  for (int64_t i = 0; i < V; ++i)
    if (tokens[size_t(i)].empty()) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
  std::vector<std::string> merges;
  if (auto m = model->find("merges"); m != model->end() && m->is_array())
    for (const auto& x : *m) {
      if (x.is_string()) merges.push_back(x.get<std::string>());
      else if (x.is_array() && x.size() == 2)
        merges.push_back(x[0].get<std::string>() + " " + x[1].get<std::string>());
    }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", std::move(tokens));
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", std::move(merges));
  bool add_bos = default_add_bos;
  const std::string tc_path = dir + "/tokenizer_config.json";
  if (std::filesystem::exists(tc_path, ec)) {
    auto tc = io::read_json_file(tc_path);
    if (tc.ok() && tc->is_object()) {
      if (auto b = tc->find("add_bos_token"); b != tc->end() && b->is_boolean()) add_bos = *b;
      if (auto ct = tc->find("chat_template"); ct != tc->end() && ct->is_string())
        w.set_string("tokenizer.chat_template", ct->get<std::string>());
    }
  }
  w.set_bool("tokenizer.ggml.add_bos_token", add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
  return true;
}

Result<void> write_decoder_gguf(const io::HfModelDir& dir, const DecoderConfig& cfg,
                                const DecoderArch& arch, const QuantOptions& q,
                                const std::string& out_path) {
  const std::string A(arch.model_type);
  io::GgufWriter w;
  w.set_string("general.architecture", A);
  std::filesystem::path p(dir.dir());
  w.set_string("general.name", p.filename().empty() ? p.parent_path().filename().string()
                                                    : p.filename().string());
  set_gguf_file_type(w, q);
  w.set_u32(A + ".vocab_size", uint32_t(cfg.vocab_size));
  w.set_u32(A + ".context_length", uint32_t(cfg.max_position_embeddings));
  w.set_u32(A + ".embedding_length", uint32_t(cfg.hidden_size));
  w.set_u32(A + ".block_count", uint32_t(cfg.num_hidden_layers));
  w.set_u32(A + ".feed_forward_length", uint32_t(cfg.intermediate_size));
  w.set_u32(A + ".attention.head_count", uint32_t(cfg.num_attention_heads));
  w.set_u32(A + ".attention.head_count_kv", uint32_t(cfg.num_key_value_heads));
  w.set_f32(A + ".rope.freq_base", float(cfg.rope_theta));
  w.set_f32(A + ".attention.layer_norm_rms_epsilon", float(cfg.rms_norm_eps));
  w.set_u32(A + ".rope.dimension_count", uint32_t(cfg.rope_dim));
  w.set_u32(A + ".attention.key_length", uint32_t(cfg.head_dim));
  w.set_u32(A + ".attention.value_length", uint32_t(cfg.head_dim));
  const auto& rs = cfg.rope_scaling;
  if (rs.type == kernels::RopeScalingType::Linear) {
    w.set_string(A + ".rope.scaling.type", "linear");
    w.set_f32(A + ".rope.scaling.factor", float(rs.factor));
  } else if (rs.type == kernels::RopeScalingType::Yarn) {
    return make_error("convert: yarn rope scaling for {} is not supported", A);
  } else if (rs.type == kernels::RopeScalingType::Llama3) {
    // llama.cpp bakes llama3 scaling into per-frequency divisors: theta_i / rope_freqs[i].
    const auto base = kernels::rope_table(cfg.rope_theta, cfg.rope_dim);
    const auto scaled = kernels::rope_table(cfg.rope_theta, cfg.rope_dim, rs);
    std::vector<float> factors(base.inv_freq.size());
    for (size_t i = 0; i < factors.size(); ++i)
      factors[i] = float(double(base.inv_freq[i]) / double(scaled.inv_freq[i]));
    R1_TRY(w.add_tensor("rope_freqs.weight", factors.data(), {int64_t(factors.size())},
                        DType::F32));
  }
  if (cfg.bos_token_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(cfg.bos_token_id));
  if (!cfg.eos_token_ids.empty())
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(cfg.eos_token_ids[0]));
  R1_ASSIGN_OR_RETURN(has_tok,
                      add_gguf_tokenizer(w, dir.dir(), cfg.vocab_size,
                                         std::string(arch.gguf_tokenizer_pre), arch.gguf_add_bos));
  if (!has_tok) w.set_string("tokenizer.ggml.model", "no_vocab");

  std::vector<PendingTensor> pending;
  for (const auto& spec : decoder_tensor_plan(cfg, NameStyle::HF)) {
    R1_ASSIGN_OR_RETURN(t, dir.tensor(spec.name, spec.shape));
    const auto gguf_name = hf_to_gguf_name(spec.name);
    R1_CHECK(gguf_name.has_value(), "no GGUF name for {}", spec.name);
    if (arch.gguf_permute_qk) {
      const bool is_q = gguf_name->find(".attn_q.") != std::string::npos;
      const bool is_k = gguf_name->find(".attn_k.") != std::string::npos;
      if (is_q || is_k)
        t = permute_qk_rows(t, is_q ? cfg.num_attention_heads : cfg.num_key_value_heads,
                            cfg.head_dim);
    }
    pending.push_back({*gguf_name, t});
  }
  R1_TRY(add_tensors_as_chosen(w, pending,
                               {cfg.num_hidden_layers, cfg.num_attention_heads,
                                cfg.num_key_value_heads, 0},
                               q));
  return w.write(out_path);
}

}  // namespace r1::models

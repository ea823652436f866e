#include "models/decoder_config.h"

#include <cmath>
#include <utility>

#include "core/check.h"

namespace r1::models {
namespace {

using nlohmann::json;

const char* json_kind(const json& v) { return v.type_name(); }

Result<int64_t> get_int(const json& j, const std::string& label, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return make_error("{}: field {} missing", label, key);
  if (!it->is_number_integer() && !it->is_number_unsigned())
    return make_error("{}: field {}: expected an integer, got {}", label, key, json_kind(*it));
  return it->get<int64_t>();
}

Result<int64_t> get_int_or(const json& j, const std::string& label, const std::string& key,
                           int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return get_int(j, label, key);
}

Result<double> get_float_or(const json& j, const std::string& label, const std::string& key,
                            double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number())
    return make_error("{}: field {}: expected a number, got {}", label, key, json_kind(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v)) return make_error("{}: field {}: not finite", label, key);
  return v;
}

Result<bool> get_bool_or(const json& j, const std::string& label, const std::string& key,
                         bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return make_error("{}: field {}: expected true/false, got {}", label, key, json_kind(*it));
  return it->get<bool>();
}

Result<kernels::RopeScaling> parse_rope_scaling(const json& j, const std::string& label) {
  kernels::RopeScaling s;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return s;
  if (!it->is_object())
    return make_error("{}: field rope_scaling: expected an object, got {}", label, json_kind(*it));
  const json& r = *it;
  std::string type;
  for (const char* k : {"rope_type", "type"}) {
    auto t = r.find(k);
    if (t != r.end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  const std::string l = label + ": rope_scaling";
  if (type.empty() || type == "default") return s;
  R1_ASSIGN_OR_RETURN(factor, get_float_or(r, l, "factor", 1.0));
  if (factor <= 0) return make_error("{}: field factor must be > 0", l);
  s.factor = factor;
  if (type == "linear") {
    s.type = kernels::RopeScalingType::Linear;
  } else if (type == "llama3") {
    s.type = kernels::RopeScalingType::Llama3;
    R1_ASSIGN_OR_RETURN(lo, get_float_or(r, l, "low_freq_factor", 1.0));
    R1_ASSIGN_OR_RETURN(hi, get_float_or(r, l, "high_freq_factor", 4.0));
    R1_ASSIGN_OR_RETURN(orig, get_int(r, l, "original_max_position_embeddings"));
    if (orig <= 0 || lo <= 0 || hi <= lo)
      return make_error("{}: need original_max_position_embeddings > 0 and high_freq_factor > "
                        "low_freq_factor > 0", l);
    s.low_freq_factor = lo;
    s.high_freq_factor = hi;
    s.original_max_position_embeddings = orig;
  } else if (type == "yarn") {
    s.type = kernels::RopeScalingType::Yarn;
    R1_ASSIGN_OR_RETURN(orig, get_int(r, l, "original_max_position_embeddings"));
    R1_ASSIGN_OR_RETURN(bf, get_float_or(r, l, "beta_fast", 32.0));
    R1_ASSIGN_OR_RETURN(bs, get_float_or(r, l, "beta_slow", 1.0));
    R1_ASSIGN_OR_RETURN(ms, get_float_or(r, l, "mscale", 1.0));
    R1_ASSIGN_OR_RETURN(msa, get_float_or(r, l, "mscale_all_dim", 0.0));
    if (orig <= 0) return make_error("{}: original_max_position_embeddings must be > 0", l);
    s.original_max_position_embeddings = orig;
    s.beta_fast = bf;
    s.beta_slow = bs;
    s.mscale = ms;
    s.mscale_all_dim = msa;
  } else {
    return make_error("{}: unsupported rope type '{}' (supported: default, linear, llama3, yarn)",
                      l, type);
  }
  return s;
}

}  // namespace

Result<std::vector<int32_t>> parse_token_id_list(const json& j, const std::string& label,
                                                 const std::string& field) {
  std::vector<int32_t> out;
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return out;
  auto one = [&](const json& v) -> Result<void> {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      return make_error("{}: field {}: expected a token id (non-negative integer), got {}", label,
                        field, v.dump());
    out.push_back(int32_t(v.get<int64_t>()));
    return {};
  };
  if (it->is_array()) {
    for (const auto& v : *it) R1_TRY(one(v));
  } else {
    R1_TRY(one(*it));
  }
  return out;
}

Result<void> DecoderConfig::validate(const std::string& label) const {
  auto pos = [&](const char* name, int64_t v) -> Result<void> {
    if (v <= 0) return make_error("{}: field {} must be > 0 (got {})", label, name, v);
    return {};
  };
  R1_TRY(pos("vocab_size", vocab_size));
  R1_TRY(pos("hidden_size", hidden_size));
  R1_TRY(pos("intermediate_size", intermediate_size));
  R1_TRY(pos("num_hidden_layers", num_hidden_layers));
  R1_TRY(pos("num_attention_heads", num_attention_heads));
  R1_TRY(pos("num_key_value_heads", num_key_value_heads));
  R1_TRY(pos("head_dim", head_dim));
  R1_TRY(pos("max_position_embeddings", max_position_embeddings));
  if (num_attention_heads % num_key_value_heads != 0)
    return make_error("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                      label, num_attention_heads, num_key_value_heads);
  if (rope_dim <= 0 || rope_dim > head_dim || rope_dim % 2 != 0)
    return make_error("{}: rotary dim {} must be even and in (0, head_dim {}]", label, rope_dim,
                      head_dim);
  if (!(rms_norm_eps > 0)) return make_error("{}: field rms_norm_eps must be > 0", label);
  if (!(rope_theta > 0)) return make_error("{}: field rope_theta must be > 0", label);
  if (bos_token_id >= vocab_size)
    return make_error("{}: bos_token_id {} >= vocab_size {}", label, bos_token_id, vocab_size);
  return {};
}

Result<DecoderConfig> parse_decoder_config(const json& j, const std::string& label,
                                           const DecoderVariant& variant) {
  if (!j.is_object()) return make_error("{}: expected a JSON object", label);
  DecoderConfig c;
  auto mt = j.find("model_type");
  if (mt != j.end() && mt->is_string()) c.model_type = mt->get<std::string>();
  R1_ASSIGN_OR_RETURN(vocab, get_int(j, label, "vocab_size"));
  R1_ASSIGN_OR_RETURN(hidden, get_int(j, label, "hidden_size"));
  R1_ASSIGN_OR_RETURN(ffn, get_int(j, label, "intermediate_size"));
  R1_ASSIGN_OR_RETURN(layers, get_int(j, label, "num_hidden_layers"));
  R1_ASSIGN_OR_RETURN(heads, get_int(j, label, "num_attention_heads"));
  R1_ASSIGN_OR_RETURN(kv_heads, get_int_or(j, label, "num_key_value_heads", heads));
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = ffn;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  const bool has_head_dim = j.contains("head_dim") && !j["head_dim"].is_null();
  if (heads > 0 && hidden % heads != 0 && !has_head_dim && variant.default_head_dim == 0)
    return make_error("{}: hidden_size {} is not a multiple of num_attention_heads {} and no "
                      "head_dim is given", label, hidden, heads);
  const int64_t default_hd = variant.default_head_dim > 0 ? variant.default_head_dim
                             : heads > 0                  ? hidden / heads
                                                          : 0;
  R1_ASSIGN_OR_RETURN(hd, get_int_or(j, label, "head_dim", default_hd));
  c.head_dim = hd;
  c.rope_dim = hd;
  R1_ASSIGN_OR_RETURN(eps, get_float_or(j, label, "rms_norm_eps", 1e-6));
  R1_ASSIGN_OR_RETURN(theta, get_float_or(j, label, "rope_theta", 10000.0));
  c.rms_norm_eps = eps;
  c.rope_theta = theta;
  R1_ASSIGN_OR_RETURN(scaling, parse_rope_scaling(j, label));
  c.rope_scaling = scaling;
  R1_ASSIGN_OR_RETURN(max_pos, get_int_or(j, label, "max_position_embeddings", 2048));
  c.max_position_embeddings = max_pos;
  R1_ASSIGN_OR_RETURN(tied, get_bool_or(j, label, "tie_word_embeddings", false));
  c.tie_word_embeddings = tied;
  if (variant.qkv_bias_always) c.qkv_bias = true;
  if (variant.read_attention_bias) {
    R1_ASSIGN_OR_RETURN(ab, get_bool_or(j, label, "attention_bias", false));
    c.qkv_bias = c.qkv_bias || ab;
    c.o_bias = ab;
  }
  if (variant.read_mlp_bias) {
    R1_ASSIGN_OR_RETURN(mb, get_bool_or(j, label, "mlp_bias", false));
    c.mlp_bias = mb;
  }
  c.qk_norm = variant.qk_norm;
  // Qwen2/Qwen3 sliding-window attention (layers >= max_window_layers) is not implemented: refuse
  // rather than compute full attention where the checkpoint expects a window.
  R1_ASSIGN_OR_RETURN(swa, get_bool_or(j, label, "use_sliding_window", false));
  if (swa)
    return make_error("{}: field use_sliding_window: sliding-window attention is not supported",
                      label);
  auto act = j.find("hidden_act");
  if (act != j.end() && act->is_string() && act->get<std::string>() != "silu")
    return make_error("{}: field hidden_act: '{}' is not supported (only silu)", label,
                      act->get<std::string>());
  R1_ASSIGN_OR_RETURN(bos, parse_token_id_list(j, label, "bos_token_id"));
  if (!bos.empty()) c.bos_token_id = bos[0];
  R1_ASSIGN_OR_RETURN(eos, parse_token_id_list(j, label, "eos_token_id"));
  c.eos_token_ids = eos;
  auto dt = j.find("torch_dtype");
  if (dt != j.end() && dt->is_string()) c.torch_dtype = dt->get<std::string>();
  R1_TRY(c.validate(label));
  return c;
}

Result<DecoderConfig> decoder_config_from_gguf(const io::GgufFile& f, const std::string& arch,
                                               const DecoderVariant& variant) {
  DecoderConfig c;
  c.model_type = arch;
  const std::string p = arch + ".";
  R1_ASSIGN_OR_RETURN(ctx, f.get_i64(p + "context_length"));
  R1_ASSIGN_OR_RETURN(dim, f.get_i64(p + "embedding_length"));
  R1_ASSIGN_OR_RETURN(layers, f.get_i64(p + "block_count"));
  R1_ASSIGN_OR_RETURN(ffn, f.get_i64(p + "feed_forward_length"));
  R1_ASSIGN_OR_RETURN(heads, f.get_i64(p + "attention.head_count"));
  c.max_position_embeddings = ctx;
  c.hidden_size = dim;
  c.num_hidden_layers = layers;
  c.intermediate_size = ffn;
  c.num_attention_heads = heads;
  c.num_key_value_heads = heads;
  if (f.has(p + "attention.head_count_kv")) {
    R1_ASSIGN_OR_RETURN(kv, f.get_i64(p + "attention.head_count_kv"));
    c.num_key_value_heads = kv;
  }
  // Checked here with the GGUF key names (validate() below would name the HF fields).
  for (const auto& [key, v] : {std::pair<const char*, int64_t>{"context_length", ctx},
                               {"embedding_length", dim},
                               {"block_count", layers},
                               {"feed_forward_length", ffn},
                               {"attention.head_count", heads},
                               {"attention.head_count_kv", c.num_key_value_heads}})
    if (v <= 0) return make_error("{}: metadata {}{} must be > 0 (got {})", f.path(), p, key, v);
  c.head_dim = dim / heads;
  if (f.has(p + "attention.key_length")) {
    R1_ASSIGN_OR_RETURN(kl, f.get_i64(p + "attention.key_length"));
    c.head_dim = kl;
  }
  c.rope_dim = c.head_dim;
  if (f.has(p + "rope.dimension_count")) {
    R1_ASSIGN_OR_RETURN(rd, f.get_i64(p + "rope.dimension_count"));
    c.rope_dim = rd;
  }
  R1_ASSIGN_OR_RETURN(eps, f.get_f32(p + "attention.layer_norm_rms_epsilon"));
  if (!(eps > 0))
    return make_error("{}: metadata {}attention.layer_norm_rms_epsilon must be > 0 (got {})",
                      f.path(), p, eps);
  c.rms_norm_eps = eps;
  if (f.has(p + "rope.freq_base")) {
    R1_ASSIGN_OR_RETURN(theta, f.get_f32(p + "rope.freq_base"));
    if (!(theta > 0))
      return make_error("{}: metadata {}rope.freq_base must be > 0 (got {})", f.path(), p, theta);
    c.rope_theta = theta;
  }
  if (f.has(p + "rope.scaling.type")) {
    R1_ASSIGN_OR_RETURN(type, f.get_string(p + "rope.scaling.type"));
    if (type == "linear" || type == "yarn") {
      R1_ASSIGN_OR_RETURN(factor, f.get_f32(p + "rope.scaling.factor"));
      c.rope_scaling.factor = factor;
      c.rope_scaling.type =
          type == "linear" ? kernels::RopeScalingType::Linear : kernels::RopeScalingType::Yarn;
      if (type == "yarn") {
        R1_ASSIGN_OR_RETURN(orig, f.get_i64(p + "rope.scaling.original_context_length"));
        c.rope_scaling.original_max_position_embeddings = orig;
      }
    } else if (type != "none") {
      return make_error("{}: metadata {}rope.scaling.type '{}' is not supported", f.path(), p,
                        type);
    }
  }
  // The vocabulary size: explicit key, else the embedding rows.
  if (f.has(p + "vocab_size")) {
    R1_ASSIGN_OR_RETURN(v, f.get_i64(p + "vocab_size"));
    c.vocab_size = v;
  } else if (const auto* ti = f.tensor_info("token_embd.weight"); ti && ti->ne.size() == 2) {
    c.vocab_size = ti->ne[1];
  } else {
    return make_error("{}: tensor token_embd.weight missing", f.path());
  }
  c.tie_word_embeddings = !f.has_tensor("output.weight");
  c.qkv_bias = f.has_tensor("blk.0.attn_q.bias");
  c.o_bias = f.has_tensor("blk.0.attn_output.bias");
  c.mlp_bias = f.has_tensor("blk.0.ffn_up.bias");
  c.qk_norm = variant.qk_norm;
  if (f.has("tokenizer.ggml.bos_token_id")) {
    R1_ASSIGN_OR_RETURN(bos, f.get_i64("tokenizer.ggml.bos_token_id"));
    c.bos_token_id = int32_t(bos);
  }
  if (f.has("tokenizer.ggml.eos_token_id")) {
    R1_ASSIGN_OR_RETURN(eos, f.get_i64("tokenizer.ggml.eos_token_id"));
    c.eos_token_ids.push_back(int32_t(eos));
  }
  c.torch_dtype = "gguf";
  R1_TRY(c.validate(f.path()));
  return c;
}

nlohmann::json decoder_config_to_json(const DecoderConfig& c) {
  json j;
  j["model_type"] = c.model_type;
  const DecoderArch* arch = find_decoder_arch(c.model_type);
  R1_CHECK(arch != nullptr, "decoder_config_to_json: model_type '{}' is not a decoder",
           c.model_type);
  j["architectures"] = {std::string(arch->hf_class)};
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["hidden_act"] = "silu";
  if (arch->variant.read_attention_bias) j["attention_bias"] = c.o_bias;
  if (arch->variant.read_mlp_bias) j["mlp_bias"] = c.mlp_bias;
  const auto& s = c.rope_scaling;
  switch (s.type) {
    case kernels::RopeScalingType::None: j["rope_scaling"] = nullptr; break;
    case kernels::RopeScalingType::Linear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", s.factor}};
      break;
    case kernels::RopeScalingType::Llama3:
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", s.factor},
                           {"low_freq_factor", s.low_freq_factor},
                           {"high_freq_factor", s.high_freq_factor},
                           {"original_max_position_embeddings", s.original_max_position_embeddings}};
      break;
    case kernels::RopeScalingType::Yarn:
      j["rope_scaling"] = {{"rope_type", "yarn"},
                           {"factor", s.factor},
                           {"original_max_position_embeddings", s.original_max_position_embeddings},
                           {"beta_fast", s.beta_fast},
                           {"beta_slow", s.beta_slow},
                           {"mscale", s.mscale},
                           {"mscale_all_dim", s.mscale_all_dim}};
      break;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
  return j;
}

}  // namespace r1::models

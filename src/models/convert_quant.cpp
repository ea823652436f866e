// llama.cpp's per-tensor type rules for `r1 convert`; see convert_quant.h. The rules are those of
// llama_tensor_get_type_impl for the file types r1 writes (the branches for the falcon arch,
// 70B llama and MXFP4 are left out).
#include "models/convert_quant.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <numeric>

#include "quant/quantize.h"

namespace r1::models {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// llama.cpp's file types (include/llama.h LLAMA_FTYPE_*) and their default tensor type
// (llama_ftype_get_default_type).
const std::vector<QuantPreset>& presets() {
  static const std::vector<QuantPreset> p = {
      {"f32", DType::F32, 0},          {"f16", DType::F16, 1},
      {"bf16", DType::BF16, 32},       {"q8_0", DType::Q8_0, 7},
      {"q4_0", DType::Q4_0, 2},        {"q4_1", DType::Q4_1, 3},
      {"q5_0", DType::Q5_0, 8},        {"q5_1", DType::Q5_1, 9},
      {"q2_k", DType::Q2_K, 10},       {"q3_k_s", DType::Q3_K, 11},
      {"q3_k_m", DType::Q3_K, 12},     {"q3_k_l", DType::Q3_K, 13},
      {"q4_k_s", DType::Q4_K, 14},     {"q4_k_m", DType::Q4_K, 15},
      {"q5_k_s", DType::Q5_K, 16},     {"q5_k_m", DType::Q5_K, 17},
      {"q6_k", DType::Q6_K, 18},       {"iq4_nl", DType::IQ4_NL, 25},
      {"iq4_xs", DType::IQ4_XS, 30},   {"iq3_s", DType::IQ3_S, 26},
      {"iq3_m", DType::IQ3_S, 27},
      // These put some tensors in types llama.cpp writes only with an importance matrix.
      {"iq2_xxs", DType::IQ2_XXS, 19, true}, {"iq2_xs", DType::IQ2_XS, 20, true},
      {"q2_k_s", DType::Q2_K, 21, true},     {"iq3_xs", DType::IQ3_S, 22, true},
      {"iq3_xxs", DType::IQ3_XXS, 23, true}, {"iq1_s", DType::IQ1_S, 24, true},
      {"iq2_s", DType::IQ2_XS, 28, true},    {"iq2_m", DType::IQ2_S, 29, true},
      {"iq1_m", DType::IQ1_M, 31, true},
  };
  return p;
}

// ggml type names --tensor-type accepts.
constexpr DType kNamedTypes[] = {
    DType::F32,  DType::F16,  DType::BF16,   DType::Q8_0,    DType::Q4_0,   DType::Q4_1,
    DType::Q5_0, DType::Q5_1, DType::Q2_K,   DType::Q3_K,    DType::Q4_K,   DType::Q5_K,
    DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S,
    DType::IQ3_XXS, DType::IQ3_S, DType::IQ1_S, DType::IQ1_M};

// tensor_requires_imatrix: llama.cpp refuses these without importance data for the tensor.
bool requires_imatrix(const std::string& name, DType t, const std::string& ftype) {
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight")
    return false;
  if (t == DType::Q2_K) return ftype == "q2_k_s";
  return t == DType::IQ2_XXS || t == DType::IQ2_XS || t == DType::IQ2_S || t == DType::IQ3_XXS ||
         t == DType::IQ1_S || t == DType::IQ1_M;
}

bool is_quantized(DType t) { return dtype_traits(t).quantized; }

// llama_quantize's tensor categories (tensor_get_category): by substring of the GGUF name.
enum class Category { Output, TokenEmbd, AttnQkv, AttnKvB, AttnV, AttnK, AttnQ, AttnOutput,
                      FfnUp, FfnGate, FfnDown, Other };

Category category_of(const std::string& n) {
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (n == "output.weight") return Category::Output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::TokenEmbd;
  if (has("attn_qkv.weight")) return Category::AttnQkv;
  if (has("attn_kv_b.weight")) return Category::AttnKvB;
  if (has("attn_v.weight")) return Category::AttnV;
  if (has("attn_k.weight")) return Category::AttnK;
  if (has("attn_q.weight")) return Category::AttnQ;
  if (has("attn_output.weight")) return Category::AttnOutput;
  if (has("ffn_up")) return Category::FfnUp;
  if (has("ffn_gate")) return Category::FfnGate;
  if (has("ffn_down")) return Category::FfnDown;
  return Category::Other;
}

bool is_attn_v_like(Category c) {
  return c == Category::AttnV || c == Category::AttnQkv || c == Category::AttnKvB;
}

// tensor_allows_quantization, for the tensors r1's converters write.
bool allows_quantization(const QuantTensor& t) {
  if (t.ndim < 2) return false;
  const std::string& n = t.name;
  if (!n.ends_with("weight")) return false;
  if (n.find("_norm.weight") != std::string::npos) return false;
  if (n.find("ffn_gate_inp.weight") != std::string::npos) return false;
  return true;
}

// Layer of "blk.N.*", -1 otherwise (llama_model_loader's weight_name_comparer key).
int layer_of(const std::string& n) {
  int l = -1;
  if (std::sscanf(n.c_str(), "blk.%d.", &l) != 1) return -1;
  return l;
}

// Layers that get more bits in the _M presets: the first and last eighth and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// tensor_type_fallback: a type whose block does not divide the row.
DType fallback(DType t, int64_t row_len) {
  const int64_t bs = dtype_traits(t).block_size;
  if (row_len % bs == 0) return t;
  DType r = t;
  switch (t) {
    case DType::IQ1_S: case DType::IQ1_M: case DType::IQ2_XXS: case DType::IQ2_XS:
    case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S: case DType::IQ4_XS:
      r = DType::IQ4_NL; break;
    case DType::Q2_K: case DType::Q3_K: r = DType::Q4_0; break;
    case DType::Q4_K: r = DType::Q5_0; break;
    case DType::Q5_K: r = DType::Q5_1; break;
    case DType::Q6_K: r = DType::Q8_0; break;
    default: break;  // a 32-block type: F16 below
  }
  return row_len % dtype_traits(r).block_size == 0 ? r : DType::F16;
}

struct RuleState {
  int n_attention_wv = 0, i_attention_wv = 0, i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
  bool tied = true;
};

// llama.cpp's layer_info: for MoE models the layer comes from the name (experts are not
// consecutive), else the category's running counter.
Result<int> layer_for(const QuantTensor& tensor, int counter, const QuantModelShape& m) {
  if (m.n_expert <= 1) return counter;
  const int l = layer_of(tensor.name);
  if (l < 0 || l >= int(m.n_layer))
    return make_error("convert: cannot tell the layer of tensor {} (of {})", tensor.name, m.n_layer);
  return l;
}

// llama_tensor_get_type_impl for the presets of `presets()` (arch-specific branches for falcon,
// 70B llama and MXFP4 left out). has_imatrix: an importance matrix was given (some rules differ).
Result<DType> preset_rule(const std::string& ftype, DType t, const QuantTensor& tensor,
                          Category cat, const QuantModelShape& m, bool has_imatrix, RuleState& s) {
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (ftype == n) return true;
    return false;
  };
  const int64_t n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 1;
  const int n_layer = int(m.n_layer);
  const bool iq12 = is({"iq2_xxs", "iq2_xs", "iq1_s", "iq2_s", "iq2_m", "iq1_m"});
  if (cat == Category::Output || (s.tied && cat == Category::TokenEmbd)) {
    if (tensor.row_len % dtype_traits(t).block_size != 0) return DType::Q8_0;
    if (iq12 || is({"iq3_xxs"})) return DType::Q5_K;
    return t != DType::Q8_0 ? DType::Q6_K : t;
  }
  if (cat == Category::TokenEmbd) {
    if (is({"iq2_xxs", "iq2_xs", "iq1_s", "iq1_m"})) return DType::Q2_K;
    if (is({"iq2_s", "iq2_m", "iq3_xxs"})) return DType::IQ3_S;
    return t;
  }
  if (iq12) {
    const bool s_or_m = is({"iq2_s", "iq2_m"});
    if (is_attn_v_like(cat)) {
      if (n_gqa >= 4 || m.n_expert >= 4) t = DType::Q4_K;
      else t = s_or_m ? DType::IQ3_S : DType::Q2_K;
      ++s.i_attention_wv;
    } else if (m.n_expert == 8 && cat == Category::AttnK) {
      t = DType::Q4_K;
    } else if (cat == Category::FfnDown) {
      if (s.i_ffn_down < n_layer / 8) t = s_or_m ? DType::IQ3_S : DType::Q2_K;
      ++s.i_ffn_down;
    } else if (cat == Category::AttnOutput) {
      if (m.n_expert == 8) t = DType::Q5_K;
      else if (is({"iq1_s", "iq1_m"})) t = DType::IQ2_XXS;
      else if (s_or_m) t = DType::IQ3_S;
    }
    return t;
  }
  if (is_attn_v_like(cat)) {
    if (is({"q2_k"})) t = n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    else if (is({"q2_k_s"}) && n_gqa >= 4) t = DType::Q4_K;
    else if (is({"iq3_xxs"})) t = n_gqa >= 4 ? DType::Q4_K : !has_imatrix ? DType::IQ3_S : DType::IQ3_XXS;
    else if (is({"iq3_xs", "iq3_s"}) && n_gqa >= 4) t = DType::Q4_K;
    else if (is({"iq3_m"})) t = DType::Q4_K;
    else if (is({"q3_k_m"})) t = s.i_attention_wv < 2 ? DType::Q5_K : DType::Q4_K;
    else if (is({"q3_k_l"})) t = DType::Q5_K;
    else if (is({"iq4_nl", "iq4_xs"}) && n_gqa >= 4) t = DType::Q5_K;
    else if (is({"q4_k_m", "q5_k_m"}) && use_more_bits(s.i_attention_wv, s.n_attention_wv))
      t = DType::Q6_K;
    else if (is({"q4_k_s"}) && s.i_attention_wv < 4) t = DType::Q5_K;
    if (m.n_expert == 8) t = DType::Q8_0;
    ++s.i_attention_wv;
    return t;
  }
  if (cat == Category::AttnK) {
    if (m.n_expert == 8) return DType::Q8_0;
    if (is({"iq3_xs"})) return DType::IQ3_XXS;
    if (is({"iq3_xxs"})) return DType::IQ2_S;
    return t;
  }
  if (cat == Category::AttnQ) {
    if (is({"iq3_xs"})) return DType::IQ3_XXS;
    if (is({"iq3_xxs"})) return DType::IQ2_S;
    return t;
  }
  if (cat == Category::FfnDown) {
    R1_ASSIGN_OR_RETURN(i_layer, layer_for(tensor, s.i_ffn_down, m));
    if (is({"q2_k"})) t = DType::Q3_K;
    else if (is({"q2_k_s"})) { if (i_layer < n_layer / 8) t = DType::Q4_K; }
    else if (is({"iq3_xxs"}) && !has_imatrix) t = i_layer < n_layer / 8 ? DType::Q4_K : DType::Q3_K;
    else if (is({"q3_k_m"})) t = i_layer < n_layer / 16 ? DType::Q5_K : DType::Q4_K;
    else if (is({"iq3_m"}) && (i_layer < n_layer / 8 || (m.n_expert == 8 && use_more_bits(i_layer, n_layer))))
      t = DType::Q4_K;
    else if (is({"q3_k_l"})) t = DType::Q5_K;
    else if (is({"q4_k_m"})) { if (use_more_bits(i_layer, n_layer)) t = DType::Q6_K; }
    else if (i_layer < n_layer / 8 && is({"iq4_nl", "iq4_xs"}) && !has_imatrix) t = DType::Q5_K;
    else if (is({"q5_k_m"}) && use_more_bits(i_layer, n_layer)) t = DType::Q6_K;
    else if (is({"q4_k_s"}) && i_layer < n_layer / 8) t = DType::Q5_K;
    else if (is({"q4_0", "q5_0"}) && has_imatrix && i_layer < n_layer / 8)
      t = is({"q4_0"}) ? DType::Q4_1 : DType::Q5_1;
    ++s.i_ffn_down;
    return t;
  }
  if (cat == Category::AttnOutput) {
    if (m.n_expert == 8) {
      if (is({"q2_k", "iq3_xs", "iq3_xxs", "q3_k_s", "q3_k_m", "iq4_nl", "q4_k_s", "q4_k_m",
              "iq3_s", "iq3_m", "iq4_xs"}))
        t = DType::Q5_K;
    } else if (is({"q2_k"})) {
      t = DType::Q3_K;
    } else if (is({"iq3_xxs"})) {
      t = DType::IQ3_S;
    } else if (is({"q3_k_m", "iq3_m"})) {
      t = DType::Q4_K;
    } else if (is({"q3_k_l"})) {
      t = DType::Q5_K;
    }
    return t;
  }
  if (cat == Category::FfnGate || cat == Category::FfnUp) {
    int& counter = cat == Category::FfnGate ? s.i_ffn_gate : s.i_ffn_up;
    R1_ASSIGN_OR_RETURN(i_layer, layer_for(tensor, counter, m));
    if (is({"iq3_xs"}) && i_layer >= n_layer / 8 && i_layer < 7 * n_layer / 8) t = DType::IQ3_XXS;
    ++counter;
  }
  return t;
}

}  // namespace

QuantOptions::QuantOptions(DType t) : preset{std::string(lower(std::string(dtype_name(t)))), t, 0} {
  for (const auto& p : presets())
    if (p.base == t && !p.needs_imatrix) {
      preset = p;
      break;
    }
}

std::string quant_preset_names() {
  std::string s;
  for (const auto& p : presets()) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

Result<QuantPreset> find_quant_preset(const std::string& name) {
  const std::string n = lower(name);
  for (const auto& p : presets())
    if (p.name == n) return p;
  return make_error("unknown --type '{}' (known: {})", name, quant_preset_names());
}

Result<TensorTypeOverride> parse_tensor_type_override(const std::string& spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    return make_error("--tensor-type '{}': expected PATTERN=TYPE (e.g. 'ffn_.*_exps=iq4_xs')",
                      spec);
  TensorTypeOverride o;
  o.pattern = spec.substr(0, eq);
  const std::string type_name = lower(spec.substr(eq + 1));
  bool found = false;
  std::string known;
  for (DType t : kNamedTypes) {
    const std::string n = lower(std::string(dtype_name(t)));
    known += (known.empty() ? "" : ", ") + n;
    if (n == type_name) {
      o.type = t;
      found = true;
    }
  }
  if (!found)
    return make_error("--tensor-type '{}': unknown type '{}' (known: {})", spec,
                      spec.substr(eq + 1), known);
  try {
    o.re = std::regex(o.pattern);
  } catch (const std::regex_error& e) {
    return make_error("--tensor-type '{}': malformed regex '{}': {}", spec, o.pattern, e.what());
  }
  return o;
}

Result<std::vector<DType>> choose_tensor_types(const std::vector<QuantTensor>& tensors,
                                               const QuantModelShape& shape,
                                               const QuantOptions& opt) {
  RuleState s;
  for (const auto& t : tensors) {
    if (is_attn_v_like(category_of(t.name))) ++s.n_attention_wv;
    if (category_of(t.name) == Category::Output) s.tied = false;
  }
  // llama.cpp visits tensors by layer (non-layer tensors first), then by name.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    return la != lb ? la < lb : tensors[a].name < tensors[b].name;
  });
  const DType base = opt.preset.base;
  std::vector<DType> out(tensors.size(), DType::F32);
  for (size_t i : order) {
    const QuantTensor& t = tensors[i];
    if (!allows_quantization(t)) continue;  // F32
    DType type = base;
    if (is_quantized(base)) {
      bool manual = false;
      for (const auto& o : opt.overrides)
        if (std::regex_search(t.name, o.re)) {
          type = o.type;
          manual = true;
          break;
        }
      if (!manual && !opt.pure) {
        R1_ASSIGN_OR_RETURN(r, preset_rule(opt.preset.name, type, t, category_of(t.name), shape,
                                           opt.imatrix != nullptr, s));
        type = r;
      }
      type = fallback(type, t.row_len);
    }
    if (!opt.imatrix && requires_imatrix(t.name, type, opt.preset.name))
      return make_error("convert: tensor {} would be {}, which needs an importance matrix "
                        "(--imatrix FILE)", t.name, dtype_name(type));
    if (!quant::can_quantize(type))
      return make_error("convert: tensor {}: r1 cannot write type {}", t.name, dtype_name(type));
    out[i] = type;
  }
  return out;
}

Result<std::shared_ptr<const std::vector<float>>> imatrix_for_tensor(const std::string& name,
                                                                     const Tensor& t, DType type,
                                                                     const QuantOptions& q) {
  using Out = std::shared_ptr<const std::vector<float>>;
  if (!q.imatrix || !is_quantized(type) || type == t.dtype()) return Out{};
  const auto it = q.imatrix->find(name);
  if (it == q.imatrix->end()) {
    if (requires_imatrix(name, type, q.preset.name))
      return make_error("convert: missing importance matrix for tensor {} (type {}): the imatrix "
                        "has no entry of that name", name, dtype_name(type));
    return Out{};
  }
  const int64_t n_mat = t.ndim() >= 3 ? t.dim(0) : 1;
  if (int64_t(it->second.size()) != t.row_len() * n_mat) {
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Out{};
    return make_error("convert: imatrix entry {} has {} values, the tensor needs {} ({} x {})",
                      name, it->second.size(), t.row_len() * n_mat, n_mat, t.row_len());
  }
  return std::make_shared<const std::vector<float>>(it->second);
}

}  // namespace r1::models

// The storage type of each tensor `r1 convert` writes: llama.cpp's file types (`--type q4_k_m`)
// with the per-tensor rules of its quantizer (llama_tensor_get_type in src/llama-quant.cpp,
// llama.cpp tag v0.4.0 / commit 80fb11ac), the fallbacks for rows that are not whole blocks, and
// `--tensor-type REGEX=TYPE` overrides (llama-quantize's flag of the same name).
#pragma once
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/result.h"

namespace r1::models {

/// A llama.cpp file type (LLAMA_FTYPE_*): the name `--type` takes, the type of most matrices,
/// and general.file_type. needs_imatrix: llama.cpp refuses it without an importance matrix.
struct QuantPreset {
  std::string name;  // e.g. "q4_k_m"
  DType base;        // e.g. Q4_K
  uint32_t file_type;
  bool needs_imatrix = false;
};

/// `--tensor-type PATTERN=TYPE`: tensors whose GGUF name contains a match of PATTERN
/// (ECMAScript regex, std::regex_search, as llama.cpp) are stored as `type`; the first matching
/// override wins.
struct TensorTypeOverride {
  std::string pattern;
  std::regex re;
  DType type;
};

/// Everything that decides tensor types. `pure`: every matrix gets preset.base (llama-quantize
/// --pure), only the fallbacks apply. An implicit DType converts to its plain preset (f32, f16,
/// bf16, q8_0, q4_0, ...), as older callers pass a DType.
struct QuantOptions {
  QuantPreset preset;
  std::vector<TensorTypeOverride> overrides;
  bool pure = false;
  QuantOptions(DType t);  // NOLINT(google-explicit-constructor): see above
  explicit QuantOptions(QuantPreset p) : preset(std::move(p)) {}
};

/// The names `--type` accepts, comma-separated.
std::string quant_preset_names();
/// The preset called `name` (case-insensitive). Errors: an unknown name, listing the known ones.
Result<QuantPreset> find_quant_preset(const std::string& name);
/// Parses "PATTERN=TYPE" (TYPE a ggml type name such as q6_k, iq4_xs, f16; case-insensitive;
/// the last '=' splits). Errors: no '=', an empty side, a malformed regex, an unknown type.
Result<TensorTypeOverride> parse_tensor_type_override(const std::string& spec);

/// What the rules read from the model: block_count, head counts of layer 0, expert_count (0 for
/// dense models).
struct QuantModelShape {
  int64_t n_layer = 0, n_head = 1, n_head_kv = 1, n_expert = 0;
};

/// One tensor as the rules see it: GGUF name, number of dims, row length (GGUF ne[0]).
struct QuantTensor {
  std::string name;
  int ndim;
  int64_t row_len;
};

/// The storage type of each of `tensors` (same order). Tensors llama.cpp never quantizes (1-D,
/// names not ending in "weight", *_norm.weight, the MoE router ffn_gate_inp) are F32. Others get
/// preset.base refined by llama.cpp's rules for the preset (tensors visited in llama.cpp's order:
/// by layer, then by name, which its counters over attn_v / ffn_down depend on), or an override,
/// then the fallback when the row is not whole blocks (IQ4_XS -> IQ4_NL, Q2_K/Q3_K -> Q4_0, Q4_K
/// -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16). Errors: a chosen type r1 cannot write (the
/// importance-matrix IQ types, named with the tensor), a tensor name without its layer in a MoE
/// model.
Result<std::vector<DType>> choose_tensor_types(const std::vector<QuantTensor>& tensors,
                                               const QuantModelShape& shape,
                                               const QuantOptions& opt);

}  // namespace r1::models

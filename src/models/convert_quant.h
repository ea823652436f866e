// The storage type of each tensor `r1 convert` writes: llama.cpp's file types (`--type q4_k_m`)
// with the per-tensor rules of its quantizer (llama_tensor_get_type in src/llama-quant.cpp,
// llama.cpp tag v0.4.0 / commit 80fb11ac), the fallbacks for rows that are not whole blocks, and
// `--tensor-type REGEX=TYPE` overrides (llama-quantize's flag of the same name).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/result.h"
#include "core/tensor.h"

namespace r1::models {

/// A llama.cpp file type (LLAMA_FTYPE_*): the name `--type` takes, the type of most matrices,
/// and general.file_type. needs_imatrix: some of its tensors get types llama.cpp refuses to write
/// without an importance matrix (IQ1_*, IQ2_*, IQ3_XXS, and Q2_K in q2_k_s).
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

/// Per-column importance of each weight matrix, by GGUF tensor name: ne0 floats per matrix,
/// matrices (experts) one after another (llama-quantize's imatrix data; see
/// convert_quant_imatrix.h).
using ImatrixValues = std::map<std::string, std::vector<float>>;

/// Everything that decides tensor types. `imatrix` (may be null): importance data; with it the
/// types that need one can be written, the quantisers take ggml's weighted paths, and a few
/// rules change as in llama.cpp (e.g. q4_0's first ffn_down layers become q4_1). `pure`: every matrix gets preset.base (llama-quantize
/// --pure), only the fallbacks apply. An implicit DType converts to its plain preset (f32, f16,
/// bf16, q8_0, q4_0, ...), as older callers pass a DType.
struct QuantOptions {
  QuantPreset preset;
  std::vector<TensorTypeOverride> overrides;
  bool pure = false;
  std::shared_ptr<const ImatrixValues> imatrix;
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
/// -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ types -> IQ4_NL, then F16). Errors: a type that needs
/// an importance matrix without opt.imatrix (naming the tensor), a type r1 cannot write, a tensor
/// name without its layer in a MoE model.
Result<std::vector<DType>> choose_tensor_types(const std::vector<QuantTensor>& tensors,
                                               const QuantModelShape& shape,
                                               const QuantOptions& opt);

/// The importance weights q.imatrix holds for tensor `name` (shape of `t`) stored as `type`, as
/// llama-quantize looks them up: null without an imatrix, for an unquantized type, or when the
/// imatrix has no entry for the tensor; else the entry, which must hold row_len floats per matrix
/// (per expert of a 3-D tensor). Errors: no entry for a tensor whose type needs one ("missing
/// importance matrix for tensor ..."); an entry of another size (token_embd excepted: llama.cpp
/// then quantizes it without).
Result<std::shared_ptr<const std::vector<float>>> imatrix_for_tensor(const std::string& name,
                                                                     const Tensor& t, DType type,
                                                                     const QuantOptions& q);

}  // namespace r1::models

// Rotary position embeddings (RoFormer, Su et al. 2021) with the frequency scalings used by the
// models we load: none, "linear", "llama3" (Llama 3.1) and "yarn" (Peng et al. 2023, YaRN, as
// HF DeepseekV3YarnRotaryEmbedding configures it). The table holds inverse frequencies only;
// cos/sin are computed per position when applied (positions are arbitrary int32, no max length).
#pragma once
#include <cstdint>
#include <vector>

namespace r1::kernels {

enum class RopeScalingType { None, Linear, Llama3, Yarn };

/// `rope_scaling` of config.json. Only the fields of `type` are read; defaults are HF's.
struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;                            // linear, llama3, yarn
  double low_freq_factor = 1.0;                   // llama3
  double high_freq_factor = 4.0;                  // llama3
  int64_t original_max_position_embeddings = 0;  // llama3 (8192), yarn (4096 for DeepSeek-V3)
  double beta_fast = 32.0;                        // yarn
  double beta_slow = 1.0;                         // yarn
  double mscale = 1.0;                            // yarn
  double mscale_all_dim = 0.0;                    // yarn
};

/// Precomputed rotary frequencies for one rotary dimension R (even).
/// Angle of pair i at position p: p * inv_freq[i]; cos/sin are multiplied by attention_factor
/// (1 except for yarn, where it is yarn_get_mscale(factor, mscale) /
/// yarn_get_mscale(factor, mscale_all_dim), as HF DeepSeek-V3 scales its cos/sin cache).
struct RopeTable {
  int64_t rot_dim = 0;             // R
  std::vector<float> inv_freq;     // [R/2]
  float attention_factor = 1.0f;   // multiplies cos and sin
};

/// Builds the table: base inv_freq[i] = 1 / theta^(2i/R) (HF _compute_default_rope_parameters),
/// then the scaling:
///  - Linear: inv_freq / factor.
///  - Llama3: HF _compute_llama3_parameters (wavelength bands from low/high_freq_factor and
///    original_max_position_embeddings; smooth interpolation in the middle band).
///  - Yarn: HF DeepseekV3YarnRotaryEmbedding: correction range from beta_fast/beta_slow
///    (yarn_find_correction_range), linear ramp mask over R/2, blend of interpolated
///    (inv_freq/factor) and extrapolated (inv_freq) frequencies; attention_factor as above.
/// Checks: R even and > 0, theta > 0, factor > 0, original_max_position_embeddings > 0 where used.
RopeTable rope_table(double theta, int64_t rot_dim, const RopeScaling& scaling = {});

/// YaRN's attention temperature term (YaRN paper §3.4, DeepSeek-V3 `yarn_get_mscale`):
/// 1 if scale <= 1, else 0.1 * mscale * ln(scale) + 1. MLA multiplies its softmax scale by
/// yarn_get_mscale(factor, mscale_all_dim)^2.
double yarn_get_mscale(double scale, double mscale);

/// Pairing of rotated dims within a head's rotary slice of R dims.
enum class RopeLayout {
  NeoX,         // rotate-half (HF Llama/Qwen2): pairs (i, i + R/2)
  Interleaved,  // GPT-J / llama.cpp ROPE_TYPE_NORM / GGUF llama: pairs (2i, 2i + 1)
};

/// Rotates in place, for t < T and h < H, the R = table.rot_dim floats at
///   x + t * token_stride + h * head_stride
/// by the angle of position positions[t]. Strides are in floats. For q [T, H, Hd] rotating the
/// first R dims: token_stride = H*Hd, head_stride = Hd. For DeepSeek-V3 q, whose rope part is the
/// LAST qk_rope_head_dim dims of each head, pass x + qk_nope_head_dim; for the shared k_pe
/// [T, R] pass H = 1. positions: [T] int32 (may be any order; negative allowed).
/// Pair (a, b) becomes (a*cos - b*sin, b*cos + a*sin), cos/sin scaled by attention_factor.
void rope_apply(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                int64_t token_stride, int64_t head_stride, const int32_t* positions);
/// Scalar reference of rope_apply (angles in f64).
void rope_apply_ref(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                    int64_t token_stride, int64_t head_stride, const int32_t* positions);

}  // namespace r1::kernels

#include "models/init_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/io_util.h"
#include "models/tensor_names.h"

namespace r1::models {
namespace {

DecoderConfig qwen2(int64_t V, int64_t D, int64_t F, int64_t L, int64_t H, int64_t Hkv,
                    int64_t max_pos, bool tied) {
  DecoderConfig c;
  c.model_type = "qwen2";
  c.vocab_size = V;
  c.hidden_size = D;
  c.intermediate_size = F;
  c.num_hidden_layers = L;
  c.num_attention_heads = H;
  c.num_key_value_heads = Hkv;
  c.head_dim = D / H;
  c.rope_dim = c.head_dim;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = max_pos;
  c.tie_word_embeddings = tied;
  c.qkv_bias = true;
  return c;
}

// Qwen3: no biases, per-head q/k RMSNorm, head_dim explicit (not D / H), rope_theta 1e6.
DecoderConfig qwen3(int64_t V, int64_t D, int64_t F, int64_t L, int64_t H, int64_t Hkv,
                    int64_t Hd, int64_t max_pos, bool tied) {
  DecoderConfig c = qwen2(V, D, F, L, H, Hkv, max_pos, tied);
  c.model_type = "qwen3";
  c.head_dim = Hd;
  c.rope_dim = Hd;
  c.rope_theta = 1000000.0;
  c.qkv_bias = false;
  c.qk_norm = true;
  return c;
}

DecoderConfig llama(int64_t V, int64_t D, int64_t F, int64_t L, int64_t H, int64_t Hkv,
                    int64_t max_pos, int64_t orig_max_pos) {
  DecoderConfig c;
  c.model_type = "llama";
  c.vocab_size = V;
  c.hidden_size = D;
  c.intermediate_size = F;
  c.num_hidden_layers = L;
  c.num_attention_heads = H;
  c.num_key_value_heads = Hkv;
  c.head_dim = D / H;
  c.rope_dim = c.head_dim;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.max_position_embeddings = max_pos;
  c.rope_scaling.type = kernels::RopeScalingType::Llama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = orig_max_pos;
  return c;
}

std::vector<ModelPreset> make_presets() {
  std::vector<ModelPreset> p;
  // deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/config.json
  auto q15 = qwen2(151936, 1536, 8960, 28, 12, 2, 131072, false);
  q15.bos_token_id = 151643;
  q15.eos_token_ids = {151643};
  p.push_back({"r1-distill-qwen-1.5b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", q15});
  // deepseek-ai/DeepSeek-R1-Distill-Qwen-7B/config.json
  auto q7 = qwen2(152064, 3584, 18944, 28, 28, 4, 131072, false);
  q7.bos_token_id = 151643;
  q7.eos_token_ids = {151643};
  p.push_back({"r1-distill-qwen-7b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", q7});
  // deepseek-ai/DeepSeek-R1-Distill-Llama-8B/config.json (Llama 3.1 8B shape)
  auto l8 = llama(128256, 4096, 14336, 32, 32, 8, 131072, 8192);
  l8.bos_token_id = 128000;
  l8.eos_token_ids = {128001};
  p.push_back({"r1-distill-llama-8b", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", l8});
  // deepseek-ai/DeepSeek-R1-0528-Qwen3-8B (Qwen3-8B's shape: 36 layers, 32 q / 8 kv heads of
  // 128). Shapes only: its YaRN context extension and token ids are not reproduced here.
  auto q3_8 = qwen3(151936, 4096, 12288, 36, 32, 8, 128, 32768, false);
  p.push_back({"r1-0528-qwen3-8b", "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", q3_8});
  // Tiny models for tests (vocab 256; head_dim 16, qwen3 32 = 2 * D / H).
  auto qt = qwen2(256, 64, 96, 2, 4, 2, 256, false);
  qt.bos_token_id = 0;
  qt.eos_token_ids = {1};
  p.push_back({"qwen2-tiny", "r1cpp/qwen2-tiny", qt});
  auto qtt = qt;
  qtt.tie_word_embeddings = true;
  p.push_back({"qwen2-tiny-tied", "r1cpp/qwen2-tiny-tied", qtt});
  auto q3t = qwen3(256, 64, 96, 2, 4, 2, 32, 256, false);
  q3t.bos_token_id = 0;
  q3t.eos_token_ids = {1};
  p.push_back({"qwen3-tiny", "r1cpp/qwen3-tiny", q3t});
  auto q3tt = q3t;
  q3tt.tie_word_embeddings = true;
  p.push_back({"qwen3-tiny-tied", "r1cpp/qwen3-tiny-tied", q3tt});
  auto lt = llama(256, 64, 96, 2, 4, 2, 512, 64);
  lt.bos_token_id = 0;
  lt.eos_token_ids = {1};
  p.push_back({"llama-tiny", "r1cpp/llama-tiny", lt});
  for (auto& x : p) x.config.torch_dtype = "float32";
  return p;
}

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Result<void> write_json(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  return write_file_atomic(path, text.data(), text.size());
}

}  // namespace

const std::vector<ModelPreset>& model_presets() {
  static const std::vector<ModelPreset> presets = make_presets();
  return presets;
}

std::optional<ModelPreset> find_preset(const std::string& name) {
  for (const auto& p : model_presets())
    if (p.name == name) return p;
  return std::nullopt;
}

namespace {

// The two normals of pair `pair` of stream `stream`: one 64-bit hash gives two 24-bit uniforms,
// Box-Muller turns them into (r cos a, r sin a). Float math: ~3x faster than double, and the
// values only need to be N(0, std)-distributed, not bit-compatible with any other generator.
inline void normal_pair(uint64_t stream, uint64_t pair, float std, float* a, float* b) {
  const uint64_t h = splitmix64(stream + pair);
  const float u1 = (float(h >> 40) + 1.0f) * (1.0f / 16777216.0f);         // (0, 1]
  const float u2 = float((h >> 8) & 0xffffffu) * (1.0f / 16777216.0f);     // [0, 1)
  const float r = std::sqrt(-2.0f * std::log(u1)) * std;
  const float ang = 6.28318530718f * u2;
  *a = r * std::cos(ang);
  *b = r * std::sin(ang);
}

}  // namespace

void fill_normal(uint64_t seed, uint64_t key, int64_t first, int64_t n, float std, float* out) {
  const uint64_t stream = splitmix64(seed ^ splitmix64(key + 0x51ED270B27C1A3Full));
  int64_t i = first;
  const int64_t end = first + n;
  float a, b;
  if (i < end && i % 2 == 1) {  // odd start: the second value of its pair
    normal_pair(stream, uint64_t(i / 2), std, &a, &b);
    out[i - first] = b;
    ++i;
  }
  for (; i + 1 < end; i += 2) normal_pair(stream, uint64_t(i / 2), std, &out[i - first],
                                          &out[i + 1 - first]);
  if (i < end) {
    normal_pair(stream, uint64_t(i / 2), std, &a, &b);
    out[i - first] = a;
  }
}

Result<void> write_random_model(const ModelPreset& preset, const std::string& out_dir,
                                uint64_t seed, DType dtype, ThreadPool& pool) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    return make_error("init-model: dtype {} is not supported (f32 or bf16)", dtype_name(dtype));
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return make_error("{}: cannot create directory: {}", out_dir, ec.message());

  DecoderConfig cfg = preset.config;
  cfg.torch_dtype = dtype == DType::F32 ? "float32" : "bfloat16";
  nlohmann::json config = decoder_config_to_json(cfg);
  config["_name_or_path"] = preset.name_or_path;
  R1_TRY(write_json(out_dir + "/config.json", config));
  nlohmann::json gen = {{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  if (cfg.bos_token_id >= 0) gen["bos_token_id"] = cfg.bos_token_id;
  if (!cfg.eos_token_ids.empty()) gen["eos_token_id"] = cfg.eos_token_ids[0];
  R1_TRY(write_json(out_dir + "/generation_config.json", gen));

  // Header first (all sizes are known), then each tensor streamed in chunks.
  const auto plan = decoder_tensor_plan(cfg, NameStyle::HF);
  const int64_t elem = dtype == DType::F32 ? 4 : 2;
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& t : plan) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    const uint64_t bytes = uint64_t(numel * elem);
    header[t.name] = {{"dtype", dtype == DType::F32 ? "F32" : "BF16"},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "pt"}, {"r1_init_seed", std::to_string(seed)}};
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  R1_ASSIGN_OR_RETURN(file, io::AtomicFile::create(out_dir + "/model.safetensors"));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  R1_TRY(file.write(len, 8));
  R1_TRY(file.write(h.data(), h.size()));

  constexpr int64_t kChunk = int64_t(1) << 22;  // 4M elements (16 MB f32) in memory at a time
  std::vector<float> buf;
  std::vector<uint16_t> buf16;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const auto& t = plan[ti];
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    for (int64_t c0 = 0; c0 < numel; c0 += kChunk) {
      const int64_t n = std::min(kChunk, numel - c0);
      buf.resize(size_t(n));
      if (t.is_norm) {
        std::fill(buf.begin(), buf.end(), 1.0f);
      } else {
        pool.parallel_for(n, 1 << 15, [&](int64_t b, int64_t e, int) {
          fill_normal(seed, uint64_t(ti), c0 + b, e - b, 0.02f, buf.data() + b);
        });
      }
      if (dtype == DType::F32) {
        R1_TRY(file.write(buf.data(), size_t(n) * 4));
      } else {
        buf16.resize(size_t(n));
        pool.parallel_for(n, 1 << 15, [&](int64_t b, int64_t e, int) {
          for (int64_t i = b; i < e; ++i) buf16[size_t(i)] = f32_to_bf16(buf[size_t(i)]);
        });
        R1_TRY(file.write(buf16.data(), size_t(n) * 2));
      }
    }
  }
  return file.commit();
}

}  // namespace r1::models

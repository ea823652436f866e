// `r1 convert --type TYPE` (K-quant presets, IQ4, Q4_1/Q5_x) against llama.cpp's own quantizer on
// the same input: random-weight llama, qwen2 and deepseek2 checkpoints at widths that are whole
// 256-blocks (and a few rows that are not: deepseek2's attn_k_b rows of 32, the fallbacks), made
// here with r1's init-model writers. For each type r1 writes FILE directly from the HF directory;
// llama_quantize writes REF from r1's F32 conversion of the same directory. Checks:
//  - every tensor of FILE has REF's type (llama.cpp's per-tensor rules, counters and fallbacks)
//    and REF's bytes (the quantisers are bit-identical to ggml's reference ones);
//  - llama.cpp loads FILE and its logits on a short prompt (decode kernels, T < 8) equal r1's on
//    FILE. Both engines quantise activations the same way (Q8_K / Q8_0 / Q8_1) and sum the same
//    integers, so most files agree to f32 summation order (measured 1e-7..4e-7 of max|logit|).
//    Where an activation lands within an ulp of a rounding half, the two engines' ulp-level
//    differences round it to neighbouring levels: a relative perturbation of at most 1/254 of
//    its block's max on some inputs of a matmul. Bound, as quant_ref_cli_test.cpp derives it for
//    the worst case (every activation rounded differently): sqrt(2L + 1) * (1/254) * 3 (block
//    max / rms) of max|logit| over 2L + 1 matmuls on the residual path, 4.9% for L = 8. Measured
//    on some files: 0.7-1.8% (printed), so this bound is what the check holds.
// Bad input (unknown --type, malformed --tensor-type, a type that needs an importance matrix)
// gives one line and a non-zero exit; --tensor-type overrides land on the tensors they name.
// Needs llama.cpp's oracle and quantizer ([needs oracle], found as tests/oracle_util.h says);
// the models are tiny (vocab 256, 8 layers of width 256).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.h"
#include "oracle_util.h"
#include "core/test_util.h"
#include "core/thread_pool.h"
#include "io/gguf.h"
#include "models/convert_quant_imatrix.h"
#include "models/init_model.h"
#include "models/npy.h"

namespace {

using namespace r1::test::cli;
using namespace r1::test::oracle;
namespace fs = std::filesystem;

// The logit tolerance above for a model of n_layer layers.
double logit_tol(int n_layer) { return std::sqrt(2.0 * n_layer + 1) * (1.0 / 254) * 3; }



// The HF directories, made once per process in one temporary directory.
r1::test::TempDir& work() {
  static r1::test::TempDir d;
  return d;
}

// Random-weight HF checkpoint of `arch` (llama, qwen2, deepseek2); "" on failure.
std::string hf_model(const std::string& arch) {
  static std::map<std::string, std::string> made;
  if (auto it = made.find(arch); it != made.end()) return it->second;
  const std::string dir = work().file("hf-" + arch);
  bool ok = false;
  if (arch == "deepseek2") {
    // 8 routed experts: llama.cpp's n_expert == 8 rules (attn_output) apply.
    const nlohmann::json c = {
        {"model_type", "deepseek_v3"}, {"vocab_size", 256},         {"hidden_size", 256},
        {"intermediate_size", 512},    {"moe_intermediate_size", 256}, {"num_hidden_layers", 3},
        {"first_k_dense_replace", 1},  {"moe_layer_freq", 1},       {"num_attention_heads", 4},
        {"num_key_value_heads", 4},    {"n_routed_experts", 8},     {"n_shared_experts", 1},
        {"num_experts_per_tok", 2},    {"n_group", 1},              {"topk_group", 1},
        {"routed_scaling_factor", 2.5}, {"norm_topk_prob", true},   {"scoring_func", "sigmoid"},
        {"topk_method", "noaux_tc"},   {"q_lora_rank", 256},        {"kv_lora_rank", 256},
        {"qk_nope_head_dim", 32},      {"qk_rope_head_dim", 32},    {"v_head_dim", 64},
        {"rope_theta", 10000.0},       {"rms_norm_eps", 1e-6},      {"max_position_embeddings", 256},
        {"tie_word_embeddings", false}, {"num_nextn_predict_layers", 0}, {"bos_token_id", 0},
        {"eos_token_id", 1}};
    ok = r1::models::write_random_deepseek_v3(c, dir, 7).ok();
  } else {
    auto p = r1::models::find_preset(arch == "llama" ? "llama-tiny" : "qwen2-tiny");
    if (!p) return "";
    auto& c = p->config;
    // 8 layers so that the _M presets' "more bits" layers (first/last eighth, every third) and
    // llama.cpp's attn_v / ffn_down counters matter; qwen2 with 8 q heads on 2 kv heads
    // (n_gqa 4: Q2_K / IQ4 give attn_v more bits), llama with n_gqa 1. llama's vocab rows of 256.
    c.hidden_size = 256;
    c.intermediate_size = arch == "llama" ? 768 : 512;
    c.num_hidden_layers = 8;
    c.num_attention_heads = arch == "llama" ? 4 : 8;
    c.num_key_value_heads = arch == "llama" ? 4 : 2;
    c.head_dim = c.hidden_size / c.num_attention_heads;
    c.rope_dim = c.head_dim;
    r1::ThreadPool pool(1);
    ok = r1::models::write_random_model(*p, dir, 7, r1::DType::F32, pool).ok();
  }
  if (!ok) return "";
  made[arch] = dir;
  return dir;
}

struct Tensors {
  std::map<std::string, std::pair<std::string, std::string>> by_name;  // type name, bytes
};

Tensors read_tensors(const std::string& path) {
  Tensors t;
  auto f = r1::io::GgufFile::open(path);
  if (!f.ok()) return t;
  const std::string bytes = slurp(path);
  for (const auto& i : f->tensor_infos())
    t.by_name[i.name] = {i.type_name(), bytes.substr(size_t(f->data_offset() + i.offset), size_t(i.nbytes))};
  return t;
}

struct Case {
  std::string arch, type;
  bool imatrix = false;  // r1 --imatrix ONES.gguf against llama_quantize --imatrix-ones
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.arch << " " << c.type << (c.imatrix ? " imatrix" : "");
}

// An importance matrix of ones for every matrix of the GGUF at f32 (ne0 values per expert),
// written in llama.cpp's imatrix GGUF layout (sums 1, counts 1): what llama_quantize's
// --imatrix-ones hands llama.cpp directly, so equal bytes also check that r1 reads the layout.
std::string ones_imatrix(const std::string& f32, const std::string& out) {
  if (fs::exists(out)) return out;
  auto f = r1::io::GgufFile::open(f32);
  if (!f.ok()) return "";
  r1::models::Imatrix m;
  m.datasets = {"ones"};
  for (const auto& t : f->tensor_infos()) {
    if (t.ne.size() < 2) continue;
    const int64_t n_mat = t.ne.size() >= 3 ? t.ne[2] : 1;
    auto& e = m.entries[t.name];
    e.sums.assign(size_t(t.ne[0] * n_mat), 1.0f);
    e.counts.assign(size_t(n_mat), 1);
  }
  return r1::models::write_imatrix_gguf(m, out).ok() ? out : "";
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string case_name(const testing::TestParamInfo<Case>& i) {
  return i.param.arch + "_" + i.param.type + (i.param.imatrix ? "_imatrix" : "");
}

class ConvertQuant : public testing::TestWithParam<Case> {};

TEST_P(ConvertQuant, TypesAndBytesMatchLlamaQuantizeAndLlamaCppLoadsIt) {
  R1_SKIP_UNLESS_ORACLE();
  const Case& c = GetParam();
  const std::string hf = hf_model(c.arch);
  ASSERT_FALSE(hf.empty()) << "could not write the " << c.arch << " checkpoint";
  r1::test::TempDir tmp;
  const std::string f32 = work().file(c.arch + "-f32.gguf");
  if (!fs::exists(f32)) {
    auto r = run_r1({"convert", hf, "--out", f32, "--type", "f32"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  const std::string mine = tmp.file("r1.gguf"), ref = tmp.file("ref.gguf");
  std::vector<std::string> args = {"convert", hf, "--out", mine, "--type", c.type};
  if (c.imatrix) {
    const std::string ones = ones_imatrix(f32, work().file(c.arch + "-ones.imatrix.gguf"));
    ASSERT_FALSE(ones.empty()) << "could not write the ones imatrix";
    args.insert(args.end(), {"--imatrix", ones});
  }
  auto r = run_r1(args);
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(sh(quote(llama_quantize()) + " " + quote(f32) + " " + quote(ref) + " " + upper(c.type) +
               (c.imatrix ? " --imatrix-ones" : "") + " -t 1 >/dev/null 2>&1"), 0);

  const Tensors a = read_tensors(mine), b = read_tensors(ref);
  ASSERT_FALSE(a.by_name.empty());
  ASSERT_EQ(a.by_name.size(), b.by_name.size());
  std::map<std::string, int> types;
  for (const auto& [name, tb] : b.by_name) {
    auto it = a.by_name.find(name);
    ASSERT_NE(it, a.by_name.end()) << name << " missing";
    EXPECT_EQ(it->second.first, tb.first) << name << ": r1 chose " << it->second.first
                                          << ", llama.cpp " << tb.first;
    if (it->second.first == tb.first) {
      EXPECT_TRUE(it->second.second == tb.second) << name << " (" << tb.first << "): bytes differ";
    }
    ++types[tb.first];
  }
  std::string mix;
  for (const auto& [t, n] : types) mix += " " + t + "x" + std::to_string(n);
  std::printf("[ stats ] %s %s%s: %zu tensors, types%s\n", c.arch.c_str(), c.type.c_str(),
              c.imatrix ? " (imatrix)" : "", b.by_name.size(), mix.c_str());

  // llama.cpp on r1's file against r1 on r1's file (decode path: T < 8).
  const std::string prompt = "1,17,99,3,250";
  const std::string lf = tmp.file("oracle.f32");
  ASSERT_EQ(sh(quote(llama_oracle()) + " -m " + quote(mine) + " -p " + prompt + " -n 1 -t 1 --kv f32 -o " +
               quote(lf) + " >/dev/null 2>&1"), 0) << "llama.cpp did not load " << c.type;
  const auto want = read_f32(lf);
  const std::string np = tmp.file("r1.npy");
  auto lr = run_r1({"logits", mine, "--ids", prompt, "--out", np, "--threads", "1"});
  ASSERT_EQ(lr.rc, 0) << lr.err;
  auto got = r1::models::read_npy_f32(np);
  ASSERT_TRUE(got.ok()) << got.message();
  const int64_t V = 256, T = 5;
  ASSERT_GE(want.size(), size_t(T * V));
  ASSERT_EQ(got->data.size(), size_t(T * V));
  double worst = 0;
  for (int64_t t = 0; t < T; ++t) {
    double d = 0, m = 0;
    for (int64_t v = 0; v < V; ++v) {
      d = std::max(d, std::fabs(double(got->data[size_t(t * V + v)]) - want[size_t(t * V + v)]));
      m = std::max(m, std::fabs(double(want[size_t(t * V + v)])));
    }
    worst = std::max(worst, d / m);
  }
  std::printf("[ stats ] %s %s: max |r1 - llama.cpp| / max|logit| = %.3g on r1's file\n",
              c.arch.c_str(), c.type.c_str(), worst);
  EXPECT_LE(worst, logit_tol(c.arch == "deepseek2" ? 3 : 8));
}

// make test runs each base type's writer once (Q2_K..Q6_K, IQ4_XS, Q4_1, Q5_0, Q8_0 on qwen2;
// deepseek2's 32-wide attn_k_b rows fall back to Q4_0, Q5_0, Q5_1 and IQ4_NL under q3_k_m, q4_k_m,
// q5_k_s and iq4_xs), about 1-5 s a case on 2 cores; R1_CONVERT_QUANT_ALL=1 runs all 16 types on
// all three architectures (about 2.5 min), and iq3_s / iq3_m (IQ3_S without an importance
// matrix: ggml's x^2 weights).
std::vector<Case> cases() {
  const bool all = !env_or("R1_CONVERT_QUANT_ALL", "").empty();
  const std::map<std::string, std::vector<std::string>> quick = {
      {"qwen2", {"q2_k", "q3_k_m", "q4_k_m", "q5_k_s", "q6_k", "iq4_xs", "q4_1", "q5_0", "q8_0"}},
      {"llama", {"q4_k_m"}},
      {"deepseek2", {"q3_k_m", "q4_k_m", "q5_k_s", "iq4_xs"}}};
  std::vector<Case> v;
  for (const char* arch : {"qwen2", "llama", "deepseek2"})
    for (const char* t : {"q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s",
                          "q5_k_m", "q6_k", "iq4_xs", "iq4_nl", "q4_0", "q4_1", "q5_0", "q5_1",
                          "q8_0", "iq3_s", "iq3_m"}) {
      const std::string a = arch, ty = t;
      const auto& q = quick.at(a);
      if (all || std::find(q.begin(), q.end(), ty) != q.end()) v.push_back({arch, t});
    }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Types, ConvertQuant, testing::ValuesIn(cases()), case_name);

// With an importance matrix (ones, see ones_imatrix): make test runs IQ2_XXS on qwen2 (IQ2_XXS
// matrices, Q2_K token_embd, Q5_K output, Q4_K attn_v), Q2_K_S on deepseek2 (3-D expert tensors,
// Q2_K that needs the imatrix) and Q4_K_M on llama (the weighted K-quant paths): 3-10 s each,
// most of it llama.cpp building its IQ grid maps single-threaded. R1_CONVERT_QUANT_ALL=1 runs
// every importance-matrix preset and every K/IQ4/legacy preset with the imatrix on all three
// architectures (IQ1_* and IQ3_* cases take 20-60 s each on 2 busy cores).
std::vector<Case> imatrix_cases() {
  const bool all = !env_or("R1_CONVERT_QUANT_ALL", "").empty();
  if (!all) return {{"qwen2", "iq2_xxs", true}, {"deepseek2", "q2_k_s", true}, {"llama", "q4_k_m", true}};
  std::vector<Case> v;
  for (const char* arch : {"qwen2", "llama", "deepseek2"})
    for (const char* t : {"iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq3_xxs", "iq3_xs", "iq3_s",
                          "iq3_m", "iq1_s", "iq1_m", "q2_k_s", "q2_k", "q3_k_s", "q3_k_m",
                          "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k", "iq4_xs",
                          "iq4_nl", "q4_0", "q4_1", "q5_0", "q5_1"})
      v.push_back({arch, t, true});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Imatrix, ConvertQuant, testing::ValuesIn(imatrix_cases()), case_name);

// One line on stderr, a non-zero exit, no output file.
void expect_clean_failure(const std::vector<std::string>& args, const std::string& out,
                          const std::string& must_mention) {
  const CliRun r = run_r1(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_NE(r.rc, 0) << joined;
  EXPECT_NE(r.rc, -1) << joined << ": crashed";
  ASSERT_FALSE(r.err.empty()) << joined;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << joined << ": " << r.err;
  EXPECT_NE(r.err.find(must_mention), std::string::npos) << joined << ": " << r.err;
  EXPECT_FALSE(fs::exists(out)) << joined << ": wrote a file";
}

TEST(ConvertQuantCli, BadInputIsOneLineAndNonZeroExit) {
  R1_REQUIRE_BIN();
  const std::string hf = hf_model("qwen2");
  ASSERT_FALSE(hf.empty());
  r1::test::TempDir tmp;
  const std::string out = tmp.file("x.gguf");
  expect_clean_failure({"convert", hf, "--out", out, "--type", "q9_k"}, out, "unknown --type 'q9_k'");
  expect_clean_failure({"convert", hf, "--out", out, "--type", "iq2_xxs"}, out, "importance matrix");
  expect_clean_failure({"convert", hf, "--out", out, "--type", "iq2_xxs", "--imatrix", tmp.file("none.gguf")},
                       out, "none.gguf");
  {
    // An imatrix without the tensors an IQ type needs names the first one missing.
    r1::models::Imatrix m;
    m.datasets = {"x"};
    m.entries["blk.99.ffn_up.weight"] = {std::vector<float>(256, 1.f), {1}};
    const std::string im = tmp.file("partial.imatrix.gguf");
    ASSERT_TRUE(r1::models::write_imatrix_gguf(m, im).ok());
    expect_clean_failure({"convert", hf, "--out", out, "--type", "iq2_xxs", "--imatrix", im}, out,
                         "missing importance matrix for tensor blk.0.");
    // An entry of the wrong length.
    m.entries["blk.0.ffn_up.weight"] = {std::vector<float>(100, 1.f), {1}};
    ASSERT_TRUE(r1::models::write_imatrix_gguf(m, im).ok());
    expect_clean_failure({"convert", hf, "--out", out, "--type", "q4_k_m", "--imatrix", im}, out,
                         "blk.0.ffn_up.weight has 100 values");
  }
  expect_clean_failure({"convert", hf, "--out", out, "--type", "q4_k_m", "--tensor-type", "attn_(v=q6_k"},
                       out, "malformed regex");
  expect_clean_failure({"convert", hf, "--out", out, "--type", "q4_k_m", "--tensor-type", "attn_v"},
                       out, "PATTERN=TYPE");
  expect_clean_failure({"convert", hf, "--out", out, "--type", "q4_k_m", "--tensor-type", "attn_v=q7_k"},
                       out, "unknown type 'q7_k'");
  // An override to an importance-matrix type names the tensor.
  expect_clean_failure({"convert", hf, "--out", out, "--type", "q4_k_m", "--tensor-type", "ffn_up=iq1_s"},
                       out, "blk.0.ffn_up.weight");
}

TEST(ConvertQuantCli, TensorTypeOverridesAndFallbacks) {
  R1_REQUIRE_BIN();
  const std::string hf = hf_model("deepseek2");
  ASSERT_FALSE(hf.empty());
  r1::test::TempDir tmp;
  const std::string out = tmp.file("mix.gguf");
  // A dynamic MoE mix: routed experts Q2_K, their down projections Q3_K, attention Q6_K;
  // the first matching pattern wins.
  auto r = run_r1({"convert", hf, "--out", out, "--type", "q4_k_m", "--tensor-type",
                   "ffn_down_exps=q3_k", "--tensor-type", "ffn_.*_exps=q2_k", "--tensor-type",
                   "attn_=q6_k"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Tensors t = read_tensors(out);
  auto type_of = [&](const std::string& n) {
    auto it = t.by_name.find(n);
    return it == t.by_name.end() ? std::string("missing") : it->second.first;
  };
  for (int l = 1; l < 3; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(type_of(b + "ffn_gate_exps.weight"), "Q2_K");
    EXPECT_EQ(type_of(b + "ffn_up_exps.weight"), "Q2_K");
    EXPECT_EQ(type_of(b + "ffn_down_exps.weight"), "Q3_K");
    EXPECT_EQ(type_of(b + "ffn_gate_inp.weight"), "F32");  // the router is never quantised
    EXPECT_EQ(type_of(b + "attn_output.weight"), "Q6_K");
    EXPECT_EQ(type_of(b + "attn_kv_a_mqa.weight"), "Q6_K");
    // attn_k_b rows are qk_nope_head_dim = 32 long: Q6_K falls back to Q8_0.
    EXPECT_EQ(type_of(b + "attn_k_b.weight"), "Q8_0");
    EXPECT_EQ(type_of(b + "ffn_up_shexp.weight"), "Q4_K");  // no pattern: the preset's type
  }
  // --pure: every matrix Q4_K except where rows are not whole blocks (attn_k_b: Q5_0).
  r = run_r1({"convert", hf, "--out", out, "--type", "q4_k_m", "--pure"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Tensors p = read_tensors(out);
  for (const auto& [name, tb] : p.by_name) {
    const bool matrix = name.ends_with("weight") && name.find("norm") == std::string::npos &&
                        name.find("ffn_gate_inp") == std::string::npos;
    const std::string want = !matrix ? "F32" : name.find("attn_k_b") != std::string::npos ? "Q5_0" : "Q4_K";
    EXPECT_EQ(tb.first, want) << name;
  }
}

}  // namespace

namespace {

// `r1 imatrix` on stories260K (a real llama model from ../shared): the importance sums of
// blk.0's attention inputs equal a direct computation from the file's weights (the input of
// attn_q/k/v is rmsnorm(token_embd[token]) * attn_norm), every block weight has an entry counting
// every token once, and the file is in llama.cpp's layout (read back by read_imatrix, which
// r1 convert --imatrix uses; the layout itself is checked against llama.cpp above).
TEST(ImatrixCli, SumsEqualADirectComputation) {
  R1_REQUIRE_BIN();
  const std::string model = r1::test::shared_path("models/stories260K/stories260K.gguf");
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  r1::test::TempDir tmp;
  std::string text;
  for (int i = 0; i < 8; ++i)
    text += "Once upon a time, there was a little girl named Lily. She loved to play outside. ";
  const std::string data = tmp.file("text.txt"), out = tmp.file("im.gguf");
  std::ofstream(data) << text;
  const int64_t ctx = 32, n_chunk = 2;
  auto r = run_r1({"imatrix", model, "--data", data, "--out", out, "--ctx", std::to_string(ctx),
                   "--chunks", std::to_string(n_chunk), "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string line = nlohmann::json(text).dump() + "\n";
  auto tr = run_r1("tokenize " + quote(model) + " --add-bos", line, tmp);
  ASSERT_EQ(tr.rc, 0) << tr.err;
  const auto ids = nlohmann::json::parse(tr.out).get<std::vector<int32_t>>();
  ASSERT_GE(int64_t(ids.size()), n_chunk * ctx);

  auto f = r1::io::GgufFile::open(model);
  ASSERT_TRUE(f.ok()) << f.message();
  auto emb = f->tensor("token_embd.weight");
  auto g = f->tensor("blk.0.attn_norm.weight");
  auto eps = f->get_f32("llama.attention.layer_norm_rms_epsilon");
  ASSERT_TRUE(emb.ok() && g.ok() && eps.ok());
  const int64_t D = emb->row_len();
  const float* E = std::as_const(*emb).data<float>();
  const float* G = std::as_const(*g).data<float>();
  std::vector<double> want(size_t(D), 0.0);
  for (int64_t c = 0; c < n_chunk; ++c)
    for (int64_t t = 0; t < ctx; ++t) {
      const int32_t tok = t == 0 ? ids[0] : ids[size_t(c * ctx + t)];  // chunks start with BOS
      const float* e = E + int64_t(tok) * D;
      double ms = 0;
      for (int64_t j = 0; j < D; ++j) ms += double(e[j]) * e[j];
      const double inv = 1.0 / std::sqrt(ms / double(D) + double(*eps));
      for (int64_t j = 0; j < D; ++j) {
        const double x = e[j] * inv * G[j];
        want[size_t(j)] += x * x;
      }
    }

  auto im = r1::models::read_imatrix(out);
  ASSERT_TRUE(im.ok()) << im.message();
  EXPECT_EQ(im->chunk_count, uint32_t(n_chunk));
  EXPECT_EQ(im->chunk_size, uint32_t(ctx));
  for (const char* w : {"attn_q", "attn_k", "attn_v"}) {
    const auto it = im->entries.find(std::string("blk.0.") + w + ".weight");
    ASSERT_NE(it, im->entries.end()) << w;
    ASSERT_EQ(it->second.counts, std::vector<int64_t>{n_chunk * ctx}) << w;
    ASSERT_EQ(it->second.sums.size(), size_t(D)) << w;
    for (int64_t j = 0; j < D; ++j)
      EXPECT_NEAR(it->second.sums[size_t(j)], want[size_t(j)], 1e-4 * want[size_t(j)] + 1e-6)
          << w << " column " << j;
  }
  for (const auto& t : f->tensor_infos()) {
    if (!t.name.starts_with("blk.") || t.ne.size() < 2) continue;
    const auto it = im->entries.find(t.name);
    ASSERT_NE(it, im->entries.end()) << t.name << " has no imatrix entry";
    EXPECT_EQ(it->second.counts, std::vector<int64_t>{n_chunk * ctx}) << t.name;
    EXPECT_EQ(int64_t(it->second.sums.size()), t.ne[0]) << t.name;
  }
}

}  // namespace

namespace {

// `r1 imatrix` on a MoE model (a random deepseek2 with the DeepSeek-V3 tokenizer, width 64, 4
// routed experts of which each token takes 2, one shared expert, every layer MoE). Each token's
// FFN input x enters the shared expert once and k = num_experts_per_tok routed experts once, so:
//  - every routed-expert tensor's per-expert counts sum to tokens * k in each layer, and
//    ffn_gate/up/down_exps of a layer agree expert by expert (the same tokens reach each);
//  - the per-expert sums of ffn_gate_exps, added over experts, equal k times ffn_gate_shexp's
//    sums (the shared expert sees every token's x once), column by column;
//  - the dense weights (MLA's down projections, the router, the shared expert) count every token.
// attn_k_b / attn_v_b get no entry: r1 multiplies by kv_b_proj rebuilt from them in f32, so their
// products are not llama.cpp's (absorbed q_nope . k_b, per head) and are not reported.
TEST(ImatrixCli, MoePerExpertCounts) {
  R1_REQUIRE_BIN();
  R1_SKIP_UNLESS_SHARED("tokenizers/deepseek_v3/tokenizer.json");
  r1::test::TempDir tmp;
  const int64_t n_expert = 4, k = 2, n_layer = 2, n_head = 2;
  const nlohmann::json c = {
      {"model_type", "deepseek_v3"}, {"vocab_size", 129280},      {"hidden_size", 64},
      {"intermediate_size", 128},    {"moe_intermediate_size", 32}, {"num_hidden_layers", n_layer},
      {"first_k_dense_replace", 0},  {"moe_layer_freq", 1},       {"num_attention_heads", n_head},
      {"num_key_value_heads", n_head}, {"n_routed_experts", n_expert}, {"n_shared_experts", 1},
      {"num_experts_per_tok", k},    {"n_group", 1},              {"topk_group", 1},
      {"routed_scaling_factor", 2.5}, {"norm_topk_prob", true},   {"scoring_func", "sigmoid"},
      {"topk_method", "noaux_tc"},   {"q_lora_rank", 32},         {"kv_lora_rank", 32},
      {"qk_nope_head_dim", 16},      {"qk_rope_head_dim", 16},    {"v_head_dim", 16},
      {"rope_theta", 10000.0},       {"rms_norm_eps", 1e-6},      {"max_position_embeddings", 256},
      {"tie_word_embeddings", false}, {"num_nextn_predict_layers", 0}, {"bos_token_id", 0},
      {"eos_token_id", 1}};
  const std::string hf = tmp.file("hf"), gguf = tmp.file("m.gguf");
  ASSERT_TRUE(r1::models::write_random_deepseek_v3(c, hf, 11).ok());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(r1::test::shared_path(std::string("tokenizers/deepseek_v3/") + f), hf + "/" + f);
  auto cr = run_r1({"convert", hf, "--out", gguf, "--type", "f32"});
  ASSERT_EQ(cr.rc, 0) << cr.err;
  std::string text;
  for (int i = 0; i < 4; ++i) text += "The quick brown fox jumps over the lazy dog, and then it rests. ";
  const std::string data = tmp.file("text.txt"), out = tmp.file("im.gguf");
  std::ofstream(data) << text;
  const int64_t ctx = 16, n_chunk = 2, N = ctx * n_chunk;
  auto r = run_r1({"imatrix", gguf, "--data", data, "--out", out, "--ctx", std::to_string(ctx),
                   "--chunks", std::to_string(n_chunk), "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto im = r1::models::read_imatrix(out);
  ASSERT_TRUE(im.ok()) << im.message();
  auto entry = [&](const std::string& name) -> const r1::models::ImatrixEntry* {
    const auto it = im->entries.find(name);
    return it == im->entries.end() ? nullptr : &it->second;
  };
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const auto* gate = entry(b + "ffn_gate_exps.weight");
    ASSERT_NE(gate, nullptr) << b;
    ASSERT_EQ(int64_t(gate->counts.size()), n_expert) << b;
    int64_t total = 0;
    for (int64_t e : gate->counts) total += e;
    EXPECT_EQ(total, N * k) << b << "ffn_gate_exps counts";
    for (const char* w : {"ffn_up_exps", "ffn_down_exps"}) {
      const auto* e = entry(b + w + ".weight");
      ASSERT_NE(e, nullptr) << b << w;
      EXPECT_EQ(e->counts, gate->counts) << b << w;
    }
    const auto* sh = entry(b + "ffn_gate_shexp.weight");
    ASSERT_NE(sh, nullptr) << b;
    ASSERT_EQ(sh->counts, std::vector<int64_t>{N}) << b;
    const size_t D = sh->sums.size();
    ASSERT_EQ(gate->sums.size(), D * size_t(n_expert)) << b;
    for (size_t j = 0; j < D; ++j) {
      double s = 0;
      for (int64_t e = 0; e < n_expert; ++e) s += gate->sums[size_t(e) * D + j];
      EXPECT_NEAR(s, double(k) * sh->sums[j], 1e-4 * double(k) * sh->sums[j] + 1e-6)
          << b << " column " << j;
    }
    for (const char* w : {"attn_q_a", "attn_kv_a_mqa", "ffn_gate_inp", "ffn_down_shexp"}) {
      const auto* e = entry(b + w + ".weight");
      ASSERT_NE(e, nullptr) << b << w;
      EXPECT_EQ(e->counts, std::vector<int64_t>{N}) << b << w;
    }
  }
}

}  // namespace

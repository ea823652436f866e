// The malformed-file suite through the binary, as a user meets it: corruptions of the shared
// stories260K.gguf and of the qwen2_f32 / ds_qlora_fp8 HF fixtures (copied into a temp dir,
// then patched) go to `r1 inspect`, `r1 logits` and `r1 run` under `timeout 120` (each takes
// ~10 ms; the margin is for a starved nice-19 process on a loaded machine, not for r1). Each must
// exit non-zero with a loader error (not a crash, a hang or an internal check: exit < 70) and
// print exactly one line on stderr naming the file and what is wrong.
// Also: every subcommand accepts --threads, and its default is the machine's physical cores.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "core/test_util.h"
#include "io/gguf.h"

namespace {

using namespace r1::test::cli;

namespace fs = std::filesystem;
using nlohmann::json;

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}
template <typename T>
void put(std::string& b, size_t pos, T v) {
  ASSERT_LE(pos + sizeof(T), b.size());
  std::memcpy(b.data() + pos, &v, sizeof(T));
}

struct Out {
  int rc = -1;
  std::string out, err;
};
Out run_r1(const std::string& args, const r1::test::TempDir& tmp) {
  const std::string cmd = "timeout 120 '" + r1_bin() + "' " + args + " >" + tmp.file("out") +
                          " 2>" + tmp.file("err") + " </dev/null";
  Out o;
  const int st = std::system(cmd.c_str());
  o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  o.out = slurp(tmp.file("out"));
  o.err = slurp(tmp.file("err"));
  return o;
}

// `r1 inspect|logits|run PATH`: one line on stderr containing PATH and every part; a loader
// error's exit status. `inspect_ok`: the file itself is sound (the problem is the model's), so
// inspect lists it and only logits/run fail.
void expect_clean_error(const std::string& path, const std::vector<std::string>& parts,
                        bool inspect_ok = false) {
  r1::test::TempDir tmp;
  const std::string q = "'" + path + "'";
  const std::vector<std::pair<std::string, std::string>> cmds = {
      {"inspect", "inspect " + q},
      {"logits", "logits " + q + " --ids 1,2 --out " + tmp.file("x.npy") + " --threads 1"},
      {"run", "run " + q + " -p hi -n 1 --threads 1"},
  };
  for (const auto& [name, args] : cmds) {
    SCOPED_TRACE("r1 " + args);
    const Out o = run_r1(args, tmp);
    if (name == "inspect" && inspect_ok) {
      EXPECT_EQ(o.rc, 0) << o.err;
      continue;
    }
    EXPECT_NE(o.rc, 0);
    EXPECT_LT(o.rc, 70) << "crash, hang (124) or internal check (70): " << o.err;
    ASSERT_FALSE(o.err.empty());
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "not one line:\n" << o.err;
    EXPECT_NE(o.err.find(path), std::string::npos) << o.err;
    for (const auto& p : parts) EXPECT_NE(o.err.find(p), std::string::npos) << p << " in: " << o.err;
  }
}

class MalformedCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    R1_SKIP_UNLESS_SHARED("");
  }
  r1::test::TempDir tmp_;
};

// ------------------------------------------------------------------ GGUF (stories260K)

class MalformedGgufCli : public MalformedCli {
 protected:
  void SetUp() override {
    MalformedCli::SetUp();
    if (IsSkipped()) return;
    const std::string src = r1::test::shared_path("models/stories260K/stories260K.gguf");
    good_ = slurp(src);
    auto f = r1::io::GgufFile::open(src);
    ASSERT_TRUE(f.ok()) << f.message();
    for (const auto& t : f->tensor_infos()) ndims_[t.name] = t.ne.size();
  }
  // Byte position just after the first occurrence of `s` (a key or tensor name with its length).
  size_t after(const std::string& s) const {
    std::string needle(8, '\0');
    const uint64_t n = s.size();
    std::memcpy(needle.data(), &n, 8);
    needle += s;
    const size_t p = good_.find(needle);
    EXPECT_NE(p, std::string::npos) << s;
    return p == std::string::npos ? 0 : p + needle.size();
  }
  // Tensor info of `name`: n_dims at after(name), ne[] next, then u32 type and u64 offset.
  size_t ne_pos(const std::string& name) const { return after(name) + 4; }
  size_t type_pos(const std::string& name) { return ne_pos(name) + 8 * ndims_[name]; }
  size_t offset_pos(const std::string& name) { return type_pos(name) + 4; }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = tmp_.file(name + ".gguf");
    spit(p, bytes);
    return p;
  }
  std::string good_;
  std::map<std::string, size_t> ndims_;
};

TEST_F(MalformedGgufCli, FileLevel) {
  expect_clean_error(tmp_.file("missing.gguf"), {"no such file"});
  expect_clean_error(write("empty", ""), {"not a GGUF file"});
  expect_clean_error(write("truncated", good_.substr(0, good_.size() - 1000)),
                     {"tensor blk.4.ffn_up.weight", "runs past the end of the file"});
  expect_clean_error(write("header_cut", good_.substr(0, 100)), {"larger than the file could hold"});
  std::string b = good_;
  b[3] = 'X';
  expect_clean_error(write("magic", b), {"not a GGUF file"});
  b = good_;
  put<uint32_t>(b, 4, 99);
  expect_clean_error(write("version", b), {"GGUF version 99"});
  b = good_;
  put<uint32_t>(b, 4, 1);
  expect_clean_error(write("version1", b), {"GGUF version 1 is not supported"});
}

TEST_F(MalformedGgufCli, HeaderCountsAndMetadata) {
  std::string b = good_;
  put<uint64_t>(b, 8, uint64_t(1) << 62);
  expect_clean_error(write("n_tensors", b), {"tensor count 4611686018427387904"});
  b = good_;
  put<uint64_t>(b, 16, uint64_t(1) << 62);
  expect_clean_error(write("n_kv", b), {"metadata count"});
  b = good_;
  put<uint64_t>(b, 24, uint64_t(1) << 62);
  expect_clean_error(write("strlen", b), {"string length", "runs past the end"});
  b = good_;
  put<uint32_t>(b, after("llama.block_count"), 77);
  expect_clean_error(write("value_type", b), {"metadata llama.block_count", "unknown value type 77"});
  b = good_;
  put<uint64_t>(b, after("tokenizer.ggml.tokens") + 8, uint64_t(1) << 60);
  expect_clean_error(write("array_count", b), {"metadata tokenizer.ggml.tokens", "array of"});
  // Same-length rename: tokenizer.ggml.scores becomes a second tokenizer.ggml.tokens.
  b = good_;
  const size_t s = after("tokenizer.ggml.scores") - std::strlen("scores");
  b.replace(s, 6, "tokens");
  expect_clean_error(write("dup_key", b), {"tokenizer.ggml.tokens", "duplicate key"});
}

TEST_F(MalformedGgufCli, TensorInfos) {
  const std::string t = "token_embd.weight";
  std::string b = good_;
  put<uint32_t>(b, after(t), 9);
  expect_clean_error(write("ndims", b), {"tensor token_embd.weight", "n_dims 9"});
  b = good_;
  put<uint64_t>(b, ne_pos(t), uint64_t(1) << 62);
  put<uint64_t>(b, ne_pos(t) + 8, uint64_t(1) << 62);
  expect_clean_error(write("dims_overflow", b), {"tensor token_embd.weight", "overflow"});
  b = good_;
  put<uint32_t>(b, type_pos(t), 99);
  expect_clean_error(write("ggml_type", b), {"tensor token_embd.weight", "unknown ggml type 99"});
  b = good_;
  put<uint64_t>(b, offset_pos(t), uint64_t(1) << 40);
  expect_clean_error(write("offset_past_end", b), {"tensor token_embd.weight", "runs past the end"});
  b = good_;
  put<uint64_t>(b, offset_pos(t), 4);
  expect_clean_error(write("misaligned", b),
                     {"tensor token_embd.weight", "not a multiple of the alignment 32"});
  b = good_;
  put<uint64_t>(b, offset_pos("output_norm.weight"), 0);  // where token_embd.weight's data is
  expect_clean_error(write("overlap", b), {"overlaps"});
  // Same-length rename: blk.0.attn_k.weight becomes a second blk.0.attn_q.weight.
  b = good_;
  b.replace(after("blk.0.attn_k.weight") - std::strlen("attn_k.weight"), 6, "attn_q");
  expect_clean_error(write("dup_tensor", b), {"tensor blk.0.attn_q.weight", "duplicate name"});
}

TEST_F(MalformedGgufCli, ModelLevel) {
  // Sound files whose model is incomplete: inspect lists them, logits/run refuse.
  std::string b = good_;
  b.replace(after("output_norm.weight") - std::strlen("output_norm.weight"), 1, "x");
  expect_clean_error(write("missing_tensor", b), {"tensor output_norm.weight missing"}, true);
  b = good_;
  b.replace(after("llama.block_count") - 1, 1, "x");
  expect_clean_error(write("missing_key", b), {"metadata llama.block_count missing"}, true);
  b = good_;
  put<uint32_t>(b, after("llama.attention.head_count_kv") + 4, 0);
  expect_clean_error(write("kv_heads_0", b),
                     {"metadata llama.attention.head_count_kv must be > 0"}, true);
  b = good_;
  put<uint32_t>(b, after("llama.block_count"), 6);  // u32 -> f32
  expect_clean_error(write("key_type", b), {"llama.block_count", "expected an integer, found f32"}, true);
  // ffn_up's ne swapped: [64, 172] -> [172, 64], same size, wrong orientation for the model.
  b = good_;
  const size_t ne = ne_pos("blk.0.ffn_up.weight");
  uint64_t ne0, ne1;
  std::memcpy(&ne0, b.data() + ne, 8);
  std::memcpy(&ne1, b.data() + ne + 8, 8);
  put<uint64_t>(b, ne, ne1);
  put<uint64_t>(b, ne + 8, ne0);
  expect_clean_error(write("shape", b), {"tensor blk.0.ffn_up.weight has shape"}, true);
}

// ------------------------------------------------------------------ HF directories

class MalformedHfCli : public MalformedCli {
 protected:
  // A copy of fixture `name` as DIR/case; returns DIR/case.
  std::string copy_fixture(const std::string& name, const std::string& as) {
    const std::string dst = tmp_.file(as);
    fs::create_directories(dst);
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(r1::test::shared_path("fixtures/" + name + "/" + f), dst + "/" + f);
    return dst;
  }
  // The safetensors header of DIR/model.safetensors, and a writer of a patched one (same data).
  static json header(const std::string& dir) {
    const std::string b = slurp(dir + "/model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    return json::parse(b.substr(8, n));
  }
  static void write_header(const std::string& dir, const std::string& h) {
    const std::string b = slurp(dir + "/model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    std::string out(8, '\0');
    const uint64_t m = h.size();
    std::memcpy(out.data(), &m, 8);
    spit(dir + "/model.safetensors", out + h + b.substr(8 + n));
  }
};

TEST_F(MalformedHfCli, ConfigJson) {
  std::string d = copy_fixture("qwen2_f32", "no_config");
  fs::remove(d + "/config.json");
  expect_clean_error(d, {"config.json"});
  d = copy_fixture("qwen2_f32", "bad_json");
  spit(d + "/config.json", "{\"hidden_size\": 64,");
  expect_clean_error(d + "", {"config.json: bad JSON"});
  d = copy_fixture("qwen2_f32", "missing_field");
  json c = json::parse(slurp(d + "/config.json"));
  c.erase("hidden_size");
  spit(d + "/config.json", c.dump());
  expect_clean_error(d, {"config.json: field hidden_size missing"}, true);
  d = copy_fixture("qwen2_f32", "field_type");
  c = json::parse(slurp(d + "/config.json"));
  c["num_hidden_layers"] = "two";
  spit(d + "/config.json", c.dump());
  expect_clean_error(d, {"field num_hidden_layers: expected an integer"}, true);
  d = copy_fixture("qwen2_f32", "no_weights");
  fs::remove(d + "/model.safetensors");
  expect_clean_error(d, {"no weights"});
}

TEST_F(MalformedHfCli, SafetensorsHeader) {
  std::string d = copy_fixture("qwen2_f32", "len_past_end");
  std::string b = slurp(d + "/model.safetensors");
  put<uint64_t>(b, 0, b.size());
  spit(d + "/model.safetensors", b);
  expect_clean_error(d, {"model.safetensors: header length", "runs past the end"});
  d = copy_fixture("qwen2_f32", "truncated");
  b = slurp(d + "/model.safetensors");
  spit(d + "/model.safetensors", b.substr(0, b.size() - 100));
  expect_clean_error(d, {"model.safetensors: tensor", "past the end of the data"});
  d = copy_fixture("qwen2_f32", "not_json");
  write_header(d, "{nope}  ");
  expect_clean_error(d, {"model.safetensors: header: bad JSON"});

  auto patched = [&](const std::string& as, auto&& edit) {
    const std::string dir = copy_fixture("qwen2_f32", as);
    json h = header(dir);
    edit(h);
    write_header(dir, h.dump());
    return dir;
  };
  d = patched("dtype", [](json& h) { h["lm_head.weight"]["dtype"] = "F99"; });
  expect_clean_error(d, {"tensor lm_head.weight: unknown dtype \"F99\""});
  d = patched("size", [](json& h) { h["lm_head.weight"]["shape"][0] = 257; });
  expect_clean_error(d, {"tensor lm_head.weight", "needs 65792 bytes but data_offsets span 65536"});
  d = patched("negative", [](json& h) { h["lm_head.weight"]["shape"][0] = -1; });
  expect_clean_error(d, {"tensor lm_head.weight", "not a non-negative integer"});
  d = patched("past_end", [](json& h) {
    h["lm_head.weight"]["data_offsets"] = {uint64_t(1) << 40, (uint64_t(1) << 40) + 65536};
  });
  expect_clean_error(d, {"tensor lm_head.weight", "past the end of the data"});
  d = patched("overlap", [](json& h) {
    auto& o = h["model.norm.weight"]["data_offsets"];
    const uint64_t n = o[1].get<uint64_t>() - o[0].get<uint64_t>();
    o = {uint64_t(0), n};
  });
  expect_clean_error(d, {"overlaps"});
  d = patched("missing_tensor", [](json& h) { h.erase("lm_head.weight"); });
  expect_clean_error(d, {"tensor lm_head.weight missing"}, true);
  // Duplicate names: JSON objects cannot hold them, so splice the text.
  d = copy_fixture("qwen2_f32", "dup");
  {
    const json h = header(d);
    std::string text = h.dump();
    text.pop_back();
    text += ",\"lm_head.weight\":" + h["lm_head.weight"].dump() + "}";
    write_header(d, text);
  }
  expect_clean_error(d, {"duplicate key \"lm_head.weight\""});
}

TEST_F(MalformedHfCli, ShardsAndFp8) {
  // An index whose second shard is missing.
  std::string d = copy_fixture("qwen2_f32", "shards");
  const json h = header(d);
  json idx = {{"metadata", json::object()}, {"weight_map", json::object()}};
  int i = 0;
  for (const auto& [name, v] : h.items())
    if (name != "__metadata__")
      idx["weight_map"][name] = i++ % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
  fs::rename(d + "/model.safetensors", d + "/model-00001-of-00002.safetensors");
  spit(d + "/model.safetensors.index.json", idx.dump());
  expect_clean_error(d, {"model-00002-of-00002.safetensors", "No such file"});
  spit(d + "/model.safetensors.index.json", "{\"weight_map\": ");
  expect_clean_error(d, {"model.safetensors.index.json: bad JSON"});

  // FP8: a weight without its weight_scale_inv, and a bad quantization_config.weight_block_size.
  d = copy_fixture("ds_qlora_fp8", "fp8_no_scale");
  json fh = header(d);
  fh.erase("model.layers.0.mlp.down_proj.weight_scale_inv");
  write_header(d, fh.dump());
  expect_clean_error(d, {"tensor model.layers.0.mlp.down_proj.weight_scale_inv missing"}, true);
  d = copy_fixture("ds_qlora_fp8", "fp8_block");
  json c = json::parse(slurp(d + "/config.json"));
  c["quantization_config"]["weight_block_size"] = {0, 128};
  spit(d + "/config.json", c.dump());
  expect_clean_error(d, {"quantization_config.weight_block_size"}, true);
  d = copy_fixture("ds_qlora_fp8", "fp8_block_mismatch");
  c = json::parse(slurp(d + "/config.json"));
  c["quantization_config"]["weight_block_size"] = {64, 64};
  spit(d + "/config.json", c.dump());
  expect_clean_error(d, {"weight_scale_inv: expected F32", "blocks of 64x64"}, true);
}

// ------------------------------------------------------------------ --threads everywhere

// Physical cores from sysfs (core_id per package over the online CPUs), independently of
// /proc/cpuinfo which r1 reads.
int sysfs_physical_cores() {
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < 4096; ++cpu) {
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    if (!fs::exists(base)) continue;
    std::string core = slurp(base + "core_id"), pkg = slurp(base + "physical_package_id");
    cores.insert({pkg, core});
  }
  return int(cores.size());
}

TEST(ThreadsCli, EverySubcommandTakesThreadsDefaultPhysicalCores) {
  R1_REQUIRE_BIN();
  r1::test::TempDir tmp;
  const Out top = run_r1("--help", tmp);
  ASSERT_EQ(top.rc, 0);
  // "  name         help" lines after "commands:".
  std::vector<std::string> subs;
  std::istringstream in(top.out.substr(top.out.find("commands:")));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (line.size() > 2 && line[0] == ' ') subs.push_back(line.substr(2, line.find(' ', 2) - 2));
  ASSERT_GE(subs.size(), 15u);
  const std::map<std::string, std::vector<std::string>> nested = {
      {"task", {"gen", "corpus"}}, {"tokenizer", {"train"}}};
  for (const auto& s : subs) {
    std::vector<std::string> forms = {s};
    if (auto it = nested.find(s); it != nested.end()) {
      forms.clear();
      for (const auto& n : it->second) forms.push_back(s + " " + n);
    }
    for (const auto& f : forms) {
      const Out o = run_r1(f + " --help", tmp);
      EXPECT_EQ(o.rc, 0) << f;
      EXPECT_NE(o.out.find("--threads"), std::string::npos) << "r1 " << f << " --help:\n" << o.out;
    }
  }
  // The default, as `r1 run --stats`-style output reports it: physical cores.
  const int cores = sysfs_physical_cores();
  if (cores == 0) R1_SKIP_NEEDS("sysfs", "no CPU topology under /sys/devices/system/cpu");
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  const Out o = run_r1("run '" + r1::test::shared_path("models/stories260K/stories260K.gguf") +
                           "' -p hi -n 1",
                       tmp);
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_NE(o.err.find("threads: " + std::to_string(cores) + ","), std::string::npos)
      << "expected " << cores << " physical cores in: " << o.err;
}

}  // namespace

// Integration tests of `r1 inspect`: the built binary ($R1_BIN) on stories260K (GGUF), a fixture
// directory (HF), a single safetensors file, and bad input (one line on stderr, exit 1).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using r1::test::cli::slurp;

struct Out {
  int rc = -1;
  std::string out, err;
};

Out inspect(const std::string& path) {
  r1::test::TempDir tmp;
  const char* bin = std::getenv("R1_BIN");
  const std::string cmd = std::string("'") + (bin ? bin : "r1") + "' inspect '" + path + "' >" +
                          tmp.file("out") + " 2>" + tmp.file("err");
  Out o;
  o.rc = r1::test::cli::sh(cmd);
  o.out = slurp(tmp.file("out"));
  o.err = slurp(tmp.file("err"));
  return o;
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(Inspect, Gguf) {
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  const Out o = inspect(r1::test::shared_path("models/stories260K/stories260K.gguf"));
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_NE(o.out.find("GGUF v3, 19 metadata keys, 48 tensors, alignment 32"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tokenizer.ggml.tokens"), std::string::npos);
  EXPECT_NE(o.out.find("[string x 512]"), std::string::npos);
  EXPECT_NE(o.out.find("llama.context_length"), std::string::npos);
  EXPECT_EQ(count(o.out, " offset "), 48u);
  EXPECT_NE(o.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(o.out.find("[512, 64]"), std::string::npos);
}

TEST(Inspect, HfDirAndSafetensorsFile) {
  R1_SKIP_UNLESS_SHARED("fixtures/ds_qlora_fp8");
  const std::string dir = r1::test::shared_path("fixtures/ds_qlora_fp8");
  Out o = inspect(dir);
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_NE(o.out.find("Hugging Face model directory, 1 weight file(s), 239 tensors"), std::string::npos)
      << o.out.substr(0, 300);
  EXPECT_NE(o.out.find("quantization_config"), std::string::npos);
  EXPECT_NE(o.out.find("F8_E4M3"), std::string::npos);
  EXPECT_NE(o.out.find("weight_scale_inv"), std::string::npos);
  EXPECT_EQ(count(o.out, " offset "), 239u);
  o = inspect(dir + "/model.safetensors");
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_NE(o.out.find("safetensors, 1 metadata keys, 239 tensors"), std::string::npos) << o.out.substr(0, 300);
}

TEST(Inspect, BadInputIsOneLine) {
  r1::test::TempDir tmp;
  Out o = inspect(tmp.file("missing.gguf"));
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find("missing.gguf: no such file or directory"), std::string::npos) << o.err;
  EXPECT_EQ(count(o.err, "\n"), 1u) << o.err;
  std::ofstream(tmp.file("bad.gguf"), std::ios::binary) << "GGUF\x03\x00\x00\x00garbage";
  o = inspect(tmp.file("bad.gguf"));
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find("bad.gguf: truncated"), std::string::npos) << o.err;
  EXPECT_EQ(count(o.err, "\n"), 1u) << o.err;
  std::ofstream(tmp.file("bad.safetensors"), std::ios::binary) << std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13);
  o = inspect(tmp.file("bad.safetensors"));
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find("bad.safetensors: header length 16 runs past the end"), std::string::npos) << o.err;
  o = inspect(tmp.path());  // a directory without config.json
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find("config.json: missing"), std::string::npos) << o.err;
}

}  // namespace

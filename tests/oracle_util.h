// Helpers shared by the CLI tests that compare r1 with llama.cpp (convert_quant_cli_test.cpp,
// quant_ref_cli_test.cpp): where llama.cpp's oracle and quantizer are, the skip when they are
// absent, and reading the oracle's raw f32 logits.
#pragma once
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_util.h"

namespace r1::test::oracle {

/// $name when it is set and not empty, else dflt.
inline std::string env_or(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}

/// llama.cpp's logits dumper: $R1_LLAMA_ORACLE, else ~/r1-peers/llamacpp/llama_oracle.
inline std::string llama_oracle() {
  return env_or("R1_LLAMA_ORACLE", env_or("HOME", "/root") + "/r1-peers/llamacpp/llama_oracle");
}

/// llama.cpp's quantizer: $R1_LLAMA_QUANTIZE, else ~/r1-peers/llamacpp/llama_quantize.
inline std::string llama_quantize() {
  return env_or("R1_LLAMA_QUANTIZE", env_or("HOME", "/root") + "/r1-peers/llamacpp/llama_quantize");
}

/// A file of raw little-endian f32 values (llama_oracle -o) as floats; empty when unreadable.
inline std::vector<float> read_f32(const std::string& path) {
  const std::string b = ::r1::test::cli::slurp(path);
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

}  // namespace r1::test::oracle

/// Needs the r1 binary (a failure when absent) and llama.cpp's oracle and quantizer (a skip
/// tagged [needs oracle] that says how to build them).
#define R1_SKIP_UNLESS_ORACLE()                                                                 \
  do {                                                                                          \
    R1_REQUIRE_BIN();                                                                           \
    const std::string r1_o_ = ::r1::test::oracle::llama_oracle();                               \
    const std::string r1_q_ = ::r1::test::oracle::llama_quantize();                             \
    if (!std::filesystem::exists(r1_o_) || !std::filesystem::exists(r1_q_))                     \
      R1_SKIP_NEEDS("oracle", "llama.cpp oracle not found (" << r1_o_ << ", " << r1_q_          \
                    << "): build it with ../shared/bench/llamacpp/build_oracle.sh after `npm i "  \
                       "-E node-llama-cpp@3.21.1` in ~/r1-peers/llamacpp (see "                   \
                       "../shared/bench/README.md), or set R1_LLAMA_ORACLE and R1_LLAMA_QUANTIZE"); \
  } while (0)

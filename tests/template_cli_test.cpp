// Integration tests of `r1 template` (the built binary $R1_BIN): every sample case in
// ../shared/tokenizers/templates/cases-sample rendered through the CLI, one JSON line per case,
// plus config/model-directory paths, extra context and per-line errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using r1::test::cli::r1_bin;

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

struct TemplateRun {
  int rc = -1;
  std::vector<std::string> lines;  // stdout lines
  std::string err;
};

// Runs `r1 template ARGS` with `input` on stdin.
TemplateRun run_template(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {"template"};
  argv.insert(argv.end(), args.begin(), args.end());
  const r1::test::cli::CliRun run = r1::test::cli::run_r1(argv, &input);
  TemplateRun r;
  r.rc = run.rc;
  r.err = run.err;
  const std::string& out = run.out;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t nl = out.find('\n', pos);
    r.lines.push_back(out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return r;
}

std::string templates_dir() { return r1::test::shared_path("tokenizers/templates"); }

#define REQUIRE_BIN_AND_SHARED()                                                  \
  do {                                                                            \
    R1_REQUIRE_BIN();                                                             \
    R1_SKIP_UNLESS_SHARED("tokenizers/templates");                                \
  } while (0)

TEST(TemplateCli, SampleCasesByteForByte) {
  REQUIRE_BIN_AND_SHARED();
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(templates_dir() + "/cases-sample")) {
    if (entry.path().extension() != ".jsonl") continue;
    const std::string name = entry.path().stem().string();
    std::ifstream f(entry.path());
    std::string line, input;
    std::vector<ojson> expected;  // a string, or null for an expected error
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      const ojson c = ojson::parse(line);
      ojson req = {{"messages", c["messages"]}, {"add_generation_prompt", c["add_generation_prompt"]}};
      input += req.dump() + "\n";
      expected.push_back(c["rendered"]);
      if (c.value("continue_final_message", false)) {
        req["continue_final_message"] = true;
        input += req.dump() + "\n";
        expected.push_back(c.contains("continue_error") ? ojson() : c["rendered_continue"]);
      }
    }
    const TemplateRun r = run_template({templates_dir() + "/" + name + ".jinja"}, input);
    ASSERT_EQ(r.lines.size(), expected.size()) << name << ": " << r.err;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(ojson::parse(r.lines[i]), expected[i]) << name << " line " << i + 1;
      ++checked;
    }
  }
  EXPECT_GE(checked, 72);
}

TEST(TemplateCli, ConfigDirectoryAndExtraContext) {
  REQUIRE_BIN_AND_SHARED();
  R1_SKIP_UNLESS_SHARED("tokenizers/qwen3/tokenizer_config.json");
  const std::string qwen3 = r1::test::shared_path("tokenizers/qwen3");
  const std::string input =
      R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":true,"enable_thinking":false})" "\n";
  const TemplateRun r = run_template({qwen3}, input);
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(ojson::parse(r.lines[0]),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  // The DeepSeek-V3 config's own bos_token is used (the template prints it first).
  const TemplateRun d = run_template({r1::test::shared_path("tokenizers/deepseek_v3/tokenizer_config.json")},
                             R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":true})" "\n");
  ASSERT_EQ(d.rc, 0) << d.err;
  ASSERT_EQ(d.lines.size(), 1u);
  const std::string bos = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
  EXPECT_EQ(ojson::parse(d.lines[0]).get<std::string>().rfind(bos, 0), 0u) << d.lines[0];
}

TEST(TemplateCli, BadLinesPrintNullAndExitNonZero) {
  REQUIRE_BIN_AND_SHARED();
  const std::string input = std::string("not json\n") +
                            R"({"messages":[{"role":"user","content":"ok"}],"add_generation_prompt":false})" "\n" +
                            R"({"messages":"nope"})" "\n";
  const TemplateRun r = run_template({templates_dir() + "/deepseek_r1.jinja", "--bos", "<B>"}, input);
  EXPECT_NE(r.rc, 0);
  ASSERT_EQ(r.lines.size(), 3u) << r.err;
  EXPECT_EQ(r.lines[0], "null");
  EXPECT_EQ(ojson::parse(r.lines[1]), "<B><\xEF\xBD\x9CUser\xEF\xBD\x9C>ok");
  EXPECT_EQ(r.lines[2], "null");
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
}

TEST(TemplateCli, MissingFileFails) {
  R1_REQUIRE_BIN();
  const TemplateRun r = run_template({"/nonexistent/x.jinja"}, "");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("/nonexistent/x.jinja"), std::string::npos) << r.err;
}

}  // namespace

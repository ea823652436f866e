// Chat templates against the rendered sample cases in ../shared/tokenizers/templates/cases-sample
// (rendered by @huggingface/jinja and Python Jinja2 as transformers does), plus loading and BOS.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/test_util.h"
#include "io/gguf_writer.h"
#include "tokenizer/chat_template.h"

namespace r1::tok {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string templates_dir() { return r1::test::shared_path("tokenizers/templates"); }

std::vector<ojson> read_cases(const std::string& path) {
  std::vector<ojson> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(ojson::parse(line));
  return out;
}

TEST(ChatTemplate, SampleCasesRenderByteForByte) {
  R1_SKIP_UNLESS_SHARED("tokenizers/templates");
  int n_templates = 0, n_cases = 0, n_continue = 0;
  for (const auto& entry : fs::directory_iterator(templates_dir())) {
    if (entry.path().extension() != ".jinja") continue;
    const std::string name = entry.path().stem().string();
    const std::string cases_path = templates_dir() + "/cases-sample/" + name + ".jsonl";
    if (!fs::exists(cases_path)) continue;
    auto ct = ChatTemplate::from_path(entry.path().string());
    ASSERT_TRUE(ct.ok()) << name << ": " << ct.message();
    ++n_templates;
    for (const ojson& c : read_cases(cases_path)) {
      const std::string id = name + "/" + c.value("id", "?");
      auto r = ct->render(c["messages"], c["add_generation_prompt"].get<bool>());
      ASSERT_TRUE(r.ok()) << id << ": " << r.message();
      EXPECT_EQ(r.value(), c["rendered"].get<std::string>()) << id;
      ++n_cases;
      if (c.value("continue_final_message", false)) {
        auto rc = ct->render_continue(c["messages"]);
        if (c.contains("continue_error")) {
          EXPECT_FALSE(rc.ok()) << id << " should fail to continue";
        } else {
          ASSERT_TRUE(rc.ok()) << id << ": " << rc.message();
          EXPECT_EQ(rc.value(), c["rendered_continue"].get<std::string>()) << id;
        }
        ++n_continue;
      }
    }
  }
  EXPECT_GE(n_templates, 8);
  EXPECT_GE(n_cases, 64);
  EXPECT_GE(n_continue, 8);
}

// The R1 templates drop `<think>...</think>` from assistant history, so a prefill that holds
// reasoning cannot be continued: transformers raises, so do we.
TEST(ChatTemplate, ContinueFailsWhenFinalTextIsDropped) {
  R1_SKIP_UNLESS_SHARED("tokenizers/templates");
  auto ct = ChatTemplate::from_path(templates_dir() + "/deepseek_r1.jinja");
  ASSERT_TRUE(ct.ok()) << ct.message();
  const ojson msgs = ojson::parse(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"<think>x</think>y"}])");
  EXPECT_FALSE(ct->render_continue(msgs).ok());
  // Without reasoning the turn continues with no end-of-sentence token and exactly one BOS.
  const ojson msgs2 = ojson::parse(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"Sure, "}])");
  auto r = ct->render_continue(msgs2);
  ASSERT_TRUE(r.ok()) << r.message();
  const std::string bos = *deepseek_specials().bos_token;
  EXPECT_EQ(r.value(), bos + "<\xEF\xBD\x9CUser\xEF\xBD\x9C>hi<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>Sure, ");  // the template kept the trailing space, so does the cut
  EXPECT_EQ(r.value().find(bos, 1), std::string::npos);
}

TEST(ChatTemplate, ConfigLoadingAndSpecials) {
  r1::test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  {
    std::ofstream f(tmp.file("tokenizer_config.json"));
    f << R"({"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": null,
            "chat_template": [{"name": "tool_use", "template": "T"},
                              {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}{{ pad_token is defined }}"}]})";
  }
  auto ct = ChatTemplate::from_path(tmp.path());
  ASSERT_TRUE(ct.ok()) << ct.message();
  auto r = ct->render(ojson::parse(R"([{"role":"user","content":"x"}])"), false);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<s>x</s>False");
  {
    std::ofstream f(tmp.file("bad.json"));
    f << R"({"chat_template": "{% if %}"})";
  }
  auto bad = ChatTemplate::from_path(tmp.file("bad.json"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("line 1"), std::string::npos) << bad.message();
  EXPECT_FALSE(ChatTemplate::from_path(tmp.file("missing.json")).ok());
}

TEST(ChatTemplate, GgufMetadata) {
  r1::test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  io::GgufWriter w;
  w.set_string("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}");
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  const std::string path = tmp.file("model.gguf");
  ASSERT_TRUE(w.write(path).ok());
  auto ct = ChatTemplate::from_path(path);
  ASSERT_TRUE(ct.ok()) << ct.message();
  auto r = ct->render(ojson::parse(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"}])"), false);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<s>[a][b]</s>");
}

TEST(ChatTemplate, ExtraContextAndRaiseException) {
  auto ct = ChatTemplate::from_string(
      "{% if enable_thinking is defined and enable_thinking is false %}no-think{% endif %}"
      "{% if messages|length == 0 %}{{ raise_exception('need messages') }}{% endif %}{{ tools is none }}");
  ASSERT_TRUE(ct.ok()) << ct.message();
  auto r = ct->render(ojson::parse(R"([{"role":"user","content":"x"}])"), true, ojson{{"enable_thinking", false}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "no-thinkTrue");
  auto e = ct->render(ojson::array(), true);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.message().find("need messages"), std::string::npos) << e.message();
}

TEST(ChatTemplate, BosExactlyOnce) {
  const auto bos = deepseek_specials().bos_token;
  EXPECT_FALSE(needs_bos(*bos + "<\xEF\xBD\x9CUser\xEF\xBD\x9C>hi", bos, true));  // template printed it
  EXPECT_TRUE(needs_bos("<\xEF\xBD\x9CUser\xEF\xBD\x9C>hi", bos, true));
  EXPECT_FALSE(needs_bos("hi", bos, false));                // tokenizer does not add BOS (Qwen)
  EXPECT_FALSE(needs_bos("hi", std::nullopt, true));        // no BOS token known
}

}  // namespace
}  // namespace r1::tok

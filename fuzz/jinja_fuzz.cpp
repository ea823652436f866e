// libFuzzer harness for the Jinja2 interpreter (chat templates are outside input: users load
// models we have never seen). Input: template source; it is parsed and rendered with a small
// chat context under tight step/size bounds. Invariant: no crash, hang or sanitizer report; every
// failure is a Result error. The second half feeds the ReasoningParser the same bytes in two
// chunks and checks streaming == one-shot.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "jinja/jinja.h"
#include "tokenizer/reasoning.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1::tok;
  namespace jinja = r1::jinja;
  const std::string src(reinterpret_cast<const char*>(data), size);
  jinja::Options opt;
  opt.max_steps = 20000;
  opt.max_output_bytes = 1 << 20;
  opt.max_call_depth = 32;
  auto t = jinja::Template::parse(src, opt);
  if (t.ok()) {
    static const jinja::Value ctx = jinja::Value::from_json(nlohmann::ordered_json::parse(
        R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u <think>"},
            {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
            "add_generation_prompt": true, "bos_token": "<s>", "tools": [{"type": "function"}]})"));
    (void)t->render(ctx);
  }
  for (bool starts : {false, true}) {
    const auto one = ReasoningParser::parse(src, starts);
    ReasoningParser p(starts);
    const size_t cut = size / 2;
    auto a = p.push(std::string_view(src).substr(0, cut));
    auto b = p.push(std::string_view(src).substr(cut));
    auto c = p.finish();
    if (a.reasoning + b.reasoning + c.reasoning != one.reasoning || a.content + b.content + c.content != one.content)
      std::abort();
  }
  return 0;
}

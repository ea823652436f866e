// `r1 template PATH`: renders chat conversations with a model's chat template, one JSON object per
// stdin line in, one JSON string (the rendered prompt) per stdout line out.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "tokenizer/chat_template.h"

namespace r1::cli {

int cmd_template(int argc, char** argv) {
  CLI::App app{
      "Render chat conversations with a model's chat template (Jinja2, as transformers' apply_chat_template).\n"
      "stdin: one JSON object per line: {\"messages\": [...], \"add_generation_prompt\": true|false}, optional\n"
      "\"continue_final_message\": true (continue the last message: no end-of-turn, no generation prompt),\n"
      "\"tools\": [...], and any other key (e.g. \"enable_thinking\": false) as a template variable.\n"
      "stdout: one JSON string per input line (blank lines are skipped); a line that fails prints null and\n"
      "an error naming the input line goes to stderr; the exit status is 1 if any line failed.\n"
      "Special tokens come from tokenizer_config.json (PATH a model directory or that file). For a bare\n"
      ".jinja file they default to DeepSeek's (bos <｜begin▁of▁sentence｜>, eos <｜end▁of▁sentence｜>) when the\n"
      "template uses DeepSeek's full-width markers, else they are undefined; --bos/--eos/... override.",
      "r1 template"};
  std::string path;
  std::string bos, eos, pad, unk;
  app.add_option("PATH", path, "a .jinja file, a tokenizer_config.json, a model directory or a GGUF file")->required();
  auto* bos_opt = app.add_option("--bos", bos, "bos_token string (default: from the config, see above)");
  auto* eos_opt = app.add_option("--eos", eos, "eos_token string (default: from the config, see above)");
  auto* pad_opt = app.add_option("--pad", pad, "pad_token string (default: from the config)");
  auto* unk_opt = app.add_option("--unk", unk, "unk_token string (default: from the config)");
  int threads = 0;
  add_threads_option_single(app, threads, "rendering");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  auto ct = tok::ChatTemplate::from_path(path);
  if (!ct.ok()) {
    std::fprintf(stderr, "r1 template: %s\n", ct.message().c_str());
    return 1;
  }
  tok::Specials sp = ct->specials();
  if (*bos_opt) sp.bos_token = bos;
  if (*eos_opt) sp.eos_token = eos;
  if (*pad_opt) sp.pad_token = pad;
  if (*unk_opt) sp.unk_token = unk;
  ct->set_specials(sp);

  using ojson = nlohmann::ordered_json;
  std::string line;
  long line_no = 0;
  int failures = 0;
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "r1 template: stdin line %ld: %s\n", line_no, msg.c_str());
    std::fputs("null\n", stdout);
    ++failures;
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ojson req;
    try {
      req = ojson::parse(line);
    } catch (const std::exception& e) {
      fail(std::string("invalid JSON: ") + e.what());
      continue;
    }
    if (!req.is_object() || !req.contains("messages") || !req["messages"].is_array()) {
      fail("expected an object with a \"messages\" array");
      continue;
    }
    const ojson& agp = req.value("add_generation_prompt", ojson(false));
    const ojson& cont = req.value("continue_final_message", ojson(false));
    if (!agp.is_boolean() || !cont.is_boolean()) {
      fail("add_generation_prompt and continue_final_message must be true or false");
      continue;
    }
    ojson extra = ojson::object();
    for (auto it = req.begin(); it != req.end(); ++it) {
      if (it.key() == "messages" || it.key() == "add_generation_prompt" || it.key() == "continue_final_message")
        continue;
      extra[it.key()] = it.value();
    }
    // continue_final_message renders without a generation prompt (transformers rejects asking
    // for both; we let the continuation win so a request still gets its prefill prompt).
    auto r = cont.get<bool>() ? ct->render_continue(req["messages"], extra)
                              : ct->render(req["messages"], agp.get<bool>(), extra);
    if (!r.ok()) {
      fail(r.message());
      continue;
    }
    const std::string out = ojson(r.value()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fputs(out.c_str(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return failures ? 1 : 0;
}

}  // namespace r1::cli

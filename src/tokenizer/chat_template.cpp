// Chat templates: loading from model files and rendering like transformers' apply_chat_template.
#include "tokenizer/chat_template.h"

#include "io/gguf.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace r1::tok {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

Result<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot open file", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return make_error("{}: read error", path);
  return ss.str();
}

// A special token in tokenizer_config.json: a string, an AddedToken object or null.
Result<std::optional<std::string>> special_token(const ojson& cfg, const char* key, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::optional<std::string>();
  const ojson& v = cfg[key];
  if (v.is_string()) return std::optional<std::string>(v.get<std::string>());
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return std::optional<std::string>(v["content"].get<std::string>());
  return make_error("{}: {}: expected a string or an object with \"content\"", path, key);
}

Result<ChatTemplate> from_config(const std::string& text, const std::string& path, bool require_template) {
  ojson cfg;
  try {
    cfg = ojson::parse(text);
  } catch (const std::exception& e) {
    return make_error("{}: invalid JSON: {}", path, e.what());
  }
  if (!cfg.is_object()) return make_error("{}: expected a JSON object", path);
  Specials sp;
  R1_ASSIGN_OR_RETURN(bos, special_token(cfg, "bos_token", path));
  R1_ASSIGN_OR_RETURN(eos, special_token(cfg, "eos_token", path));
  R1_ASSIGN_OR_RETURN(pad, special_token(cfg, "pad_token", path));
  R1_ASSIGN_OR_RETURN(unk, special_token(cfg, "unk_token", path));
  sp.bos_token = bos;
  sp.eos_token = eos;
  sp.pad_token = pad;
  sp.unk_token = unk;
  if (!cfg.contains("chat_template") || cfg["chat_template"].is_null()) {
    if (require_template) return make_error("{}: no chat_template", path);
    return ChatTemplate::from_string("", sp);
  }
  const ojson& ct = cfg["chat_template"];
  std::string src;
  if (ct.is_string()) {
    src = ct.get<std::string>();
  } else if (ct.is_array() && !ct.empty()) {
    const ojson* pick = nullptr;
    for (const auto& t : ct) {
      if (!t.is_object() || !t.contains("template") || !t["template"].is_string())
        return make_error("{}: chat_template: list entries must be {{name, template}}", path);
      if (!pick || (t.contains("name") && t["name"] == "default")) {
        if (!pick || !(pick->contains("name") && (*pick)["name"] == "default")) pick = &t;
      }
    }
    src = (*pick)["template"].get<std::string>();
  } else {
    return make_error("{}: chat_template: expected a string or a list of {{name, template}}", path);
  }
  auto r = ChatTemplate::from_string(src, sp);
  if (!r.ok()) return make_error("{}: chat_template: {}", path, r.message());
  return r;
}

// A GGUF file: `tokenizer.chat_template`, specials from tokenizer.ggml.{bos,eos,padding,unknown}_token_id.
Result<ChatTemplate> from_gguf(const std::string& path) {
  R1_ASSIGN_OR_RETURN(g, io::GgufFile::open(path));
  if (!g.has("tokenizer.chat_template")) return make_error("{}: no tokenizer.chat_template metadata", path);
  R1_ASSIGN_OR_RETURN(src, g.get_string("tokenizer.chat_template"));
  Specials sp;
  if (g.has("tokenizer.ggml.tokens")) {
    R1_ASSIGN_OR_RETURN(tokens, g.get_string_array("tokenizer.ggml.tokens"));
    auto pick = [&](const char* key, std::optional<std::string>& out) {
      if (!g.has(key)) return;
      auto id = g.get_u32(key);
      if (id.ok() && id.value() < tokens.size()) out = tokens[id.value()];
    };
    pick("tokenizer.ggml.bos_token_id", sp.bos_token);
    pick("tokenizer.ggml.eos_token_id", sp.eos_token);
    pick("tokenizer.ggml.padding_token_id", sp.pad_token);
    pick("tokenizer.ggml.unknown_token_id", sp.unk_token);
  }
  auto r = ChatTemplate::from_string(src, sp);
  if (!r.ok()) return make_error("{}: tokenizer.chat_template: {}", path, r.message());
  return r;
}

bool contains_fullwidth_bar(const std::string& s) { return s.find("\xEF\xBD\x9C") != std::string::npos; }

}  // namespace

Specials deepseek_specials() {
  Specials s;
  s.bos_token = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
  s.eos_token = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
  s.pad_token = s.eos_token;
  return s;
}

Result<ChatTemplate> ChatTemplate::from_string(const std::string& src, Specials specials) {
  auto t = jinja::Template::parse(src);
  if (!t.ok()) return t.error();
  ChatTemplate ct;
  ct.tmpl_ = std::move(t).value();
  ct.specials_ = std::move(specials);
  ct.source_ = src;
  return ct;
}

Result<ChatTemplate> ChatTemplate::from_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string cfg_path = (fs::path(path) / "tokenizer_config.json").string();
    const std::string jinja_path = (fs::path(path) / "chat_template.jinja").string();
    const bool has_cfg = fs::exists(cfg_path, ec), has_jinja = fs::exists(jinja_path, ec);
    if (!has_cfg && !has_jinja) return make_error("{}: no tokenizer_config.json or chat_template.jinja", path);
    Specials sp;
    if (has_cfg) {
      R1_ASSIGN_OR_RETURN(text, read_text(cfg_path));
      R1_ASSIGN_OR_RETURN(ct, from_config(text, cfg_path, !has_jinja));
      if (!ct.source().empty() || !has_jinja) return ct;
      sp = ct.specials();
    }
    R1_ASSIGN_OR_RETURN(src, read_text(jinja_path));
    auto r = from_string(src, sp);
    if (!r.ok()) return make_error("{}: {}", jinja_path, r.message());
    return r;
  }
  {
    std::ifstream f(path, std::ios::binary);
    char magic[4] = {};
    if (f && f.read(magic, 4) && std::string(magic, 4) == "GGUF") return from_gguf(path);  // do not read it whole
  }
  R1_ASSIGN_OR_RETURN(text, read_text(path));
  if (fs::path(path).extension() == ".json") return from_config(text, path, true);
  auto r = from_string(text, contains_fullwidth_bar(text) ? deepseek_specials() : Specials{});
  if (!r.ok()) return make_error("{}: {}", path, r.message());
  return r;
}

Result<std::string> ChatTemplate::render_impl(const ojson& messages, bool add_generation_prompt,
                                              const ojson& extra) const {
  if (!messages.is_array()) return make_error("chat template: messages must be a JSON array");
  if (!extra.is_null() && !extra.is_object()) return make_error("chat template: extra context must be a JSON object");
  using jinja::Value;
  jinja::Dict ctx;
  ctx.set(Value("messages"), Value::from_json(messages));
  ctx.set(Value("tools"), Value::none());
  ctx.set(Value("documents"), Value::none());
  ctx.set(Value("add_generation_prompt"), Value(add_generation_prompt));
  auto put = [&](const char* k, const std::optional<std::string>& v) {
    if (v) ctx.set(Value(k), Value(*v));
  };
  put("bos_token", specials_.bos_token);
  put("eos_token", specials_.eos_token);
  put("pad_token", specials_.pad_token);
  put("unk_token", specials_.unk_token);
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx.set(Value(it.key()), Value::from_json(it.value()));
  return tmpl_.render(Value::dict(std::move(ctx)));
}

Result<std::string> ChatTemplate::render(const ojson& messages, bool add_generation_prompt, const ojson& extra) const {
  return render_impl(messages, add_generation_prompt, extra);
}

Result<std::string> ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                         const nlohmann::json& extra) const {
  return render_impl(ojson::parse(messages.dump()), add_generation_prompt, ojson::parse(extra.dump()));
}

Result<std::string> ChatTemplate::render_continue(const ojson& messages, const ojson& extra) const {
  if (!messages.is_array() || messages.empty())
    return make_error("continue_final_message: messages must be a non-empty JSON array");
  R1_ASSIGN_OR_RETURN(rendered, render_impl(messages, false, extra));
  // transformers (apply_chat_template, continue_final_message=True).
  const ojson& last = messages.back();
  if (!last.is_object() || !last.contains("content"))
    return make_error("continue_final_message: the final message has no content");
  const ojson& content = last["content"];
  std::string final_message;
  if (content.is_string()) {
    final_message = content.get<std::string>();
  } else if (content.is_array()) {
    bool found = false;
    for (auto it = content.rbegin(); it != content.rend(); ++it) {
      if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
        final_message = (*it)["text"].get<std::string>();
        found = true;
        break;
      }
    }
    if (!found)
      return make_error("continue_final_message is set but we could not find any text to continue in the final message");
  } else {
    return make_error("continue_final_message: the final message's content must be a string or a list of blocks");
  }
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  size_t b = 0, e = final_message.size();
  while (b < e && is_ws(final_message[b])) ++b;
  while (e > b && is_ws(final_message[e - 1])) --e;
  const std::string stripped = final_message.substr(b, e - b);
  const std::string lstripped = final_message.substr(b);
  const size_t loc = rendered.rfind(stripped);
  if (loc == std::string::npos)
    return make_error("continue_final_message is set but the final message does not appear in the chat after "
                      "applying the chat template");
  if (rendered.compare(loc, lstripped.size(), final_message) == 0 && lstripped.size() == final_message.size())
    return rendered.substr(0, loc + lstripped.size());  // the template kept the message's spacing
  return rendered.substr(0, loc + stripped.size());
}

bool needs_bos(const std::string& rendered, const std::optional<std::string>& bos_token, bool add_bos_token) {
  if (!add_bos_token || !bos_token || bos_token->empty()) return false;
  return rendered.compare(0, bos_token->size(), *bos_token) != 0;
}

}  // namespace r1::tok

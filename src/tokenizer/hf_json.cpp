// Loader for Hugging Face tokenizer.json (model BPE; normalizers NFC/Sequence; pre-tokenizers
// Split/ByteLevel/Digits/Sequence; decoder ByteLevel) plus tokenizer_config.json and
// generation_config.json found beside it (bos/eos/add_bos_token).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1::tok {

namespace {

using json = nlohmann::json;

Result<json> read_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot open file", path);
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error("{}: not valid JSON", path);
  return j;
}

// An optional string/bool field of object `o`: absent or null gives `fallback`, another type is an
// error naming the field (nlohmann's value() would throw a message naming neither file nor field).
Result<std::string> opt_string(const json& o, const char* key, const char* fallback, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::string(fallback);
  if (!it->is_string()) return make_error("{}.{}: expected a string, got {}", where, key, it->type_name());
  return it->get<std::string>();
}
Result<bool> opt_bool(const json& o, const char* key, bool fallback, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return make_error("{}.{}: expected a boolean, got {}", where, key, it->type_name());
  return it->get<bool>();
}

// Collects normalizer flags; only NFC (alone or in a Sequence) is supported.
Result<void> parse_normalizer(const json& n, const std::string& where, TokenizerImpl& impl) {
  if (n.is_null()) return ok_result();
  if (!n.is_object()) return make_error("{}: normalizer: expected an object, got {}", where, n.type_name());
  R1_ASSIGN_OR_RETURN(type, opt_string(n, "type", "", where + ": normalizer"));
  if (type == "NFC") {
    impl.nfc = true;
    return ok_result();
  }
  if (type == "Sequence") {
    if (!n.contains("normalizers") || !n["normalizers"].is_array()) {
      return make_error("{}: normalizer.normalizers: expected an array", where);
    }
    for (const json& c : n["normalizers"]) R1_TRY(parse_normalizer(c, where, impl));
    return ok_result();
  }
  return make_error("{}: normalizer type '{}' is not supported (supported: NFC, Sequence)", where, type);
}

Result<SplitBehavior> parse_behavior(const std::string& b, const std::string& where) {
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  return make_error("{}: pre_tokenizer Split: unknown behavior '{}'", where, b);
}

std::string escape_regex_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Result<std::shared_ptr<const Regex>> compile_shared(const std::string& pattern, const std::string& where) {
  auto re = Regex::compile(pattern);
  if (!re.ok()) return make_error("{}: pre_tokenizer: {}", where, re.message());
  return std::shared_ptr<const Regex>(std::move(re).value());
}

Result<void> parse_pretokenizer(const json& p, const std::string& where, std::vector<PreTokenizerStep>& steps,
                                bool& byte_level) {
  if (p.is_null()) return ok_result();
  if (!p.is_object()) return make_error("{}: pre_tokenizer: expected an object, got {}", where, p.type_name());
  const std::string at = where + ": pre_tokenizer";
  R1_ASSIGN_OR_RETURN(type, opt_string(p, "type", "", at));
  if (type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
      return make_error("{}: pre_tokenizer.pretokenizers: expected an array", where);
    }
    for (const json& c : p["pretokenizers"]) R1_TRY(parse_pretokenizer(c, where, steps, byte_level));
    return ok_result();
  }
  PreTokenizerStep s;
  if (type == "Split") {
    const json& pat = p.contains("pattern") ? p["pattern"] : json();
    std::string regex;
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      regex = pat["Regex"].get<std::string>();
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      regex = escape_regex_literal(pat["String"].get<std::string>());
    } else {
      return make_error("{}: pre_tokenizer Split: pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}", where);
    }
    R1_ASSIGN_OR_RETURN(re, compile_shared(regex, where));
    R1_ASSIGN_OR_RETURN(behavior_name, opt_string(p, "behavior", "Isolated", at));
    R1_ASSIGN_OR_RETURN(behavior, parse_behavior(behavior_name, where));
    R1_ASSIGN_OR_RETURN(invert, opt_bool(p, "invert", false, at));
    s.kind = PreTokenizerStep::Kind::Split;
    s.regex = std::move(re);
    s.behavior = behavior;
    s.invert = invert;
  } else if (type == "ByteLevel") {
    byte_level = true;
    s.kind = PreTokenizerStep::Kind::ByteLevel;
    R1_ASSIGN_OR_RETURN(add_prefix_space, opt_bool(p, "add_prefix_space", true, at));
    R1_ASSIGN_OR_RETURN(use_regex, opt_bool(p, "use_regex", true, at));
    s.add_prefix_space = add_prefix_space;
    if (use_regex) {
      R1_ASSIGN_OR_RETURN(re, compile_shared(kGpt2Regex, where));
      s.regex = std::move(re);
    }
  } else if (type == "Digits") {
    // HF Digits: runs of char::is_numeric characters, isolated (one by one when individual).
    R1_ASSIGN_OR_RETURN(individual, opt_bool(p, "individual_digits", false, at));
    R1_ASSIGN_OR_RETURN(re, compile_shared(individual ? "\\p{N}" : "\\p{N}+", where));
    s.kind = PreTokenizerStep::Kind::Split;
    s.regex = std::move(re);
    s.behavior = SplitBehavior::Isolated;
  } else {
    return make_error("{}: pre_tokenizer type '{}' is not supported (supported: Split, ByteLevel, Digits, Sequence)",
                      where, type);
  }
  steps.push_back(std::move(s));
  return ok_result();
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

int32_t lookup(const TokenizerImpl& impl, const std::string& s) {
  if (auto it = impl.added_text_to_id.find(s); it != impl.added_text_to_id.end()) return it->second;
  if (auto it = impl.model_text_to_id.find(s); it != impl.model_text_to_id.end()) return it->second;
  return -1;
}

void read_side_configs(const std::string& tokenizer_json_path, TokenizerImpl& impl) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(tokenizer_json_path).parent_path();
  std::error_code ec;
  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path, ec)) {
    auto cfg = read_json(cfg_path.string());
    if (cfg.ok() && cfg->is_object()) {
      if (auto b = config_token(*cfg, "bos_token")) impl.bos = lookup(impl, *b);
      if (auto e = config_token(*cfg, "eos_token")) impl.eos = lookup(impl, *e);
      if ((*cfg).contains("add_bos_token") && (*cfg)["add_bos_token"].is_boolean()) {
        impl.add_bos = (*cfg)["add_bos_token"].get<bool>();
      }
    }
  }
  const fs::path gen_path = dir / "generation_config.json";
  if (fs::exists(gen_path, ec)) {
    auto gen = read_json(gen_path.string());
    if (gen.ok() && gen->is_object() && gen->contains("eos_token_id")) {
      const json& e = (*gen)["eos_token_id"];
      const auto n = static_cast<int64_t>(impl.id_text.size());
      auto add = [&](const json& v) {
        if (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < n) {
          impl.eos_list.push_back(static_cast<int32_t>(v.get<int64_t>()));
        }
      };
      if (e.is_array()) {
        for (const json& v : e) add(v);
      } else {
        add(e);
      }
      if (impl.eos < 0 && !impl.eos_list.empty()) impl.eos = impl.eos_list.front();
    }
  }
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json(const std::string& path) {
  R1_ASSIGN_OR_RETURN(j, read_json(path));
  if (!j.is_object()) return make_error("{}: expected a JSON object", path);
  auto impl = std::make_unique<TokenizerImpl>();
  impl->kind = ModelKind::ByteLevelBpe;

  if (!j.contains("model") || !j["model"].is_object()) return make_error("{}: model: missing", path);
  const json& model = j["model"];
  R1_ASSIGN_OR_RETURN(mtype, opt_string(model, "type", "BPE", path + ": model"));
  if (mtype != "BPE") return make_error("{}: model.type '{}' is not supported (only BPE)", path, mtype);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      return make_error("{}: model.{} is not supported", path, key);
    }
  }
  if (model.contains("ignore_merges") && model["ignore_merges"].is_boolean()) {
    impl->ignore_merges = model["ignore_merges"].get<bool>();
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) return make_error("{}: model.vocab: missing", path);

  // Vocabulary: size = max id + 1 over vocab and added tokens.
  int64_t max_id = -1;
  for (const auto& [tok, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 30)) {
      return make_error("{}: model.vocab[\"{}\"]: expected a non-negative integer id", path, tok);
    }
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  const json added = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"] : json::array();
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string() || a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() > (1 << 30)) {
      return make_error("{}: added_tokens: each entry needs an integer id and a string content", path);
    }
    max_id = std::max<int64_t>(max_id, a["id"].get<int64_t>());
  }
  // Ids index dense tables (id -> text, bytes): an id far past the token count would make the
  // loader allocate gigabytes for one stray number, so such sparse vocabularies are refused.
  const int64_t n_entries = static_cast<int64_t>(model["vocab"].size() + added.size());
  if (max_id >= 2 * n_entries + 1024) {
    return make_error("{}: token id {} is far above the {} tokens of model.vocab and added_tokens (ids must be "
                      "dense)", path, max_id, n_entries);
  }
  impl->id_text.assign(static_cast<size_t>(max_id + 1), std::string());
  impl->model_text_to_id.reserve(model["vocab"].size());
  for (const auto& [tok, id] : model["vocab"].items()) {
    impl->id_text[id.get<int64_t>()] = tok;
    impl->model_text_to_id.emplace(tok, static_cast<int32_t>(id.get<int64_t>()));
  }
  for (size_t i = 0; i < added.size(); ++i) {
    const json& a = added[i];
    const std::string at = path + ": added_tokens[" + std::to_string(i) + "]";
    AddedToken t;
    t.content = a["content"].get<std::string>();
    t.id = static_cast<int32_t>(a["id"].get<int64_t>());
    R1_ASSIGN_OR_RETURN(special, opt_bool(a, "special", false, at));
    R1_ASSIGN_OR_RETURN(lstrip, opt_bool(a, "lstrip", false, at));
    R1_ASSIGN_OR_RETURN(rstrip, opt_bool(a, "rstrip", false, at));
    R1_ASSIGN_OR_RETURN(normalized, opt_bool(a, "normalized", !special, at));
    R1_ASSIGN_OR_RETURN(single_word, opt_bool(a, "single_word", false, at));
    t.special = special;
    t.lstrip = lstrip;
    t.rstrip = rstrip;
    t.normalized = normalized;
    t.single_word = single_word;
    impl->id_text[t.id] = t.content;
    impl->added_text_to_id.emplace(t.content, t.id);
    impl->added.push_back(std::move(t));
  }

  // Merges: "a b" strings or ["a", "b"] pairs; rank = position.
  if (model.contains("merges") && model["merges"].is_array()) {
    const json& merges = model["merges"];
    impl->merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const json& m = merges[rank];
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) return make_error("{}: model.merges[{}]: expected \"a b\"", path, rank);
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        return make_error("{}: model.merges[{}]: expected \"a b\" or [\"a\", \"b\"]", path, rank);
      }
      const auto ia = impl->model_text_to_id.find(a), ib = impl->model_text_to_id.find(b),
                 iab = impl->model_text_to_id.find(a + b);
      if (ia == impl->model_text_to_id.end() || ib == impl->model_text_to_id.end() ||
          iab == impl->model_text_to_id.end()) {
        return make_error("{}: model.merges[{}]: '{} {}' uses a token missing from model.vocab", path, rank, a, b);
      }
      impl->merges.insert(ia->second, ib->second, static_cast<int32_t>(rank), iab->second);
    }
  }

  R1_TRY(parse_normalizer(j.contains("normalizer") ? j["normalizer"] : json(), path, *impl));
  std::vector<PreTokenizerStep> steps;
  bool byte_level = false;
  R1_TRY(parse_pretokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), path, steps, byte_level));
  const auto decoder = j.find("decoder");
  const bool byte_level_decoder = decoder != j.end() && decoder->is_object() && decoder->contains("type") &&
                                  (*decoder)["type"] == "ByteLevel";
  if (!byte_level && !byte_level_decoder) {
    return make_error("{}: only byte-level BPE is supported (no ByteLevel pre_tokenizer or decoder)", path);
  }
  impl->pre = PreTokenizer(std::move(steps));

  read_side_configs(path, *impl);
  R1_TRY(impl->finalize());
  for (int b = 0; b < 256; ++b) {
    if (impl->byte_id[b] < 0) {
      return make_error("{}: model.vocab lacks the byte-level token for byte 0x{:02X}", path, b);
    }
  }
  return std::make_unique<Tokenizer>(std::move(impl));
}

}  // namespace r1::tok

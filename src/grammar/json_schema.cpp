// JSON Schema -> GBNF (see json_schema.h).
#include "grammar/json_schema.h"

#include <cctype>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace r1::grammar {
namespace {

using json = nlohmann::ordered_json;

// The JSON lexical rules (RFC 8259 §6-7), bounded so that every value is finite. An unbounded
// string is a tail-recursive rule over character classes, so a step inside it allocates no frame
// (its mask is the most expensive one: most of the vocabulary fits inside a string).
constexpr const char* kPrimitives = R"(ws ::= | " " | "\n" [ \t]{0,20}
string ::= "\"" string-rest
string-rest ::= [^"\\\x00-\x1F\x7F] string-rest | "\\" escape string-rest | "\""
char ::= [^"\\\x00-\x1F\x7F] | "\\" escape
escape ::= ["\\/bfnrt] | "u" [0-9a-fA-F]{4}
integer ::= "-"? ("0" | [1-9] [0-9]{0,15})
number ::= integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
)";

// A GBNF string literal of `s` (UTF-8 kept as is).
std::string literal(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += fmt::format("\\x{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

struct Fail {
  SchemaErrorKind kind;
  std::string message;
};

class Compiler {
 public:
  Compiler(const json& root, std::string prefix) : root_(root), prefix_(std::move(prefix)) {}

  // `rule_name ::= ...` and its helper rules (named prefix-...), without the primitives.
  std::string compile(const std::string& rule_name) {
    const std::string top = visit(root_, "value", "");
    std::string out = fmt::format("{} ::= {}\n", rule_name, top);
    for (const auto& [name, body] : rules_) out += fmt::format("{} ::= {}\n", name, body);
    return out;
  }

 private:
  [[noreturn]] void malformed(const std::string& path, const std::string& what) {
    throw Fail{SchemaErrorKind::Malformed, fmt::format("malformed JSON schema at {}: {}", path.empty() ? "/" : path, what)};
  }
  [[noreturn]] void unsupported(const std::string& path, const std::string& keyword) {
    throw Fail{SchemaErrorKind::Unsupported,
               fmt::format("unsupported JSON schema keyword '{}' at {}", keyword, path.empty() ? "/" : path)};
  }

  std::string new_rule(const std::string& hint, const std::string& body) {
    std::string base = prefix_ + "-";
    for (const char c : hint) base += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
    std::string name = base;
    for (int k = 1; rules_.count(name) || reserved(name); ++k) name = fmt::format("{}-{}", base, k);
    rules_[name] = body;
    return name;
  }
  static bool reserved(const std::string& n) {
    static const std::set<std::string> kNames = {"root", "ws", "string", "string-rest", "char", "escape", "integer", "number", "boolean", "null", "value", "object", "array"};
    return kNames.count(n) > 0;
  }

  std::string visit(const json& s, const std::string& hint, const std::string& path) {
    if (++depth_ > 32) unsupported(path, "nesting deeper than 32 levels");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    if (s.is_boolean()) {
      if (!s.get<bool>()) malformed(path, "the schema 'false' allows no value");
      return "value";
    }
    if (!s.is_object()) malformed(path, "a schema must be an object or a boolean");
    static const std::set<std::string> kKnown = {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "minLength", "maxLength", "enum", "const", "anyOf", "oneOf", "$ref", "$defs", "definitions",
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
        "readOnly", "writeOnly"};
    for (const auto& [key, v] : s.items()) {
      if (!kKnown.count(key)) unsupported(path, key);
    }
    if (auto it = s.find("$ref"); it != s.end()) {
      if (!it->is_string()) malformed(path + "/$ref", "'$ref' must be a string");
      return ref(it->get<std::string>(), path + "/$ref");
    }
    if (auto it = s.find("const"); it != s.end()) return new_rule(hint, literal(it->dump()));
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) malformed(path + "/enum", "'enum' must be a non-empty array");
      std::string body;
      for (const auto& v : *it) body += (body.empty() ? "" : " | ") + literal(v.dump());
      return new_rule(hint, body);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (auto it = s.find(key); it != s.end()) {
        if (!it->is_array() || it->empty()) malformed(path + "/" + key, fmt::format("'{}' must be a non-empty array", key));
        std::string body;
        for (size_t i = 0; i < it->size(); ++i) {
          body += (body.empty() ? "" : " | ") + visit((*it)[i], fmt::format("{}-{}", hint, i), fmt::format("{}/{}/{}", path, key, i));
        }
        return new_rule(hint, body);
      }
    }
    std::vector<std::string> types;
    if (auto it = s.find("type"); it != s.end()) {
      if (it->is_string()) {
        types.push_back(it->get<std::string>());
      } else if (it->is_array() && !it->empty()) {
        for (const auto& t : *it) {
          if (!t.is_string()) malformed(path + "/type", "'type' must be a string or an array of strings");
          types.push_back(t.get<std::string>());
        }
      } else {
        malformed(path + "/type", "'type' must be a string or a non-empty array of strings");
      }
    } else if (s.contains("properties") || s.contains("additionalProperties")) {
      types.push_back("object");
    } else if (s.contains("items")) {
      types.push_back("array");
    } else {
      return "value";
    }
    std::string body;
    for (const auto& t : types) {
      std::string alt;
      if (t == "object") {
        alt = object(s, hint, path);
      } else if (t == "array") {
        alt = array(s, hint, path);
      } else if (t == "string") {
        alt = string(s, path);
      } else if (t == "number" || t == "integer" || t == "boolean" || t == "null") {
        alt = t;
      } else {
        malformed(path + "/type", fmt::format("unknown type '{}'", t));
      }
      body += (body.empty() ? "" : " | ") + alt;
    }
    return new_rule(hint, body);
  }

  std::string ref(const std::string& r, const std::string& path) {
    if (auto it = refs_.find(r); it != refs_.end()) return it->second;
    std::string section, name;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      if (r.rfind(prefix, 0) == 0) {
        section = std::string(prefix).substr(2, std::string(prefix).size() - 3);
        name = r.substr(std::string(prefix).size());
      }
    }
    if (section.empty()) unsupported(path, "$ref (only \"#/$defs/NAME\" and \"#/definitions/NAME\")");
    auto sec = root_.find(section);
    if (sec == root_.end() || !sec->is_object() || !sec->contains(name)) malformed(path, fmt::format("'$ref' \"{}\" points to nothing", r));
    // Reserve the rule name first: a recursive schema refers to itself while being compiled.
    const std::string rule = new_rule("def-" + name, "");
    refs_[r] = rule;
    const std::string body = visit((*sec)[name], rule + "-body", "/" + section + "/" + name);
    rules_[rule] = body;
    return rule;
  }

  std::optional<int64_t> bound(const json& s, const char* key, const std::string& path) {
    auto it = s.find(key);
    if (it == s.end()) return std::nullopt;
    if (!it->is_number_integer() && !it->is_number_unsigned()) malformed(path + "/" + key, fmt::format("'{}' must be a non-negative integer", key));
    const int64_t v = it->get<int64_t>();
    if (v < 0) malformed(path + "/" + key, fmt::format("'{}' must be a non-negative integer", key));
    if (v > 1000) unsupported(path, fmt::format("{} above 1000", key));
    return v;
  }

  static std::string repeat(const std::string& x, int64_t lo, std::optional<int64_t> hi) {
    if (hi) return lo == *hi ? fmt::format("{}{{{}}}", x, lo) : fmt::format("{}{{{},{}}}", x, lo, *hi);
    return lo == 0 ? x + "*" : fmt::format("{}{{{},}}", x, lo);
  }

  std::string string(const json& s, const std::string& path) {
    const auto lo = bound(s, "minLength", path);
    const auto hi = bound(s, "maxLength", path);
    if (!lo && !hi) return "string";
    if (lo && hi && *hi < *lo) malformed(path, "maxLength is below minLength");
    return fmt::format("\"\\\"\" {} \"\\\"\"", repeat("char", lo.value_or(0), hi));
  }

  std::string array(const json& s, const std::string& hint, const std::string& path) {
    std::string item = "value";
    if (auto it = s.find("items"); it != s.end()) {
      if (it->is_array()) unsupported(path + "/items", "items as an array (tuple validation)");
      item = visit(*it, hint + "-item", path + "/items");
    }
    const int64_t lo = bound(s, "minItems", path).value_or(0);
    const auto hi = bound(s, "maxItems", path);
    if (hi && *hi < lo) malformed(path, "maxItems is below minItems");
    if (hi && *hi == 0) return "\"[\" ws \"]\"";
    const std::string more = fmt::format("(\",\" ws {} ws)", item);
    const std::string list = fmt::format("{} ws {}", item, repeat(more, lo > 0 ? lo - 1 : 0, hi ? std::optional<int64_t>(*hi - 1) : std::nullopt));
    return lo > 0 ? fmt::format("\"[\" ws {} \"]\"", list) : fmt::format("\"[\" ws ({})? \"]\"", list);
  }

  std::string object(const json& s, const std::string& hint, const std::string& path) {
    auto props = s.find("properties");
    auto addl = s.find("additionalProperties");
    if (props == s.end()) {
      if (s.contains("required") && !s["required"].empty()) unsupported(path + "/required", "required without properties");
      if (addl == s.end() || (addl->is_boolean() && addl->get<bool>())) return "object";
      if (addl->is_boolean()) return "\"{\" ws \"}\"";
      const std::string v = visit(*addl, hint + "-additional", path + "/additionalProperties");
      const std::string kv = fmt::format("string ws \":\" ws {} ws", v);
      return fmt::format("\"{{\" ws ({} (\",\" ws {})*)? \"}}\"", kv, kv);
    }
    if (!props->is_object()) malformed(path + "/properties", "'properties' must be an object");
    if (addl != s.end() && !addl->is_boolean() && !addl->is_object()) malformed(path + "/additionalProperties", "'additionalProperties' must be a boolean or a schema");
    std::set<std::string> required;
    if (auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) malformed(path + "/required", "'required' must be an array of strings");
      for (const auto& r : *it) {
        if (!r.is_string()) malformed(path + "/required", "'required' must be an array of strings");
        if (!props->contains(r.get<std::string>())) unsupported(path + "/required", fmt::format("required property '{}' not in properties", r.get<std::string>()));
        required.insert(r.get<std::string>());
      }
    }
    // Required properties first (in the schema's order), then the optional ones in order, each
    // of which may be left out (llama.cpp's json-schema-to-grammar orders them the same way).
    std::vector<std::string> req, opt;
    for (const auto& [key, sub] : props->items()) {
      const std::string v = visit(sub, hint + "-" + key, path + "/properties/" + key);
      const std::string kv = new_rule(hint + "-" + key + "-kv", fmt::format("{} ws \":\" ws {} ws", literal(json(key).dump()), v));
      (required.count(key) ? req : opt).push_back(kv);
    }
    // any(i): one of the optional properties i.. and, after it, any(j > i) of the rest.
    std::vector<std::string> any(opt.size() + 1);
    for (size_t i = opt.size(); i-- > 0;) {
      std::string alts;
      for (size_t j = i; j < opt.size(); ++j) {
        std::string alt = opt[j];
        if (j + 1 < opt.size()) alt += fmt::format(" (\",\" ws {})?", any[j + 1]);
        alts += (alts.empty() ? "" : " | ") + alt;
      }
      any[i] = new_rule(hint + "-rest", alts);
    }
    std::string body = "\"{\" ws";
    for (size_t i = 0; i < req.size(); ++i) body += (i ? " \",\" ws " : " ") + req[i];
    if (!opt.empty()) body += req.empty() ? fmt::format(" {}?", any[0]) : fmt::format(" (\",\" ws {})?", any[0]);
    return body + " \"}\"";
  }

  const json& root_;
  std::string prefix_;
  int depth_ = 0;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> refs_;
};

}  // namespace

Result<std::string> json_schema_rules(const nlohmann::ordered_json& schema, const std::string& rule_name,
                                      SchemaErrorKind* kind) {
  try {
    return Compiler(schema, rule_name).compile(rule_name);
  } catch (const Fail& f) {
    if (kind) *kind = f.kind;
    return make_error("{}", f.message);
  }
}

Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema, SchemaErrorKind* kind) {
  auto rules = json_schema_rules(schema, "root", kind);
  if (!rules.ok()) return rules;
  return rules.value() + kPrimitives;
}

std::string json_primitives_gbnf() { return kPrimitives; }

std::string json_object_gbnf() { return std::string("root ::= object\n") + kPrimitives; }

}  // namespace r1::grammar

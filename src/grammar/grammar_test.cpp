// GBNF parsing, the matcher, JSON schema compilation and token masks, on hand-written cases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/token_mask.h"

namespace r1::grammar {
namespace {

std::shared_ptr<const Grammar> parse(const std::string& text) {
  auto g = parse_gbnf(text);
  EXPECT_TRUE(g.ok()) << g.message() << "\n" << text;
  return g.ok() ? g.value() : nullptr;
}

// Whether the grammar accepts the whole string (a complete sentence).
bool accepts(const std::shared_ptr<const Grammar>& g, std::string_view s) {
  Matcher m(g);
  return m.accept_bytes(s) && m.complete();
}
// Whether the string is a prefix of some sentence.
bool prefix_ok(const std::shared_ptr<const Grammar>& g, std::string_view s) {
  Matcher m(g);
  return m.accept_bytes(s);
}

TEST(Gbnf, LiteralsClassesAlternativesRepetition) {
  auto g = parse(R"(# a comment
root ::= "ab" [0-9]+ ( "x" | "yz" )? tail
tail ::= [^a-c]{2,3}  # two or three of anything but a, b, c
)");
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(g, "ab1xdd"));
  EXPECT_TRUE(accepts(g, "ab123yzzzz"));
  EXPECT_TRUE(accepts(g, "ab9ddd"));
  EXPECT_FALSE(accepts(g, "ab9d"));      // tail too short
  EXPECT_FALSE(accepts(g, "ab9dddd"));   // tail too long
  EXPECT_FALSE(accepts(g, "abxdd"));     // no digit
  EXPECT_FALSE(prefix_ok(g, "ac"));
  EXPECT_TRUE(prefix_ok(g, "ab12"));
  EXPECT_FALSE(accepts(g, "ab12"));
  EXPECT_FALSE(accepts(g, "ab1xda"));    // 'a' is excluded from tail
}

TEST(Gbnf, EscapesUnicodeAndAnyChar) {
  auto g = parse(R"(root ::= "\x41\n\"" [α-ω] . "\u00e9")");
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(g, "A\n\"β€é"));
  EXPECT_FALSE(accepts(g, "A\n\"b€é"));
  // A partial code point is taken while some character could still start with it...
  Matcher m(g);
  EXPECT_TRUE(m.accept_bytes("A\n\""));
  EXPECT_TRUE(m.accept_byte(0xCE));  // first byte of α-ο
  EXPECT_FALSE(m.complete());
  // ...and a byte that cannot start a UTF-8 sequence never is.
  Matcher m2(g);
  EXPECT_TRUE(m2.accept_bytes("A\n\""));
  EXPECT_FALSE(m2.accept_byte(0x80));
  EXPECT_FALSE(m2.accept_byte('b'));
  // Overlong forms and surrogates are not UTF-8: "{" spelled E0 81 BB, U+D800 spelled ED A0 80.
  auto brace = parse(R"(root ::= "{" .)");
  Matcher m3(brace);
  EXPECT_FALSE(m3.accept_byte(0xE0));  // no 3-byte character is "{"
  auto any = parse("root ::= .");
  Matcher m5(any);
  EXPECT_TRUE(m5.accept_byte(0xE0));   // it could begin U+0800..U+0FFF
  EXPECT_FALSE(m5.accept_byte(0x81));  // E0 81 .. would be overlong
  Matcher m4(brace);
  EXPECT_TRUE(m4.accept_byte('{'));
  EXPECT_TRUE(m4.accept_byte(0xED));
  EXPECT_FALSE(m4.accept_byte(0xA0));
  EXPECT_TRUE(m4.accept_bytes("\x9F\xBF"));  // U+D7FF is fine
  EXPECT_TRUE(m4.complete());
}

TEST(Gbnf, Errors) {
  EXPECT_NE(parse_gbnf("root ::= foo").message().find("'foo' is used but never defined"), std::string::npos);
  EXPECT_NE(parse_gbnf("a ::= \"x\"").message().find("no 'root' rule"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= root \"x\" | \"y\"").message().find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= a\na ::= \"\"? a \"x\" | \"y\"").message().find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= \"abc").message().find("unterminated string"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= [a-").message().find("unterminated character class"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= (\"a\"").message().find("unclosed"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= \"a\"{3,1}").message().find("bad repetition"), std::string::npos);
  // Never-matching elements (empty classes) in an alternative that another alternative makes
  // unnecessary: their lengths saturate instead of overflowing (grammar_fuzz, UBSan).
  EXPECT_TRUE(parse_gbnf("root ::= \"a\" | [^\\x00-\\U0010FFFF] [^\\x00-\\U0010FFFF] [^\\x00-\\U0010FFFF] "
                         "[^\\x00-\\U0010FFFF] [^\\x00-\\U0010FFFF]").ok());
  // A count of 25 digits is refused, not overflowed (grammar_fuzz found the overflow under UBSan).
  EXPECT_NE(parse_gbnf("root ::= [a]{1," + std::string(25, '7') + "}").message().find("bad repetition"),
            std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= \"a\" root").message().find("never ends"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= \"a\"\nroot ::= \"b\"").message().find("defined twice"), std::string::npos);
  // Outside input stays bounded: deep groups, huge repetitions, enormous shortest matches.
  EXPECT_NE(parse_gbnf("root ::= " + std::string(100000, '(')).message().find("nested deeper"), std::string::npos);
  EXPECT_NE(parse_gbnf("root ::= a{1000}\na ::= b{1000}\nb ::= \"x\"").message().find("shorter than"), std::string::npos);
  std::string many = "root ::= r0\n";
  for (int i = 0; i < 300; ++i) many += "r" + std::to_string(i) + " ::= \"x\"{1000} r" + std::to_string(i + 1) + "\n";
  EXPECT_NE(parse_gbnf(many + "r300 ::= \"y\"").message().find("too large"), std::string::npos);
}

TEST(Matcher, ShortestCompletionAndEnd) {
  auto g = parse(R"(root ::= "{" ws "\"a\"" ws ":" ws [0-9]+ ws "}"
ws ::= [ ]*)");
  ASSERT_TRUE(g);
  Matcher m(g);
  EXPECT_EQ(m.shortest_completion(), "{\"a\":0}");
  EXPECT_EQ(m.shortest_completion_bytes(), 7);
  ASSERT_TRUE(m.accept_bytes("{ \"a\" :  12"));
  EXPECT_EQ(m.shortest_completion(), "}");
  ASSERT_TRUE(m.accept_bytes("}"));
  EXPECT_TRUE(m.complete());
  EXPECT_TRUE(m.finished());
  EXPECT_EQ(m.shortest_completion_bytes(), 0);
  EXPECT_FALSE(m.accept_byte(' '));
}

TEST(Matcher, RepetitionKeepsTheStateFlat) {
  // A long repetition must not grow the stacks: the state inside a long string keeps one key.
  auto g = parse(R"(root ::= "\"" [a-z]* "\"")");
  ASSERT_TRUE(g);
  Matcher m(g);
  ASSERT_TRUE(m.accept_bytes("\"a"));
  const std::string k = m.key();
  ASSERT_TRUE(m.accept_bytes("bcdefghijklmnop"));
  EXPECT_EQ(m.key(), k);
}

TEST(JsonSchema, ObjectsWithRequiredAndOptionalProperties) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 5},
      "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
      "ok": {"type": ["boolean", "null"]}
    },
    "required": ["name", "age"],
    "additionalProperties": false
  })");
  auto text = json_schema_to_gbnf(schema);
  ASSERT_TRUE(text.ok()) << text.message();
  auto g = parse(text.value());
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(g, R"({"name":"bob","age":30})"));
  EXPECT_TRUE(accepts(g, R"({ "name": "", "age": -7, "tags": ["a", "b"] })"));
  EXPECT_TRUE(accepts(g, R"({"name":"x","age":0,"ok":null})"));
  EXPECT_TRUE(accepts(g, R"({"name":"x","age":0,"tags":[],"ok":true})"));
  EXPECT_FALSE(accepts(g, R"({"age":30})"));                        // name missing
  EXPECT_FALSE(accepts(g, R"({"name":"bob"})"));                    // age missing
  EXPECT_FALSE(accepts(g, R"({"name":"abcdef","age":1})"));         // maxLength
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":1.5})"));            // not an integer
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":01})"));             // leading zero
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":1,"tags":["c"]})")); // not in the enum
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":1,"tags":["a","a","a"]})"));  // maxItems
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":1,"extra":1})"));     // additionalProperties
  EXPECT_FALSE(accepts(g, R"({"name":"x","age":1,})"));             // trailing comma
  EXPECT_FALSE(accepts(g, "{\"name\":\"a\nb\",\"age\":1}"));        // raw control char in a string
  EXPECT_TRUE(accepts(g, R"({"name":"\n\u00e9","age":1})"));
}

TEST(JsonSchema, RefsAnyOfConstAndGenericValues) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "$defs": {"node": {"type": "object", "properties": {"v": {"type": "number"},
               "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}},
    "type": "object",
    "properties": {"kind": {"const": "list"}, "head": {"$ref": "#/$defs/node"}, "meta": {}},
    "required": ["kind", "head"]
  })");
  auto text = json_schema_to_gbnf(schema);
  ASSERT_TRUE(text.ok()) << text.message();
  auto g = parse(text.value());
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(g, R"({"kind":"list","head":{"v":1.5e3,"next":{"v":-2,"next":null}}})"));
  EXPECT_TRUE(accepts(g, R"({"kind":"list","head":{"v":0,"next":null},"meta":[1,{"x":[]},"s",false]})"));
  EXPECT_FALSE(accepts(g, R"({"kind":"tree","head":{"v":0,"next":null}})"));
  EXPECT_FALSE(accepts(g, R"({"kind":"list","head":{"v":0}})"));
}

TEST(JsonSchema, UnsupportedAndMalformed) {
  SchemaErrorKind kind = SchemaErrorKind::Malformed;
  auto r = json_schema_to_gbnf(nlohmann::ordered_json::parse(R"({"type":"object","properties":{"x":{"type":"string","pattern":"^a"}}})"), &kind);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(kind, SchemaErrorKind::Unsupported);
  EXPECT_NE(r.message().find("'pattern' at /properties/x"), std::string::npos) << r.message();
  r = json_schema_to_gbnf(nlohmann::ordered_json::parse(R"({"type":"integer","minimum":3})"), &kind);
  EXPECT_EQ(kind, SchemaErrorKind::Unsupported);
  EXPECT_NE(r.message().find("'minimum'"), std::string::npos);
  for (const char* bad : {R"({"type": 3})", R"({"type":"strin"})", R"({"properties": []})",
                          R"({"$ref": "#/$defs/missing"})", R"({"enum": []})", "false", "[1]"}) {
    kind = SchemaErrorKind::Unsupported;
    r = json_schema_to_gbnf(nlohmann::ordered_json::parse(bad), &kind);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(kind, SchemaErrorKind::Malformed) << bad << ": " << r.message();
  }
}

TEST(TokenMask, EqualsATokenByTokenCheck) {
  auto g = parse(json_object_gbnf());
  ASSERT_TRUE(g);
  // A small vocabulary with shared prefixes, duplicates, multi-byte pieces and a special token.
  std::vector<std::string> vocab = {"{", "{\"", "{\"a", "}", "\"", "\":", " ", "\n", "a", "ab", "abc",
                                    "1", "12", "-", "true", "tr", "null", ",", ":", "[", "]", "\xC3",
                                    "\xA9", "\xC3\xA9", "\x80", "<eos>", "", "{}", "{ }", "\"a\"", "x"};
  std::vector<bool> excluded(vocab.size(), false);
  excluded[25] = true;
  TokenTable table(vocab, excluded);
  const char* prefixes[] = {"", "{", "{\"", "{\"a\":", "{\"a\": 1", "{\"a\":\"", "{\"a\":[", "{\"a\":\"\xC3", "{}"};
  for (const char* p : prefixes) {
    Matcher m(g);
    ASSERT_TRUE(m.accept_bytes(p)) << p;
    TokenMask mask;
    table.compute_mask(m, mask);
    for (int32_t id = 0; id < table.size(); ++id) {
      Matcher one(g);
      const bool want = !excluded[static_cast<size_t>(id)] && !vocab[static_cast<size_t>(id)].empty() &&
                        one.accept_bytes(p) && one.accept_bytes(vocab[static_cast<size_t>(id)]);
      EXPECT_EQ(mask_test(mask, id), want) << "after '" << p << "' token '" << vocab[static_cast<size_t>(id)] << "'";
    }
    // The walk leaves the matcher where it was.
    Matcher fresh(g);
    ASSERT_TRUE(fresh.accept_bytes(p));
    EXPECT_EQ(m.key(), fresh.key());
  }
}

}  // namespace
}  // namespace r1::grammar

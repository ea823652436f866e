// JSON Schema -> GBNF, for structured output (OpenAI's response_format json_schema). The subset
// is the one OpenAI's structured outputs document plus array and string bounds; any other
// keyword is refused by name rather than silently ignored, so an output always validates
// against the schema it was asked for.
// JSON Schema 2020-12: https://json-schema.org/draft/2020-12/json-schema-validation
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace r1::grammar {

/// What a compilation error is about, for the server's 400s.
enum class SchemaErrorKind { Malformed, Unsupported };

/// GBNF whose sentences (properties in the schema's order, hence ordered_json) are the JSON texts that validate against `schema`. Supported: type
/// (one or a list; object, array, string, number, integer, boolean, null), properties, required,
/// additionalProperties (with properties, no extra keys are generated, which any value of it
/// allows), items, minItems, maxItems, minLength, maxLength, enum, const, anyOf, oneOf (as anyOf:
/// the alternatives are not made exclusive), $ref to "#/$defs/..." or "#/definitions/..."
/// (recursion allowed), and annotations (title, description, default, examples, $schema, $id,
/// $comment, deprecated, readOnly, writeOnly). Numbers have at most 16 integer digits, 16
/// fraction digits and a 3-digit exponent; whitespace between tokens is at most one newline and
/// 20 spaces or tabs, so every output is finite.
/// Errors: "malformed: ..." (not a schema: wrong types, a dangling $ref, false) or
/// "unsupported JSON schema keyword 'pattern' at /properties/x" (`kind` says which).
Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema, SchemaErrorKind* kind = nullptr);

/// The rules of json_schema_to_gbnf without the shared JSON primitives (ws, string, number,
/// value, ...): `rule_name ::= ...` plus helpers named `rule_name-...`. For grammars that embed
/// several schemas (tool calls); append json_primitives_gbnf() once.
Result<std::string> json_schema_rules(const nlohmann::ordered_json& schema, const std::string& rule_name,
                                      SchemaErrorKind* kind = nullptr);
/// The JSON primitive rules the compiled schemas refer to.
std::string json_primitives_gbnf();

/// GBNF of any JSON object (response_format json_object).
std::string json_object_gbnf();

}  // namespace r1::grammar

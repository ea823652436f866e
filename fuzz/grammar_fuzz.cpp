// libFuzzer harness for the grammar engine (network-facing: a request's `grammar` is GBNF text
// and its JSON schema compiles to GBNF). Input: GBNF text, then after the first NUL byte the
// bytes to feed a matcher; the same input is also tried as a JSON schema. Invariants: no crash,
// hang or sanitizer report; a parsed grammar's shortest completion is accepted and complete
// from the start and again after any accepted prefix; a mask's tokens are each accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/token_mask.h"

namespace {

using namespace r1::grammar;

// A small vocabulary with shared prefixes and multi-byte pieces.
const TokenTable& table() {
  static const TokenTable* t = new TokenTable(
      {"{", "}", "\"", "a", "ab", "abc", "0", "12", " ", "\n", ",", ":", "[", "]", "true", "null",
       "\xC3\xA9", "\xC3", "\xA9", "x", "-", ".", "e", "\\", "\\n", "{\"", "\":"},
      std::vector<bool>(27, false));
  return *t;
}

void check(const std::shared_ptr<const Grammar>& g, std::string_view feed) {
  Matcher m(g);
  {
    Matcher fresh(g);
    if (!fresh.accept_bytes(fresh.shortest_completion()) || !fresh.complete()) std::abort();
  }
  size_t fed = 0;
  for (; fed < feed.size() && fed < 256; ++fed) {
    if (!m.accept_byte(static_cast<uint8_t>(feed[fed]))) break;
  }
  const std::string rest = m.shortest_completion();
  if (!rest.empty() || m.complete()) {
    Matcher copy(g);
    if (!copy.accept_bytes(feed.substr(0, fed)) || !copy.accept_bytes(rest) || !copy.complete()) std::abort();
  }
  TokenMask mask;
  table().compute_mask(m, mask);
  for (int32_t id = 0; id < table().size(); ++id) {
    if (!mask_test(mask, id)) continue;
    Matcher one(g);
    if (!one.accept_bytes(feed.substr(0, fed)) || !one.accept_bytes(table().bytes(id))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view text = in.substr(0, nul);
  const std::string_view feed = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  if (auto g = parse_gbnf(text); g.ok()) check(g.value(), feed);
  const auto schema = nlohmann::ordered_json::parse(text, nullptr, false);
  if (!schema.is_discarded()) {
    auto gbnf = json_schema_to_gbnf(schema);
    if (gbnf.ok()) {
      auto g = parse_gbnf(gbnf.value());
      if (!g.ok()) std::abort();  // the compiler's output must always parse
      check(g.value(), feed);
    }
  }
  return 0;
}

// `r1 tokenize PATH [--ids|--decode]`: a line-oriented filter over a tokenizer (tokenizer.json,
// HF model directory or GGUF). --ids (default): each stdin line is a JSON string, each output
// line the JSON array of its ids. --decode: each line a JSON array of ids, each output a JSON
// string. JSON lines let texts hold newlines and tabs. A bad input line yields `null` (so output
// line k still answers input line k) and an error naming the line on stderr; exit status 1.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/result.h"
#include "core/utf8.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

// Parses one JSON string literal (the whole line, surrounding whitespace allowed). Unlike strict
// parsers it maps a lone UTF-16 surrogate escape to U+FFFD, as JavaScript's TextEncoder does, so
// such texts encode like they would in the browser/Node reference.
Result<std::string> parse_json_string_line(std::string_view line) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) ++i;
  };
  skip_ws();
  if (i >= line.size() || line[i] != '"') return make_error("expected a JSON string");
  ++i;
  std::string out;
  auto hex4 = [&](size_t at, uint32_t* v) {
    if (at + 4 > line.size()) return false;
    *v = 0;
    for (size_t k = at; k < at + 4; ++k) {
      const char c = line[k];
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      *v = *v * 16 + d;
    }
    return true;
  };
  while (true) {
    if (i >= line.size()) return make_error("unterminated JSON string");
    const char c = line[i];
    if (c == '"') {
      ++i;
      break;
    }
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= line.size()) return make_error("unterminated escape in JSON string");
    const char e = line[i + 1];
    i += 2;
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t u;
        if (!hex4(i, &u)) return make_error("bad \\u escape at column {}", i);
        i += 4;
        if (u >= 0xD800 && u <= 0xDBFF) {
          uint32_t lo;
          if (i + 6 <= line.size() && line[i] == '\\' && line[i + 1] == 'u' && hex4(i + 2, &lo) && lo >= 0xDC00 &&
              lo <= 0xDFFF) {
            i += 6;
            append_utf8(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00), out);
          } else {
            append_utf8(0xFFFD, out);  // lone high surrogate
          }
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
          append_utf8(0xFFFD, out);  // lone low surrogate
        } else {
          append_utf8(u, out);
        }
        break;
      }
      default:
        return make_error("bad escape '\\{}' in JSON string", e);
    }
  }
  skip_ws();
  if (i != line.size()) return make_error("trailing characters after the JSON string");
  return out;
}

Result<std::vector<int32_t>> parse_ids_line(const std::string& line, int32_t vocab_size) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) return make_error("expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t k = 0; k < j.size(); ++k) {
    const auto& v = j[k];
    if (!v.is_number_integer()) return make_error("element {} is not an integer", k);
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab_size) return make_error("element {}: id {} outside [0, {})", k, id, vocab_size);
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  CLI::App app{
      "Tokenize or detokenize stdin line by line (JSON lines).\n"
      "--ids (default): each stdin line is one JSON string (escapes let a text hold newlines/tabs); each\n"
      "stdout line is the JSON array of its ids, with no BOS unless --add-bos. Special-token text (e.g.\n"
      "<|im_end|>) is matched as the special token unless --no-parse-special.\n"
      "--decode: each stdin line is a JSON array of ids; each stdout line is the decoded JSON string\n"
      "(invalid UTF-8 from partial byte tokens becomes U+FFFD, as Hugging Face tokenizers do).\n"
      "One output line per non-blank input line, in order; blank lines are skipped. A line that is not\n"
      "valid (bad JSON, not a string/array, an id outside the vocabulary) prints null, its error goes to\n"
      "stderr as \"r1 tokenize: stdin line N: ...\", the remaining lines are still processed, and the exit\n"
      "status is 1. A PATH that cannot be loaded exits 1 before reading stdin.",
      "r1 tokenize"};
  std::string path;
  bool ids_mode = false, decode_mode = false, add_bos = false, no_special = false, skip_special = false;
  app.add_option("PATH", path, "tokenizer.json, a Hugging Face model directory or a .gguf file")->required();
  app.add_flag("--ids", ids_mode, "each line a JSON string -> a JSON array of ids (the default)");
  app.add_flag("--decode", decode_mode, "each line a JSON array of ids -> a JSON string");
  app.add_flag("--add-bos", add_bos, "--ids: prepend the BOS token (when the tokenizer has one)");
  app.add_flag("--no-parse-special", no_special, "--ids: encode special-token text as plain text");
  app.add_flag("--skip-special", skip_special, "--decode: drop special tokens from the output");
  int threads = 0;
  add_threads_option_single(app, threads, "tokenizing");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (ids_mode && decode_mode) {
    std::fprintf(stderr, "r1 tokenize: --ids and --decode are exclusive\n");
    return 2;
  }
  auto tok = tok::Tokenizer::from_path(path);
  if (!tok.ok()) {
    std::fprintf(stderr, "r1 tokenize: %s\n", tok.message().c_str());
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line, out;
  size_t line_no = 0;
  int failures = 0;
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "r1 tokenize: stdin line %zu: %s\n", line_no, msg.c_str());
    std::fputs("null\n", stdout);
    std::fflush(stdout);
    ++failures;
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.clear();
    if (decode_mode) {
      auto ids = parse_ids_line(line, (*tok)->vocab_size());
      if (!ids.ok()) {
        fail(ids.message());
        continue;
      }
      // decode() returns valid UTF-8 (lossy); replace keeps dump() from throwing regardless.
      out = nlohmann::json((*tok)->decode(*ids, skip_special))
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      auto text = parse_json_string_line(line);
      if (!text.ok()) {
        fail(text.message());
        continue;
      }
      const std::vector<int32_t> ids = (*tok)->encode(*text, add_bos, !no_special);
      out = "[";
      for (size_t k = 0; k < ids.size(); ++k) {
        if (k) out += ',';
        out += std::to_string(ids[k]);
      }
      out += ']';
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // interactive use through a pipe must not stall
  }
  return failures ? 1 : 0;
}

}  // namespace r1::cli

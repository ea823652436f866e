// Tokenizer from GGUF metadata (tokenizer.ggml.*), following llama.cpp's llama_vocab::load:
// model "llama" = SentencePiece BPE by score with <0xNN> byte fallback, model "gpt2" = byte-level
// BPE with merges and the pre-tokenizer named by tokenizer.ggml.pre.
#include <algorithm>
#include <cstdio>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace r1::tok {

namespace {

// llama_token_type in GGUF tokenizer.ggml.token_type.
enum GgufTokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

// Ids from an optional u32 key (-1 when missing or out of range).
int32_t optional_id(const io::GgufFile& g, const std::string& key, size_t n_vocab) {
  if (!g.has(key)) return -1;
  auto v = g.get_u32(key);
  if (!v.ok() || *v >= n_vocab) return -1;
  return static_cast<int32_t>(*v);
}

// Parses "<0xNN>" into NN, or -1.
int parse_byte_token(const std::string& s) {
  unsigned v = 0;
  char tail = 0;
  if (s.size() == 6 && std::sscanf(s.c_str(), "<0x%2X>%c", &v, &tail) == 1) return static_cast<int>(v);
  return -1;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const io::GgufFile& g) {
  R1_ASSIGN_OR_RETURN(model, g.get_string("tokenizer.ggml.model"));
  R1_ASSIGN_OR_RETURN(tokens, g.get_string_array("tokenizer.ggml.tokens"));
  const size_t n = tokens.size();
  if (n == 0) return make_error("{}: tokenizer.ggml.tokens is empty", g.path());
  std::vector<int32_t> types(n, kNormal);
  if (g.has("tokenizer.ggml.token_type")) {
    R1_ASSIGN_OR_RETURN(t, g.get_i32_array("tokenizer.ggml.token_type"));
    if (t.size() != n) {
      return make_error("{}: tokenizer.ggml.token_type has {} entries, tokens has {}", g.path(), t.size(), n);
    }
    types = std::move(t);
  }

  auto impl = std::make_unique<TokenizerImpl>();
  impl->id_text = tokens;
  impl->model_text_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) impl->model_text_to_id.emplace(tokens[i], static_cast<int32_t>(i));

  // Control, user-defined and unknown tokens are matched in the text (llama.cpp
  // cache_special_tokens); control and unknown ones only when parsing specials.
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = types[i];
    if (t != kControl && t != kUserDefined && t != kUnknown) continue;
    if (tokens[i].empty()) continue;
    AddedToken a;
    a.content = tokens[i];
    a.id = static_cast<int32_t>(i);
    a.special = t != kUserDefined;
    impl->added.push_back(std::move(a));
  }

  if (model == "llama") {
    impl->kind = ModelKind::SentencePiece;
    if (g.has("tokenizer.ggml.scores")) {
      R1_ASSIGN_OR_RETURN(scores, g.get_f32_array("tokenizer.ggml.scores"));
      if (scores.size() != n) {
        return make_error("{}: tokenizer.ggml.scores has {} entries, tokens has {}", g.path(), scores.size(), n);
      }
      impl->scores = std::move(scores);
    } else {
      impl->scores.assign(n, 0.0f);
    }
    impl->add_space_prefix = true;
    if (g.has("tokenizer.ggml.add_space_prefix")) {
      R1_ASSIGN_OR_RETURN(v, g.get_bool("tokenizer.ggml.add_space_prefix"));
      impl->add_space_prefix = v;
    }
    impl->byte_id.fill(-1);
    for (size_t i = 0; i < n; ++i) {
      const int b = parse_byte_token(tokens[i]);
      if (b >= 0 && (types[i] == kByte || types[i] == kNormal || types[i] == kUndefined)) {
        if (impl->byte_id[b] < 0) impl->byte_id[b] = static_cast<int32_t>(i);
      }
    }
    impl->bos = 1 < n ? 1 : -1;  // SentencePiece defaults (llama.cpp): <s> = 1, </s> = 2
    impl->eos = 2 < n ? 2 : -1;
    impl->add_bos = true;
  } else if (model == "gpt2") {
    impl->kind = ModelKind::ByteLevelBpe;
    R1_ASSIGN_OR_RETURN(merges, g.get_string_array("tokenizer.ggml.merges"));
    impl->merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& m = merges[rank];
      // llama.cpp splits at the first space after position 0 (a merge may start with a space).
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) {
        return make_error("{}: tokenizer.ggml.merges[{}]: expected \"a b\", got '{}'", g.path(), rank, m);
      }
      const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
      const auto ia = impl->model_text_to_id.find(a), ib = impl->model_text_to_id.find(b),
                 iab = impl->model_text_to_id.find(a + b);
      if (ia == impl->model_text_to_id.end() || ib == impl->model_text_to_id.end() ||
          iab == impl->model_text_to_id.end()) {
        return make_error("{}: tokenizer.ggml.merges[{}]: '{}' uses a token missing from tokenizer.ggml.tokens",
                          g.path(), rank, m);
      }
      impl->merges.insert(ia->second, ib->second, static_cast<int32_t>(rank), iab->second);
    }
    std::string pre = "default";
    if (g.has("tokenizer.ggml.pre")) {
      R1_ASSIGN_OR_RETURN(p, g.get_string("tokenizer.ggml.pre"));
      pre = p;
    }
    auto pretok = pretokenizer_for_gguf_pre(pre);
    if (!pretok.ok()) return make_error("{}: {}", g.path(), pretok.message());
    impl->pre = std::move(pretok).value();
    // HF's Qwen2 tokenizers NFC-normalize; llama.cpp skips it, we follow the HF reference.
    impl->nfc = pre == "qwen2" || pre == "deepseek-r1-qwen";
    impl->add_bos = false;
  } else {
    return make_error("{}: tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2)", g.path(), model);
  }

  if (int32_t id = optional_id(g, "tokenizer.ggml.bos_token_id", n); id >= 0 || g.has("tokenizer.ggml.bos_token_id")) {
    impl->bos = id;
  }
  if (int32_t id = optional_id(g, "tokenizer.ggml.eos_token_id", n); id >= 0 || g.has("tokenizer.ggml.eos_token_id")) {
    impl->eos = id;
  }
  if (g.has("tokenizer.ggml.add_bos_token")) {
    R1_ASSIGN_OR_RETURN(v, g.get_bool("tokenizer.ggml.add_bos_token"));
    impl->add_bos = v;
  }
  // End-of-generation ids: eos, eot, eom and the control tokens llama.cpp treats as EOG by text.
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    const int32_t id = optional_id(g, key, n);
    if (id >= 0) impl->eos_list.push_back(id);
  }
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                           "<EOT>", "<｜end▁of▁sentence｜>"}) {
    auto it = impl->model_text_to_id.find(text);
    if (it != impl->model_text_to_id.end() && types[it->second] == kControl) impl->eos_list.push_back(it->second);
  }

  R1_TRY(impl->finalize());
  if (impl->kind == ModelKind::SentencePiece) {
    // Decoded pieces (llama.cpp token_to_piece): U+2581 -> ' ', <0xNN> -> byte, <unk> -> U+2585.
    for (size_t i = 0; i < n; ++i) {
      std::string& out = impl->id_bytes[i];
      const std::string& t = tokens[i];
      if (types[i] == kByte) {
        const int b = parse_byte_token(t);
        out = b >= 0 ? std::string(1, static_cast<char>(b)) : std::string();
      } else if (types[i] == kUnknown) {
        out = "\xE2\x96\x85";
      } else if (types[i] == kNormal || types[i] == kUndefined) {
        out.clear();
        for (size_t k = 0; k < t.size();) {
          if (t.compare(k, 3, "\xE2\x96\x81") == 0) {
            out += ' ';
            k += 3;
          } else {
            out += t[k++];
          }
        }
      }
    }
  } else {
    for (int b = 0; b < 256; ++b) {
      if (impl->byte_id[b] < 0) {
        return make_error("{}: tokenizer.ggml.tokens lacks the byte-level token for byte 0x{:02X}", g.path(), b);
      }
    }
  }
  std::vector<int32_t> unique_eos;
  for (int32_t id : impl->eos_list) {
    if (std::find(unique_eos.begin(), unique_eos.end(), id) == unique_eos.end()) unique_eos.push_back(id);
  }
  impl->eos_list = std::move(unique_eos);
  return std::make_unique<Tokenizer>(std::move(impl));
}

}  // namespace r1::tok

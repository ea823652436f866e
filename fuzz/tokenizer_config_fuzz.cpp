// libFuzzer harness for tokenizer_config.json (and generation_config.json), the side files of a
// model folder: bos/eos/add_bos_token as Tokenizer::from_tokenizer_json reads them next to a fixed
// small tokenizer.json, and `chat_template` (a string or a list of {name, template}) with its
// special tokens as ChatTemplate::from_path loads it. Input: the config text; when its first byte
// is odd the same text is also the folder's generation_config.json (eos_token_id). Invariants: no
// crash, hang or sanitizer report; the tokenizer's bos/eos ids are -1 or in range; a template
// that loads renders a fixed conversation or returns an error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir("tokenizer_config");
    fuzz::write_file(d + "/tokenizer.json", fuzz::small_bpe().tokenizer_json);
    return d;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::write_file(dir + "/tokenizer_config.json", text);
  if (size > 0 && (data[0] & 1) != 0) {
    fuzz::write_file(dir + "/generation_config.json", text);
  } else {
    std::remove((dir + "/generation_config.json").c_str());
  }
  auto t = tok::Tokenizer::from_tokenizer_json(dir + "/tokenizer.json");
  if (!t.ok()) std::abort();  // the tokenizer itself is fixed and valid: side files must not break it
  const int32_t n = (*t)->vocab_size();
  if ((*t)->bos_id() < -1 || (*t)->bos_id() >= n || (*t)->eos_id() < -1 || (*t)->eos_id() >= n) std::abort();
  for (int32_t id : (*t)->eos_ids())
    if (id < 0 || id >= n) std::abort();
  fuzz::exercise_tokenizer(**t, "<|bos|>hi <think>2+2</think> 4<|eos|>");

  auto chat = tok::ChatTemplate::from_path(dir + "/tokenizer_config.json");
  if (chat.ok()) {
    static const nlohmann::ordered_json msgs = nlohmann::ordered_json::parse(
        R"([{"role": "system", "content": "s"}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>x</think>4"}, {"role": "user", "content": "again"}])");
    (void)chat->render(msgs, true);
    (void)chat->render_continue(msgs);
  }
  return 0;
}

// libFuzzer harness for the JSONL dataset readers: evaluation sets (eval::read_jsonl_dataset,
// auto-detected and named fields, GSM8K "####" answers), the pretraining corpus
// (train::load_corpus), SFT pairs and chat rows (train::load_sft_data, every SftFormat) and the
// tokenizer-training corpus (tok::read_training_corpus). Input: the .jsonl file. Invariants: no
// crash, hang or sanitizer report; what loads is within each reader's contract (non-empty, ids in
// range, corpus documents end with EOS).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "eval/dataset.h"
#include "fuzz_util.h"
#include "tokenizer/chat_template.h"
#include "train/data.h"
#include "train/sft.h"

namespace {

const r1::tok::Tokenizer& tokenizer() {
  static const std::unique_ptr<r1::tok::Tokenizer> t = [] {
    const std::string d = r1::fuzz::scratch_dir("jsonl") + "/tok";
    std::filesystem::create_directories(d);
    r1::fuzz::write_file(d + "/tokenizer.json", r1::fuzz::small_bpe().tokenizer_json);
    r1::fuzz::write_file(d + "/tokenizer_config.json", r1::fuzz::small_bpe().tokenizer_config_json);
    auto r = r1::tok::Tokenizer::from_tokenizer_json(d + "/tokenizer.json");
    if (!r.ok() || r->get()->eos_id() < 0) std::abort();
    return std::move(r).value();
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  static const std::string path = fuzz::scratch_dir("jsonl") + "/data.jsonl";
  static const tok::ChatTemplate chat = [] {
    auto c = tok::ChatTemplate::from_string(
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}");
    if (!c.ok()) std::abort();
    return std::move(c).value();
  }();
  fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));

  for (const eval::DatasetFields& f : {eval::DatasetFields{}, eval::DatasetFields{"question", "answer"}}) {
    auto items = eval::read_jsonl_dataset(path, f);
    if (items.ok() && items->empty()) std::abort();
    if (items.ok())
      for (const auto& it : *items) (void)eval::gsm8k_final_answer(it.answer);
  }

  const tok::Tokenizer& t = tokenizer();
  auto corpus = train::load_corpus(path, t, t.eos_id());
  if (corpus.ok()) {
    if (corpus->empty() || corpus->back() != t.eos_id()) std::abort();
    for (int32_t id : *corpus)
      if (id < 0 || id >= t.vocab_size()) std::abort();
  }

  for (auto format : {train::SftFormat::Auto, train::SftFormat::Chat, train::SftFormat::Raw}) {
    auto sft = train::load_sft_data(path, t, &chat, format);
    if (!sft.ok()) continue;
    if (sft->empty()) std::abort();
    for (const auto& ex : *sft)
      for (const auto* ids : {&ex.prompt, &ex.completion})
        for (int32_t id : *ids)
          if (id < 0 || id >= t.vocab_size()) std::abort();
  }

  auto texts = tok::read_training_corpus(path);
  (void)texts;
  return 0;
}

// libFuzzer harness for the GGUF parser: parse arbitrary bytes from memory, read every metadata
// value through the typed getters, and touch every byte of every tensor the parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/storage.h"
#include "io/gguf.h"
#include "quant/dequantize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = r1::Storage::allocate(size);
  if (size > 0) std::memcpy(bytes->data(), data, size);
  auto f = r1::io::GgufFile::parse(bytes, "fuzz.gguf");
  if (!f.ok()) return 0;
  for (const auto& k : f->keys()) {
    (void)f->get(k)->summary();
    (void)f->get_u32(k);
    (void)f->get_i64(k);
    (void)f->get_f32(k);
    (void)f->get_bool(k);
    (void)f->get_string(k);
    (void)f->get_string_array(k);
    (void)f->get_f32_array(k);
    (void)f->get_i32_array(k);
  }
  volatile uint8_t sink = 0;
  for (const auto& info : f->tensor_infos()) {
    auto t = f->tensor(info.name);
    if (!t.ok()) continue;
    const uint8_t* p = t->bytes();
    for (size_t i = 0; i < t->nbytes(); ++i) sink = sink ^ p[i];
    if (t->numel() <= 4096 && t->is_contiguous()) (void)r1::quant::to_f32(*t);
  }
  return 0;
}

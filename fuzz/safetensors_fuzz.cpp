// libFuzzer harness for the safetensors header parser: parse arbitrary bytes from memory and
// touch every byte of every tensor the parser accepts (ASan then flags any out-of-bounds view).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/storage.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = r1::Storage::allocate(size);
  if (size > 0) std::memcpy(bytes->data(), data, size);
  auto f = r1::io::SafetensorsFile::parse(bytes, "fuzz.safetensors");
  if (!f.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const auto& name : f->names()) {
    auto t = f->tensor(name);
    if (!t.ok()) continue;
    const uint8_t* p = t->bytes();
    for (size_t i = 0; i < t->nbytes(); ++i) sink = sink ^ p[i];
    if (t->numel() <= 4096) (void)t->to_f32();
  }
  (void)f->metadata().dump();
  return 0;
}

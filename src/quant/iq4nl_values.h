// The 16 non-linear levels of IQ4_NL and IQ4_XS: format data, from ggml's kvalues_iq4nl
// (ggml/src/ggml-common.h, llama.cpp tag v0.4.0 / commit 80fb11ac).
#pragma once
#include <cstdint>

namespace r1 {

inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace r1

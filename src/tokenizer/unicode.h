// UTF-8 and byte-level helpers shared by the tokenizer: the GPT-2 byte<->char table, UTF-8
// validation/repair (as Rust's String::from_utf8_lossy and the WHATWG decoder do) and NFC.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace r1::tok {

/// GPT-2's bytes_to_unicode(): byte b -> the code point that byte-level BPE vocabularies use to
/// spell it (printable Latin-1 bytes map to themselves, the rest to U+0100.. in order).
const std::array<uint32_t, 256>& byte_to_codepoint();

/// The inverse of byte_to_codepoint(): returns the byte, or -1 when `cp` is not in the table.
int codepoint_to_byte(uint32_t cp);

/// Appends the UTF-8 encoding of code point `cp` (core/utf8.h).
using ::r1::append_utf8;

/// Decodes one UTF-8 character at s[i]. Returns its length in bytes (1..4) and stores the code
/// point in *cp; for an invalid or truncated sequence returns 0 (and *cp is unspecified).
int decode_utf8(std::string_view s, size_t i, uint32_t* cp);

/// Length of the longest prefix of `s` that does not end inside an incomplete (but so far valid)
/// multi-byte sequence: the bytes after it could still become a character when more arrive.
size_t utf8_complete_prefix(std::string_view s);

/// Returns `s` with every ill-formed subsequence replaced by U+FFFD, one per maximal subpart
/// (Unicode §3.9 "U+FFFD substitution of maximal subparts", as from_utf8_lossy / TextDecoder).
std::string utf8_lossy(std::string_view s);

/// True when `s` is valid UTF-8.
bool utf8_valid(std::string_view s);

/// Unicode NFC of `s` (utf8proc). Invalid UTF-8 stretches are copied unchanged and the valid
/// parts around them are normalized separately. ASCII input is returned as is (fast path).
std::string nfc(std::string_view s);

/// Unicode White_Space (the set Rust's char::is_whitespace and Oniguruma's \s use).
bool is_unicode_whitespace(uint32_t cp);

}  // namespace r1::tok

// UTF-8 and byte-level helpers (see unicode.h).
#include "tokenizer/unicode.h"

#include <cstdlib>

#include <utf8proc.h>

namespace r1::tok {

namespace {

std::array<uint32_t, 256> make_byte_table() {
  // GPT-2 encoder.py bytes_to_unicode: '!'..'~', '¡'..'¬', '®'..'ÿ' keep their value, the other
  // 68 bytes get 256, 257, ... in byte order.
  std::array<uint32_t, 256> t{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) t[b] = direct[b] ? static_cast<uint32_t>(b) : next++;
  return t;
}

}  // namespace

const std::array<uint32_t, 256>& byte_to_codepoint() {
  static const std::array<uint32_t, 256> table = make_byte_table();
  return table;
}

int codepoint_to_byte(uint32_t cp) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv{};
    inv.fill(-1);
    const auto& t = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) inv[t[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

namespace {

// Number of bytes of the longest valid prefix of a UTF-8 sequence starting at s[i] (0 when s[i]
// is not a lead byte), and whether the sequence is complete. Follows the well-formed byte
// sequence table (Unicode Table 3-7): no overlongs, no surrogates, nothing above U+10FFFF.
struct SeqInfo {
  int valid_len;  // bytes forming a valid (possibly incomplete) prefix, >= 1 if lead byte valid
  int need;       // total length the lead byte announces (0 for an invalid lead)
};

SeqInfo scan_seq(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return {1, 1};
  int need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, 0};
  }
  int len = 1;
  for (int k = 1; k < need; ++k) {
    if (i + k >= s.size()) break;
    const auto b = static_cast<uint8_t>(s[i + k]);
    const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
    ++len;
  }
  return {len, need};
}

}  // namespace

int decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  const SeqInfo info = scan_seq(s, i);
  if (info.need == 0 || info.valid_len != info.need) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + i);
  switch (info.need) {
    case 1: *cp = p[0]; break;
    case 2: *cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu); break;
    case 3: *cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu); break;
    default:
      *cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
  return info.need;
}

size_t utf8_complete_prefix(std::string_view s) {
  // Only the last 3 bytes can start an incomplete sequence.
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t i = n - back;
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const SeqInfo info = scan_seq(s, i);
    if (info.need > 1 && info.valid_len == static_cast<int>(back) && info.valid_len < info.need) {
      return i;  // a valid but unfinished sequence: hold it back
    }
    return n;
  }
  return n;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const SeqInfo info = scan_seq(s, i);
    if (info.need != 0 && info.valid_len == info.need) {
      out.append(s.data() + i, info.need);
      i += info.need;
    } else {
      out += "\xEF\xBF\xBD";
      i += info.valid_len > 0 ? info.valid_len : 1;
    }
  }
  return out;
}

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const SeqInfo info = scan_seq(s, i);
    if (info.need == 0 || info.valid_len != info.need) return false;
    i += info.need;
  }
  return true;
}

namespace {

void nfc_valid_into(std::string_view s, std::string& out) {
  if (s.empty()) return;
  utf8proc_uint8_t* buf = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &buf,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    out.append(s);  // cannot happen for valid UTF-8 except out of memory; keep the text
  } else {
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  std::free(buf);
}

}  // namespace

std::string nfc(std::string_view s) {
  // Below U+0300 no character decomposes or composes except Latin-1 letters followed by a
  // combining mark; a pure-ASCII string is always in NFC.
  bool ascii = true;
  for (char c : s) {
    if (static_cast<uint8_t>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(s);
  std::string out;
  out.reserve(s.size());
  size_t start = 0, i = 0;
  while (i < s.size()) {
    const SeqInfo info = scan_seq(s, i);
    if (info.need != 0 && info.valid_len == info.need) {
      i += info.need;
      continue;
    }
    nfc_valid_into(s.substr(start, i - start), out);
    const size_t bad = info.valid_len > 0 ? info.valid_len : 1;
    out.append(s.substr(i, bad));
    i += bad;
    start = i;
  }
  nfc_valid_into(s.substr(start), out);
  return out;
}

bool is_unicode_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

}  // namespace r1::tok

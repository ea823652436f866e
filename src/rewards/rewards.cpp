// Accuracy, format and language-consistency rewards (see rewards.h).
#include "rewards/rewards.h"

#include <array>
#include <cctype>
#include <cstdint>

#include "rewards/math_verify.h"
#include "task/task.h"

namespace r1::rewards {
namespace {

constexpr std::string_view kOpen = "<think>", kClose = "</think>";

size_t count(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

bool blank(std::string_view s) {
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

// The prompt ends with an opened think block (R1 generation prompts end with "<think>\n").
bool prompt_opens_think(std::string_view prompt) {
  size_t e = prompt.size();
  while (e > 0 && std::isspace(static_cast<unsigned char>(prompt[e - 1]))) --e;
  const auto p = prompt.substr(0, e);
  return p.size() >= kOpen.size() && p.substr(p.size() - kOpen.size()) == kOpen;
}

enum Script : int { kNone = -1, kLatin, kHan, kHangul, kCyrillic, kGreek, kArabic, kHebrew, kDevanagari, kThai, kOther, kNumScripts };
constexpr const char* kScriptNames[kNumScripts] = {"latin", "han", "hangul", "cyrillic", "greek",
                                                   "arabic", "hebrew", "devanagari", "thai", "other"};

// Script of a code point when it is a letter, else kNone. Digits, punctuation, math symbols and
// spaces are not letters.
Script script_of(uint32_t cp) {
  if (cp < 0x80) return std::isalpha(static_cast<int>(cp)) ? kLatin : kNone;
  if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x1E00 && cp <= 0x1EFF)) return kLatin;
  if (cp >= 0x370 && cp <= 0x3FF) return kGreek;
  if (cp >= 0x400 && cp <= 0x52F) return kCyrillic;
  if (cp >= 0x590 && cp <= 0x5FF) return kHebrew;
  if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F)) return kArabic;
  if (cp >= 0x900 && cp <= 0x97F) return kDevanagari;
  if (cp >= 0xE00 && cp <= 0xE7F) return kThai;
  if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x3130 && cp <= 0x318F)) return kHangul;
  if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
      (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF))
    return kHan;
  if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF20) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || cp == 0xFFFD)
    return kNone;  // punctuation, arrows, math operators, CJK/full-width punctuation
  return kOther;
}

// Letter counts per script over UTF-8 text (invalid bytes are skipped).
std::array<int64_t, kNumScripts> script_counts(std::string_view s) {
  std::array<int64_t, kNumScripts> n{};
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; len = 3; }
    else if ((c >> 3) == 30) { cp = c & 0x07; len = 4; }
    else { ++i; continue; }
    if (i + len > s.size()) break;
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) { ok = false; break; }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) { ++i; continue; }
    i += len;
    const Script sc = script_of(cp);
    if (sc != kNone) ++n[sc];
  }
  return n;
}

int argmax_script(const std::array<int64_t, kNumScripts>& n) {
  int best = -1;
  for (int i = 0; i < kNumScripts; ++i)
    if (n[i] > 0 && (best < 0 || n[i] > n[best])) best = i;
  return best;
}

}  // namespace

std::string final_answer(std::string_view prompt, std::string_view completion) {
  std::string_view tail = completion;
  const size_t close = completion.rfind(kClose);
  if (close != std::string_view::npos) {
    tail = completion.substr(close + kClose.size());
  } else if (completion.find(kOpen) != std::string_view::npos || prompt_opens_think(prompt)) {
    return "";  // reasoning never finished
  }
  if (extract_boxed(tail) || tail.find("<answer>") != std::string_view::npos) return answer_text(tail);
  const std::string t = answer_text(tail);
  // A short tail is the answer itself ("936", "\frac{1}{2}", "(1,2)"); a sentence ends in it.
  if (t.find(' ') == std::string::npos || numeric_value(t) || t.size() <= 16) return t;
  return extract_answer(tail);
}

bool answer_correct(std::string_view prompt, std::string_view completion, std::string_view gold,
                    const task::Problem* problem, std::string* answer) {
  std::string a = final_answer(prompt, completion);
  const bool ok = !a.empty() && (problem ? task::check_answer(*problem, a) : math_equal(gold, a));
  if (answer) *answer = std::move(a);
  return ok;
}

float accuracy_reward(std::string_view prompt, std::string_view completion, std::string_view gold) {
  return answer_correct(prompt, completion, gold) ? 1.0f : 0.0f;
}

float format_reward(std::string_view prompt, std::string_view completion, std::string_view) {
  std::string full;
  if (prompt_opens_think(prompt) && completion.find(kOpen) == std::string_view::npos) {
    full = std::string(kOpen) + std::string(completion);
    completion = full;
  }
  if (count(completion, kOpen) != 1 || count(completion, kClose) != 1) return 0.0f;
  const size_t o = completion.find(kOpen), c = completion.find(kClose);
  if (c < o || !blank(completion.substr(0, o))) return 0.0f;
  const auto reasoning = completion.substr(o + kOpen.size(), c - o - kOpen.size());
  const auto answer = completion.substr(c + kClose.size());
  return !blank(reasoning) && !blank(answer) ? 1.0f : 0.0f;
}

float language_consistency_reward(std::string_view prompt, std::string_view completion, std::string_view) {
  std::string_view reasoning = completion;
  const size_t o = completion.find(kOpen);
  const size_t c = completion.find(kClose);
  if (c != std::string_view::npos) {
    const size_t start = o != std::string_view::npos && o < c ? o + kOpen.size() : 0;
    reasoning = completion.substr(start, c - start);
  }
  const auto rn = script_counts(reasoning);
  int64_t total = 0;
  for (auto x : rn) total += x;
  if (total == 0) return 1.0f;
  int target = argmax_script(script_counts(prompt));
  if (target < 0) target = kLatin;
  return static_cast<float>(static_cast<double>(rn[target]) / static_cast<double>(total));
}

std::string main_script(std::string_view text) {
  const int s = argmax_script(script_counts(text));
  return s < 0 ? std::string() : kScriptNames[s];
}

RewardSet RewardSet::with_defaults() {
  RewardSet r;
  r.add("accuracy", accuracy_reward);
  r.add("format", format_reward);
  r.add("language", language_consistency_reward);
  return r;
}

const RewardFn* RewardSet::find(const std::string& name) const {
  auto it = fns_.find(name);
  return it == fns_.end() ? nullptr : &it->second;
}

std::vector<std::string> RewardSet::names() const {
  std::vector<std::string> n;
  for (const auto& [k, v] : fns_) n.push_back(k);
  return n;
}

}  // namespace r1::rewards

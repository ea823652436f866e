// ReasoningParser: a small state machine over a pending buffer (see reasoning.h for the rules).
#include "tokenizer/reasoning.h"

namespace r1::tok {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of the longest proper suffix of `s` that is a prefix of `tag` (a tag that may continue).
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

bool prompt_ends_in_reasoning(std::string_view p) {
  size_t e = p.size();
  while (e > 0 && is_ws(p[e - 1])) --e;
  return e >= kOpen.size() && p.substr(e - kOpen.size(), kOpen.size()) == kOpen;
}

ReasoningParser::ReasoningParser(bool starts_in_reasoning, bool strip_newlines)
    : state_(starts_in_reasoning ? State::Reasoning : State::Start),
      strip_(strip_newlines),
      allow_open_(starts_in_reasoning),
      saw_reasoning_(starts_in_reasoning) {}

ReasoningParser::Delta ReasoningParser::push(std::string_view chunk) {
  pending_.append(chunk);
  return drain(false);
}

ReasoningParser::Delta ReasoningParser::finish() {
  Delta d = drain(true);
  finished_ = true;
  return d;
}

ReasoningParser::Delta ReasoningParser::parse(std::string_view text, bool starts_in_reasoning, bool strip_newlines) {
  ReasoningParser p(starts_in_reasoning, strip_newlines);
  Delta a = p.push(text);
  Delta b = p.finish();
  a.reasoning += b.reasoning;
  a.content += b.content;
  return a;
}

ReasoningParser::Delta ReasoningParser::drain(bool final) {
  Delta d;
  std::string& p = pending_;
  while (true) {
    switch (state_) {
      case State::Start: {
        size_t i = 0;
        while (i < p.size() && is_ws(p[i])) ++i;
        const std::string_view rest = std::string_view(p).substr(i);
        if (rest.substr(0, kOpen.size()) == kOpen) {
          p.erase(0, i + kOpen.size());
          state_ = State::Reasoning;
          saw_reasoning_ = true;
          at_start_ = true;
          continue;
        }
        if (!final && kOpen.substr(0, rest.size()) == rest) return d;  // may still become <think>
        state_ = State::Content;
        at_start_ = false;  // no think block: the output is content verbatim
        continue;
      }
      case State::Reasoning: {
        if (at_start_) {
          if (strip_) {
            size_t i = 0;
            while (i < p.size() && p[i] == '\n') ++i;
            p.erase(0, i);
          }
          if (p.empty()) return d;
          if (allow_open_) {
            if (p.compare(0, kOpen.size(), kOpen) == 0) {
              p.erase(0, kOpen.size());
              allow_open_ = false;
              continue;  // newlines after the dropped tag are leading newlines too
            }
            if (!final && kOpen.substr(0, p.size()) == p) return d;
            allow_open_ = false;
          }
          at_start_ = false;
        }
        const size_t pos = p.find(kClose);
        if (pos != std::string::npos) {
          std::string r = held_nl_ + p.substr(0, pos);
          held_nl_.clear();
          if (strip_)
            while (!r.empty() && r.back() == '\n') r.pop_back();
          d.reasoning += r;
          p.erase(0, pos + kClose.size());
          state_ = State::Content;
          at_start_ = true;
          continue;
        }
        const size_t keep = final ? 0 : partial_tag_suffix(p, kClose);
        const std::string safe = p.substr(0, p.size() - keep);
        p.erase(0, safe.size());
        size_t e = safe.size();
        if (strip_ && !final)
          while (e > 0 && safe[e - 1] == '\n') --e;
        if (e > 0) {
          d.reasoning += held_nl_;
          held_nl_.clear();
          d.reasoning.append(safe, 0, e);
        }
        held_nl_.append(safe, e, std::string::npos);
        if (final) {  // unclosed block: its trailing newlines are reasoning text
          d.reasoning += held_nl_;
          held_nl_.clear();
        }
        return d;
      }
      case State::Content: {
        if (at_start_ && strip_) {
          size_t i = 0;
          while (i < p.size() && p[i] == '\n') ++i;
          p.erase(0, i);
          if (p.empty()) return d;
        }
        at_start_ = false;
        d.content += p;
        p.clear();
        return d;
      }
    }
  }
}

}  // namespace r1::tok

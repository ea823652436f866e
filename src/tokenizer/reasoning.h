// Splits generated text into reasoning (`<think>...</think>`) and answer content, streamed chunk by
// chunk (tags may be split across chunks at any byte) or in one shot.
#pragma once
#include <string>
#include <string_view>

namespace r1::tok {

/// Whether a rendered prompt leaves the model inside an open think block: it ends with `<think>`
/// followed only by whitespace (DeepSeek-R1's Feb-2025 generation prompt `<｜Assistant｜><think>\n`).
/// A `<think>` elsewhere (e.g. in a user message) does not count.
bool prompt_ends_in_reasoning(std::string_view rendered_prompt);

/// A streaming `<think>` parser for R1-style output.
///
/// Rules:
///  - starts_in_reasoning=false: output that begins (after optional whitespace) with `<think>`
///    opens a think block; any other output is content (a later `<think>` is plain content).
///  - starts_in_reasoning=true (the prompt already opened the block): output is reasoning from the
///    first byte; a re-emitted leading `<think>` is dropped.
///  - `</think>` closes the block; everything after it is content (later tags included).
///  - A block never closed: everything after the opening is reasoning and reasoning_unclosed().
///  - strip_newlines (default): the newlines around the tags are dropped, i.e. reasoning is
///    `.strip('\n')`-ed and content `.lstrip('\n')`-ed, as DeepSeek's API returns them and as the
///    Qwen3 template re-renders history. With strip_newlines=false the text is split verbatim, as
///    vLLM's deepseek_r1 reasoning parser does (reasoning = text between the tags, content = text
///    after `</think>`, newlines kept).
/// Streaming and one-shot agree exactly: push() holds back bytes that could still be the start of
/// a tag or (when stripping) newlines that could precede `</think>`, until the next chunk or
/// finish() decides.
class ReasoningParser {
 public:
  struct Delta {
    std::string reasoning, content;
  };

  explicit ReasoningParser(bool starts_in_reasoning, bool strip_newlines = true);

  /// Consumes a chunk (any byte split, including inside a tag or a UTF-8 sequence); returns the
  /// text that is now certain.
  Delta push(std::string_view chunk);
  /// Ends the stream: flushes held-back text (an unfinished tag prefix becomes text).
  Delta finish();

  /// One-shot parse of a complete output (= push(text) then finish()).
  static Delta parse(std::string_view text, bool starts_in_reasoning, bool strip_newlines = true);

  /// True after finish() when a think block was opened and never closed.
  bool reasoning_unclosed() const { return finished_ && state_ == State::Reasoning; }
  /// True once a think block was opened (by the prompt or by the output).
  bool saw_reasoning() const { return saw_reasoning_; }

 private:
  enum class State { Start, Reasoning, Content };
  Delta drain(bool final);

  State state_;
  bool strip_;
  bool at_start_ = true;    // nothing of the current section emitted yet
  bool allow_open_;         // a leading `<think>` may still be dropped
  bool saw_reasoning_ = false;
  bool finished_ = false;
  std::string pending_;     // bytes not yet classified
  std::string held_nl_;     // reasoning newlines held back (they may precede `</think>`)
};

}  // namespace r1::tok

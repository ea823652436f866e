// The embedded task's chat template: a Hugging Face `chat_template` (Jinja2) that puts a user's
// message into the task's prompt form, so that `r1 chat`, `r1 serve` and transformers'
// apply_chat_template talk to the models `r1 zero` writes in the form they were trained on.
// The form is task.h's: prompt `Q:<problem>=?A:`, completion `<think>...</think><answer>` or a
// bare answer, then EOS (documents packed with EOS between them and no BOS, as `r1 pretrain` does).
#pragma once
#include <string_view>

namespace r1::task {

/// The template text (the `chat_template` value of tokenizer_config.json). A user turn renders as
/// `Q:<text>=?` (a typed `Q:`, `=?A:`, `=?` or `=` around the problem is dropped, so `47+38`,
/// `47+38=?` and `Q:47+38=?A:` give the same prompt), an assistant turn as `A:<answer>` + eos_token
/// with its reasoning cut (the text after `</think>`, as R1's own template does), and the
/// generation prompt is `A:`. Only the last user message and what follows it are rendered: the
/// task is single-turn and the toy models saw at most one problem's worth of context before each
/// answer, so earlier turns would only push the prompt out of what they were trained on.
/// System messages are ignored (the task has none).
inline constexpr std::string_view kChatTemplate = R"jinja({#- r1 zero task form (src/task/chat_template.h): Q:<problem>=?A:<completion><eos> -#}
{%- set ns = namespace(last_user=-1) -%}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- for message in messages -%}
  {%- if loop.index0 >= ns.last_user -%}
    {%- if message['role'] == 'user' -%}
      {%- set q = message['content'] | trim -%}
      {%- set q = q[2:] if q.startswith('Q:') else q -%}
      {%- set q = q[:-2] if q.endswith('A:') else q -%}
      {%- set q = q[:-1] if q.endswith('?') else q -%}
      {%- set q = q[:-1] if q.endswith('=') else q -%}
      {{- 'Q:' + (q | trim) + '=?' -}}
    {%- elif message['role'] == 'assistant' -%}
      {%- set a = message['content'] -%}
      {%- set a = a.split('</think>')[-1] if '</think>' in a else a -%}
      {{- 'A:' + (a | trim) -}}{{- eos_token -}}
    {%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- 'A:' -}}{%- endif -%})jinja";

}  // namespace r1::task

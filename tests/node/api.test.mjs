// `r1 serve` through the official openai client: chat (non-streaming and streaming, with
// reasoning_content), completions, models, health, metrics, n, stop, seeds. The model is a tiny
// random-weight qwen2 with the real R1-Distill-Qwen tokenizer and chat template, so its text is
// gibberish; the tests check the API's structure and the server's own invariants.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { makeTinyModel, missingPrerequisite, startServer, r1Template, post, metric } from './harness.mjs';

const skip = missingPrerequisite();
let model, server, client, plain, plainClient;

before(async () => {
  if (skip) return;
  model = makeTinyModel();
  server = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '256', '--parallel', '4', '--model-name', 'r1-tiny']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  // A second server whose template does not open <think>: the output is then all content.
  const tmpl = path.join(path.dirname(model), 'plain.jinja');
  fs.writeFileSync(tmpl, "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}");
  plain = await startServer(model, ['--chat-template', tmpl, '--ctx-size', '256', '--parallel', '2']);
  plainClient = new OpenAI({ baseURL: `${plain.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  for (const s of [server, plain]) if (s) assert.equal((await s.stop()).code, 0, s.stderr());
});

const user = (content) => [{ role: 'user', content }];

test('chat: non-streaming answer carries the reasoning the R1 template opened', { skip: skip || false }, async () => {
  const r = await client.chat.completions.create({ model: 'r1-tiny', messages: user('What is 2+2?'), max_tokens: 12, seed: 5 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'r1-tiny');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  // The prompt ends in "<think>\n", so until the model writes </think> everything is reasoning.
  assert.equal(typeof c.message.reasoning_content, 'string');
  assert.ok(c.message.reasoning_content.length > 0);
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const rt = r.usage.completion_tokens_details.reasoning_tokens;
  assert.ok(rt >= 1 && rt <= r.usage.completion_tokens);
  if (!c.message.reasoning_content.includes('</think>') && c.message.content === '') assert.equal(rt, r.usage.completion_tokens);
});

test('chat: streaming sends role, reasoning_content deltas, finish, usage, [DONE]; same text as non-streaming', { skip: skip || false }, async () => {
  const req = { model: 'r1-tiny', messages: user('Count to three.'), max_tokens: 16, seed: 11, temperature: 0 };
  const full = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let reasoning = '', content = '', finish = null, usage = null, first = true, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
    const d = chunk.choices[0].delta;
    if (first) { assert.equal(d.role, 'assistant'); first = false; }
    if (d.reasoning_content) { assert.equal(content, '', 'reasoning after content'); reasoning += d.reasoning_content; }
    if (d.content) content += d.content;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(chunks >= 3);
  assert.equal(finish, full.choices[0].finish_reason);
  assert.equal(reasoning, full.choices[0].message.reasoning_content ?? '');
  assert.equal(content, full.choices[0].message.content);
  assert.deepEqual(usage, full.usage);
});

test('chat: a template without <think> gives plain content and no reasoning', { skip: skip || false }, async () => {
  const r = await plainClient.chat.completions.create({ messages: user('hello'), max_tokens: 10, seed: 3 });
  const m = r.choices[0].message;
  assert.equal(m.reasoning_content, undefined);
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 0);
  assert.equal(r.model, path.basename(model));  // default model id: the directory name
  const s = await plainClient.chat.completions.create({ messages: user('hello'), max_tokens: 10, seed: 3, stream: true });
  let content = '';
  for await (const chunk of s) {
    assert.equal(chunk.choices[0]?.delta?.reasoning_content, undefined);
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(content, m.content);
});

test('chat: n choices, seeds reproduce, stop strings cut the text', { skip: skip || false }, async () => {
  const base = { messages: user('Tell me a story.'), max_tokens: 24, temperature: 0.9, seed: 42 };
  const a = await plainClient.chat.completions.create({ ...base, n: 2 });
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1]);
  const again = await plainClient.chat.completions.create(base);
  assert.equal(again.choices[0].message.content, a.choices[0].message.content);  // choice 0 uses the seed itself
  const text = again.choices[0].message.content;
  if (text.length >= 8) {
    const stop = text.slice(4, 7);
    const cut = await plainClient.chat.completions.create({ ...base, stop: [stop] });
    assert.equal(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');
  }
});

test('completions: raw prompt, streaming and not', { skip: skip || false }, async () => {
  const r = await client.completions.create({ model: 'r1-tiny', prompt: 'Once upon a time', max_tokens: 8, seed: 1, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens >= 4);
  const s = await client.completions.create({ model: 'r1-tiny', prompt: 'Once upon a time', max_tokens: 8, seed: 1, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
});

test('models, health and metrics', { skip: skip || false }, async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['r1-tiny']);
  const one = await client.models.retrieve('r1-tiny');
  assert.equal(one.id, 'r1-tiny');
  const h = await fetch(`${server.url}/health`);
  assert.equal(h.status, 200);
  assert.deepEqual(await h.json(), { status: 'ok' });
  const m = await (await fetch(`${server.url}/metrics`)).text();
  for (const name of ['r1_generation_tokens_total', 'r1_prompt_tokens_total', 'r1_queue_length', 'r1_busy_slots', 'r1_tokens_per_second', 'r1_time_to_first_token_seconds_count']) {
    assert.ok(!Number.isNaN(metric(m, name)), `${name} missing:\n${m}`);
  }
  assert.ok(metric(m, 'r1_generation_tokens_total') > 0);
  assert.match(m, /r1_requests_total\{endpoint="chat_completions",status="200"\} \d+/);
});

test('concurrent requests all succeed and share decode steps', { skip: skip || false }, async () => {
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    client.chat.completions.create({ messages: user(`question ${i}`), max_tokens: 16, seed: i })));
  for (const r of rs) assert.ok(r.usage.completion_tokens >= 1);
  const r = await post(`${server.url}/v1/chat/completions`, { messages: user('x'), max_tokens: 2 });
  assert.equal(r.status, 200);
});

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
  assert.match(m, /r1_requests_total\{endpoint="health",status="200"\} [1-9]/);
  // Prometheus text format 0.0.4: every sample is `name{labels} value` of a family with a TYPE,
  // label values quoted, statuses real HTTP codes.
  const typed = new Set([...m.matchAll(/^# TYPE (\w+) (counter|gauge|histogram)$/gm)].map((x) => x[1]));
  for (const line of m.split('\n').filter((l) => l && !l.startsWith('#'))) {
    const s = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_]\w*="[^"]*"(,[a-zA-Z_]\w*="[^"]*")*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$/);
    assert.ok(s, `bad sample line: ${line}`);
    const family = s[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(s[1]) || typed.has(family), `no TYPE for ${s[1]}`);
    const status = line.match(/status="(-?\d+)"/);
    if (status) assert.ok(Number(status[1]) >= 100 && Number(status[1]) < 600, line);
  }
  for (const name of ['r1_decode_steps_total', 'r1_decode_sequences_total']) assert.ok(metric(m, name) > 0, name);
});

test('concurrent requests all succeed and share decode steps', { skip: skip || false }, async () => {
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    client.chat.completions.create({ messages: user(`question ${i}`), max_tokens: 16, seed: i })));
  for (const r of rs) assert.ok(r.usage.completion_tokens >= 1);
  const r = await post(`${server.url}/v1/chat/completions`, { messages: user('x'), max_tokens: 2 });
  assert.equal(r.status, 200);
});

test('max_tokens and max_completion_tokens bound the completion (max_completion_tokens wins); length finish', { skip: skip || false }, async () => {
  const base = { model: 'r1-tiny', messages: user('Write a long essay.'), temperature: 0 };
  for (const [fields, limit] of [[{ max_tokens: 5 }, 5], [{ max_completion_tokens: 7 }, 7], [{ max_tokens: 30, max_completion_tokens: 3 }, 3]]) {
    const r = await client.chat.completions.create({ ...base, ...fields });
    assert.ok(r.usage.completion_tokens <= limit, JSON.stringify(fields));
    // A random model almost never samples EOS in a few tokens: hitting the limit ends with "length".
    if (r.usage.completion_tokens === limit) assert.equal(r.choices[0].finish_reason, 'length', JSON.stringify(fields));
  }
  const c = await client.completions.create({ model: 'r1-tiny', prompt: 'abc', max_tokens: 4, temperature: 0 });
  assert.ok(c.usage.completion_tokens <= 4);
  if (c.usage.completion_tokens === 4) assert.equal(c.choices[0].finish_reason, 'length');
});

test('seed: the same seed reproduces a sampled answer, streaming or not; other seeds differ', { skip: skip || false }, async () => {
  const req = { model: 'r1-tiny', messages: user('Pick random words.'), max_tokens: 16, temperature: 1.0, top_p: 1.0 };
  const a = await client.chat.completions.create({ ...req, seed: 1234 });
  const b = await client.chat.completions.create({ ...req, seed: 1234 });
  assert.equal(b.choices[0].message.reasoning_content, a.choices[0].message.reasoning_content);
  assert.equal(b.choices[0].message.content, a.choices[0].message.content);
  const s = await client.chat.completions.create({ ...req, seed: 1234, stream: true });
  let reasoning = '';
  for await (const chunk of s) reasoning += chunk.choices[0]?.delta?.reasoning_content ?? '';
  assert.equal(reasoning, a.choices[0].message.reasoning_content ?? '');
  const others = await Promise.all([1, 2, 3].map((seed) => client.chat.completions.create({ ...req, seed })));
  assert.ok(others.some((o) => o.choices[0].message.reasoning_content !== a.choices[0].message.reasoning_content));
});

test('streaming with n = 2: both choice indices stream and finish; usage once at the end', { skip: skip || false }, async () => {
  const s = await client.chat.completions.create({ model: 'r1-tiny', messages: user('Two answers.'), max_tokens: 6, n: 2, seed: 9, temperature: 0.8, stream: true, stream_options: { include_usage: true } });
  const text = ['', ''], finish = [null, null];
  let usage = null, afterUsage = false;
  for await (const chunk of s) {
    if (usage) afterUsage = true;
    if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
    for (const c of chunk.choices) {
      text[c.index] += (c.delta.reasoning_content ?? '') + (c.delta.content ?? '');
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  assert.ok(finish.every((f) => f === 'stop' || f === 'length'), String(finish));
  assert.ok(text.every((t) => t.length > 0));
  assert.ok(usage && usage.completion_tokens >= 2 && usage.completion_tokens <= 12);
  assert.ok(!afterUsage, 'chunks after the usage chunk');
  // Choice i samples with seed + i: choice 1 equals a single request with seed 10.
  const one = await client.chat.completions.create({ model: 'r1-tiny', messages: user('Two answers.'), max_tokens: 6, seed: 10, temperature: 0.8 });
  assert.equal((one.choices[0].message.reasoning_content ?? '') + one.choices[0].message.content, text[1]);
});

test('stop strings also cut a stream (the stop text and what follows are never sent)', { skip: skip || false }, async () => {
  const base = { messages: user('Tell me a story.'), max_tokens: 24, temperature: 0 };
  const full = (await plainClient.chat.completions.create(base)).choices[0].message.content;
  assert.ok(full.length >= 8, `the greedy answer is too short to cut: ${JSON.stringify(full)}`);
  const stop = full.slice(3, 6);
  const s = await plainClient.chat.completions.create({ ...base, stop, stream: true });
  let content = '', finish = null;
  for await (const chunk of s) {
    content += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(content, full.slice(0, full.indexOf(stop)));
  assert.equal(finish, 'stop');
});

test('continuous batching: concurrent greedy requests share decode steps and answer exactly as alone', { skip: skip || false }, async () => {
  const prompts = ['alpha', 'beta gamma', 'delta epsilon zeta', 'eta'];
  const req = (p) => ({ model: 'r1-tiny', messages: user(p), max_tokens: 24, temperature: 0 });
  const alone = [];
  for (const p of prompts) alone.push(await client.chat.completions.create(req(p)));
  const before = await (await fetch(`${server.url}/metrics`)).text();
  const batched = await Promise.all([...prompts, ...prompts].map((p) => client.chat.completions.create(req(p))));
  const after = await (await fetch(`${server.url}/metrics`)).text();
  const steps = metric(after, 'r1_decode_steps_total') - metric(before, 'r1_decode_steps_total');
  const seqs = metric(after, 'r1_decode_sequences_total') - metric(before, 'r1_decode_sequences_total');
  // 8 requests on 4 slots: one at a time would need one step per token (seqs / steps = 1).
  assert.ok(seqs / steps > 2, `mean batch ${seqs / steps} (${seqs} sequence-steps in ${steps} steps)`);
  batched.forEach((r, i) => {
    const a = alone[i % prompts.length].choices[0];
    assert.equal(r.choices[0].message.reasoning_content, a.message.reasoning_content, `request ${i}`);
    assert.equal(r.choices[0].message.content, a.message.content, `request ${i}`);
    assert.equal(r.choices[0].finish_reason, a.finish_reason, `request ${i}`);
  });
});

test('binds 127.0.0.1 by default and honours --port', { skip: skip || false }, async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const net = await import('node:net');
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '64', '--port', String(port)]);
  try {
    assert.equal(s.url, `http://127.0.0.1:${port}`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

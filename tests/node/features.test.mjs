// Issue 18's request features through the official openai client: logprobs (chat and legacy
// completions, streamed and not, consistent with `r1 logits` on a real model), OpenAI's frequency
// and presence penalties, the thinking budget (max_reasoning_tokens, reasoning_effort),
// chat_template_kwargs on Qwen3's template, and a 400 for each parameter the server would not
// honour, with the server still serving afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { makeTinyModel, missingPrerequisite, startServer, r1Template, r1Bin, sharedDir, post } from './harness.mjs';

const skip = missingPrerequisite() || false;
const storiesDir = path.join(sharedDir, 'models', 'stories260K');
const stories = path.join(storiesDir, 'stories260K.gguf');
const qwen3Template = path.join(sharedDir, 'tokenizers', 'templates', 'qwen3.jinja');
const skipStories = skip || (!fs.existsSync(stories) ? `no ${stories} (set R1_SHARED)` : false);
const skipQwen3 = skip || (!fs.existsSync(qwen3Template) ? `no ${qwen3Template}` : false);
let model, server, client, storiesServer, storiesClient, qwen3, qwen3Client;

before(async () => {
  if (skip) return;
  model = makeTinyModel();
  server = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '512', '--parallel', '2', '--model-name', 'tiny']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  if (!skipStories) {
    storiesServer = await startServer(stories, ['--parallel', '2', '--model-name', 'stories']);
    storiesClient = new OpenAI({ baseURL: `${storiesServer.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }
  if (!skipQwen3) {
    qwen3 = await startServer(model, ['--chat-template', qwen3Template, '--ctx-size', '256', '--parallel', '1']);
    qwen3Client = new OpenAI({ baseURL: `${qwen3.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }
});

after(async () => {
  for (const s of [server, storiesServer, qwen3]) if (s) assert.equal((await s.stop()).code, 0, s.stderr());
});

const user = (content) => [{ role: 'user', content }];

// Reads a float32 C-order .npy as {shape, data}.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  const hlen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + hlen).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const off = 10 + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { shape, data };
}

// log_softmax of one row in double precision.
function logSoftmax(row) {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let z = 0;
  for (const x of row) z += Math.exp(x - m);
  const lz = m + Math.log(z);
  return Array.from(row, (x) => x - lz);
}

test('logprobs: completions on stories260K equal log_softmax of `r1 logits` over the same tokens', { skip: skipStories }, async () => {
  const ref = JSON.parse(fs.readFileSync(path.join(storiesDir, 'expected_once_upon_a_time.json'), 'utf8'));
  const n = 12;
  const r = await storiesClient.completions.create({ model: 'stories', prompt: ref.prompt_ids, max_tokens: n, temperature: 0, logprobs: 5 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, n);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
  // One forward over prompt + the greedy continuation llama.cpp found (the server's too: the
  // reference test checks that): row P-1+i predicts generated token i.
  const ids = [...ref.prompt_ids, ...ref.greedy_ids.slice(0, n)];
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'r1-logits-')), 'l.npy');
  execFileSync(r1Bin, ['logits', stories, '--ids', ids.join(','), '--out', out, '--threads', '1'], { stdio: 'pipe' });
  const { shape, data } = readNpy(out);
  const V = shape[1];
  const P = ref.prompt_ids.length;
  for (let i = 0; i < n; i++) {
    const row = logSoftmax(data.subarray((P - 1 + i) * V, (P + i) * V));
    const want = row[ref.greedy_ids[i]];
    assert.ok(Math.abs(lp.token_logprobs[i] - want) < 1e-3, `token ${i}: server ${lp.token_logprobs[i]} vs r1 logits ${want}`);
    // The 5 alternatives are the 5 largest of the row, with the same values.
    const best = [...row].sort((a, b) => b - a).slice(0, 5);
    const got = Object.values(lp.top_logprobs[i]).sort((a, b) => b - a);
    assert.ok(got.length >= 1 && got.length <= 5);
    for (let k = 0; k < got.length; k++) assert.ok(Math.abs(got[k] - best[k]) < 1e-3, `token ${i} alt ${k}: ${got[k]} vs ${best[k]}`);
    // Greedy picked the most likely token.
    assert.ok(Math.abs(lp.token_logprobs[i] - best[0]) < 1e-3);
  }
  // text_offset: where each token starts in the text (bytes; ASCII here).
  let off = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(lp.text_offset[i], off);
    off += Buffer.byteLength(lp.tokens[i]);
  }
  // Temperature does not change what is reported: the model's own distribution.
  const hot = await storiesClient.completions.create({ model: 'stories', prompt: ref.prompt_ids, max_tokens: 1, temperature: 1.5, seed: 1, logprobs: 2 });
  const first = logSoftmax(data.subarray((P - 1) * V, P * V));
  const hotBest = Object.values(hot.choices[0].logprobs.top_logprobs[0]).sort((a, b) => b - a)[0];
  assert.ok(Math.abs(hotBest - Math.max(...first)) < 1e-3);
});

test('logprobs: completions streamed carry the same tokens and values as non-streamed', { skip: skipStories }, async () => {
  const req = { model: 'stories', prompt: 'Once upon a time', max_tokens: 10, temperature: 0, logprobs: 3 };
  const full = await storiesClient.completions.create(req);
  const stream = await storiesClient.completions.create({ ...req, stream: true });
  const tokens = [], values = [], offsets = [];
  for await (const chunk of stream) {
    const lp = chunk.choices[0]?.logprobs;
    if (!lp) continue;
    tokens.push(...lp.tokens);
    values.push(...lp.token_logprobs);
    offsets.push(...lp.text_offset);
  }
  assert.deepEqual(tokens, full.choices[0].logprobs.tokens);
  // Up to float rounding: the second request may reuse the first one's pooled KV cache.
  assert.equal(values.length, full.choices[0].logprobs.token_logprobs.length);
  values.forEach((v, i) => assert.ok(Math.abs(v - full.choices[0].logprobs.token_logprobs[i]) < 1e-4));
  assert.deepEqual(offsets, full.choices[0].logprobs.text_offset);
});

test('logprobs: chat returns choices[].logprobs.content in OpenAI\'s shape, streamed and not', { skip }, async () => {
  const req = { model: 'tiny', messages: user('Say something.'), max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 4 };
  const r = await client.chat.completions.create(req);
  const c = r.choices[0];
  const content = c.logprobs.content;
  // Every generated token but a final EOS: reasoning tokens included.
  const n = r.usage.completion_tokens - (c.finish_reason === 'stop' ? 1 : 0);
  assert.equal(content.length, n);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes) && t.bytes.length > 0 && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
    assert.equal(t.top_logprobs.length, 4);
    for (let k = 1; k < 4; k++) assert.ok(t.top_logprobs[k - 1].logprob >= t.top_logprobs[k].logprob);
    // Greedy, no penalties: the chosen token is the most likely one.
    assert.ok(Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6);
  }
  // The bytes of all tokens are the reasoning and the answer, before the <think> split.
  const text = Buffer.from(content.flatMap((t) => t.bytes)).toString('utf8');
  assert.ok(text.includes((c.message.reasoning_content ?? '').slice(0, 4)));

  const stream = await client.chat.completions.create({ ...req, stream: true });
  const streamed = [];
  for await (const chunk of stream) {
    const lp = chunk.choices[0]?.logprobs;
    if (lp) streamed.push(...lp.content);
  }
  // Same tokens; values equal up to float rounding (the second request reuses the first one's
  // pooled KV cache for the prompt, so its prefill runs in different pieces).
  assert.deepEqual(streamed.map((t) => t.token), content.map((t) => t.token));
  for (let i = 0; i < content.length; i++) {
    assert.deepEqual(streamed[i].bytes, content[i].bytes);
    assert.ok(Math.abs(streamed[i].logprob - content[i].logprob) < 1e-4);
    assert.deepEqual(streamed[i].top_logprobs.map((t) => t.token), content[i].top_logprobs.map((t) => t.token));
  }

  const none = await client.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 2 });
  assert.equal(none.choices[0].logprobs, null);
});

// Greedy tokens of one chat request, as the strings logprobs reports.
async function greedyTokens(extra) {
  const r = await client.chat.completions.create({ model: 'tiny', messages: user('Repeat after me: la la la la'), max_tokens: 40, temperature: 0, logprobs: true, ...extra });
  return r.choices[0].logprobs.content.map((t) => t.token);
}

test('penalties: frequency and presence penalties change greedy decoding as OpenAI defines them', { skip }, async () => {
  const plain = await greedyTokens({});
  const repeats = plain.length - new Set(plain).size;
  assert.ok(repeats > 0, `precondition: the tiny model repeats itself greedily (${JSON.stringify(plain)})`);
  // A presence penalty of 2 outweighs the tiny model's logit gaps: no token comes twice.
  const presence = await greedyTokens({ presence_penalty: 2 });
  assert.equal(new Set(presence).size, presence.length, JSON.stringify(presence));
  const frequency = await greedyTokens({ frequency_penalty: 2 });
  assert.equal(new Set(frequency).size, frequency.length, JSON.stringify(frequency));
  // Negative penalties encourage repeats: at least as many as without.
  const sticky = await greedyTokens({ presence_penalty: -2 });
  assert.ok(sticky.length - new Set(sticky).size >= repeats);
  // Zero penalties are the plain chain.
  assert.deepEqual(await greedyTokens({ presence_penalty: 0, frequency_penalty: 0 }), plain);
});

test('thinking budget: max_reasoning_tokens forces </think>, streamed and not; reasoning_effort maps to budgets', { skip }, async () => {
  const req = { model: 'tiny', messages: user('Think about it.'), max_tokens: 30, temperature: 0, max_reasoning_tokens: 3, logprobs: true };
  const r = await client.chat.completions.create(req);
  const c = r.choices[0];
  const tokens = c.logprobs.content.map((t) => t.token);
  // Three sampled thinking tokens, then the forced "\n</think>\n\n" (however it tokenizes).
  const forced = tokens.slice(3).join('');
  assert.ok(forced.startsWith('\n</think>\n\n'), JSON.stringify(tokens));
  const firstThree = Buffer.from(c.logprobs.content.slice(0, 3).flatMap((t) => t.bytes)).toString('utf8');
  assert.equal(c.message.reasoning_content ?? '', firstThree.replace(/^\n+|\n+$/g, ''));
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens >= 4);
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens <= 3 + 9);
  if (r.usage.completion_tokens > r.usage.completion_tokens_details.reasoning_tokens + 2) assert.ok(c.message.content.length > 0);

  const stream = await client.chat.completions.create({ ...req, stream: true });
  let reasoning = '', content = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta ?? {};
    reasoning += d.reasoning_content ?? '';
    content += d.content ?? '';
  }
  assert.equal(reasoning, c.message.reasoning_content);
  assert.equal(content, c.message.content);

  // "none" is a budget of 0: no reasoning at all.
  const none = await client.chat.completions.create({ model: 'tiny', messages: user('Quick.'), max_tokens: 8, temperature: 0, reasoning_effort: 'none' });
  assert.ok(!none.choices[0].message.reasoning_content);
  // "low" (1024) does not bind within 8 tokens: the same as no budget.
  const low = await client.chat.completions.create({ model: 'tiny', messages: user('Quick.'), max_tokens: 8, temperature: 0, reasoning_effort: 'low' });
  const free = await client.chat.completions.create({ model: 'tiny', messages: user('Quick.'), max_tokens: 8, temperature: 0 });
  assert.equal(low.choices[0].message.reasoning_content, free.choices[0].message.reasoning_content);
});

test('chat_template_kwargs: enable_thinking=false reaches Qwen3\'s template', { skip: skipQwen3 }, async () => {
  const base = { messages: user('hello'), max_tokens: 4, temperature: 0 };
  const on = await qwen3Client.chat.completions.create(base);
  const off = await qwen3Client.chat.completions.create({ ...base, chat_template_kwargs: { enable_thinking: false } });
  // Qwen3's template renders an empty "<think>\n\n</think>\n\n" into the prompt when thinking is off.
  assert.ok(off.usage.prompt_tokens > on.usage.prompt_tokens, `${off.usage.prompt_tokens} vs ${on.usage.prompt_tokens}`);
  assert.ok(!off.choices[0].message.reasoning_content);
});

test('bad input: each a 400 with an OpenAI error naming the parameter; the server keeps serving', { skip }, async () => {
  const ok = { model: 'tiny', messages: user('hi'), max_tokens: 2 };
  const cases = [
    [{ ...ok, logprobs: true, top_logprobs: 21 }, 'top_logprobs', 'invalid_value'],
    [{ ...ok, top_logprobs: 3 }, 'top_logprobs', 'invalid_value'],
    [{ ...ok, logprobs: 'yes' }, 'logprobs', 'invalid_type'],
    [{ ...ok, frequency_penalty: 2.5 }, 'frequency_penalty', 'invalid_value'],
    [{ ...ok, presence_penalty: 'x' }, 'presence_penalty', 'invalid_type'],
    [{ ...ok, max_reasoning_tokens: -5 }, 'max_reasoning_tokens', 'invalid_value'],
    [{ ...ok, reasoning_effort: 'maximal' }, 'reasoning_effort', 'invalid_value'],
    [{ ...ok, chat_template_kwargs: 'enable_thinking=false' }, 'chat_template_kwargs', 'invalid_type'],
    [{ ...ok, functions: [{ name: 'get_weather', parameters: {} }] }, 'functions', 'unsupported_parameter'],
    [{ ...ok, tool_choice: 'required' }, 'tool_choice', 'invalid_value'],
    [{ ...ok, logit_bias: { 100: 5 } }, 'logit_bias', 'unsupported_parameter'],
  ];
  for (const [body, param, code] of cases) {
    const r = await post(`${server.url}/v1/chat/completions`, body);
    assert.equal(r.status, 400, `${param}: ${r.text}`);
    assert.equal(r.body.error.type, 'invalid_request_error');
    assert.equal(r.body.error.param, param, r.text);
    assert.equal(r.body.error.code, code, r.text);
    assert.ok(r.body.error.message.length > 0);
  }
  for (const [body, param] of [[{ prompt: 'a', logprobs: 21 }, 'logprobs'], [{ prompt: 'a', echo: true }, 'echo'],
    [{ prompt: 'a', suffix: 'z' }, 'suffix'], [{ prompt: 'a', best_of: 3 }, 'best_of']]) {
    const r = await post(`${server.url}/v1/completions`, { ...body, max_tokens: 2 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.param, param, r.text);
  }
  // The client library surfaces them as BadRequestError.
  await assert.rejects(client.chat.completions.create({ ...ok, logprobs: true, top_logprobs: 25 }), (e) => e.status === 400 && /top_logprobs/.test(e.message));
  const after = await client.chat.completions.create(ok);
  assert.equal(after.object, 'chat.completion');
});

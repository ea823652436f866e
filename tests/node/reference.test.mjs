// `r1 serve` against an independent reference: stories260K (llama2.c TinyStories, GGUF) and
// llama.cpp's greedy continuation of "Once upon a time" ($R1_SHARED/models/stories260K). The
// server must reproduce it through /v1/completions (text prompt, token-id prompt, streamed) and
// keep producing it exactly while other requests share its decode steps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { sharedDir, r1Bin, startServer, metric } from './harness.mjs';

const dir = path.join(sharedDir, 'models', 'stories260K');
const gguf = path.join(dir, 'stories260K.gguf');
const skip = !fs.existsSync(r1Bin) ? `no r1 binary at ${r1Bin}`
  : !fs.existsSync(gguf) ? `no ${gguf} (set R1_SHARED)` : false;
let server, client, ref;

before(async () => {
  if (skip) return;
  ref = JSON.parse(fs.readFileSync(path.join(dir, 'expected_once_upon_a_time.json'), 'utf8'));
  server = await startServer(gguf, ['--parallel', '8', '--model-name', 'stories']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
});

const greedy = (prompt, extra = {}) => ({ model: 'stories', prompt, max_tokens: ref.greedy_ids.length, temperature: 0, ...extra });

test('completions reproduce llama.cpp greedy text (text prompt, token ids, streamed)', { skip }, async () => {
  const r = await client.completions.create(greedy(ref.prompt_text));
  assert.equal(r.choices[0].text, ref.greedy_text);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.prompt_tokens, ref.prompt_ids.length);
  assert.equal(r.usage.completion_tokens, ref.greedy_ids.length);
  const ids = await client.completions.create(greedy(ref.prompt_ids));
  assert.equal(ids.choices[0].text, ref.greedy_text);
  const s = await client.completions.create(greedy(ref.prompt_text, { stream: true }));
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, ref.greedy_text);
});

test('the same greedy text while 8 other requests share the decode steps', { skip }, async () => {
  const before = await (await fetch(`${server.url}/metrics`)).text();
  const others = ['Lily', 'The dog', 'One day', 'Tom and', 'The sun', 'A cat', 'Mom said'];
  const rs = await Promise.all([ref.prompt_text, ...others, ref.prompt_text].map((p) => client.completions.create(greedy(p))));
  const after = await (await fetch(`${server.url}/metrics`)).text();
  assert.equal(rs[0].choices[0].text, ref.greedy_text);
  assert.equal(rs[rs.length - 1].choices[0].text, ref.greedy_text);
  const steps = metric(after, 'r1_decode_steps_total') - metric(before, 'r1_decode_steps_total');
  const seqs = metric(after, 'r1_decode_sequences_total') - metric(before, 'r1_decode_sequences_total');
  // One at a time would be 1; the 9th request (8 slots) runs its last steps alone, so at most ~4.5.
  assert.ok(seqs / steps > 2, `mean batch ${seqs / steps}`);
});

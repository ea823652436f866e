// Bad input, limits and lifecycle of `r1 serve`: every malformed request gets the right status
// and an OpenAI error body while the server keeps serving; auth, 413, 429, client disconnects,
// graceful SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { makeTinyModel, missingPrerequisite, startServer, r1Template, post, metric } from './harness.mjs';

const skip = missingPrerequisite() || false;
let model, server;

before(async () => {
  if (skip) return;
  model = makeTinyModel();
  server = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '128', '--parallel', '2', '--max-body-bytes', '65536', '--model-name', 'tiny']);
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
});

const msgs = [{ role: 'user', content: 'hi' }];
const ok = { messages: msgs, max_tokens: 2 };

function assertError(r, status, label) {
  assert.equal(r.status, status, `${label}: ${r.text}`);
  assert.ok(r.body && r.body.error, `${label}: not an error body: ${r.text}`);
  const e = r.body.error;
  assert.equal(typeof e.message, 'string', label);
  assert.ok(e.message.length > 0, label);
  assert.equal(typeof e.type, 'string', label);
  assert.ok('param' in e && 'code' in e, label);
  return e;
}

// [label, path, body (object or raw string), status, expected param (undefined: not checked)]
const badInputs = [
  ['malformed JSON', '/v1/chat/completions', '{"messages": [', 400, null],
  ['not an object', '/v1/chat/completions', '[1, 2, 3]', 400, null],
  ['empty body', '/v1/chat/completions', '', 400, null],
  ['missing messages', '/v1/chat/completions', { max_tokens: 3 }, 400, 'messages'],
  ['empty messages', '/v1/chat/completions', { messages: [] }, 400, 'messages'],
  ['messages not an array', '/v1/chat/completions', { messages: 'hi' }, 400, 'messages'],
  ['message not an object', '/v1/chat/completions', { messages: ['hi'] }, 400, 'messages[0]'],
  ['message without role', '/v1/chat/completions', { messages: [{ content: 'x' }] }, 400, 'messages[0].role'],
  ['unknown role', '/v1/chat/completions', { messages: [{ role: 'robot', content: 'x' }] }, 400, 'messages[0].role'],
  ['content of the wrong type', '/v1/chat/completions', { messages: [{ role: 'user', content: 42 }] }, 400, 'messages[0].content'],
  ['image content part', '/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 400, 'messages[0].content[0].type'],
  ['model not a string', '/v1/chat/completions', { ...ok, model: 7 }, 400, 'model'],
  ['max_tokens a string', '/v1/chat/completions', { ...ok, max_tokens: 'ten' }, 400, 'max_tokens'],
  ['max_tokens zero', '/v1/chat/completions', { ...ok, max_tokens: 0 }, 400, 'max_tokens'],
  ['max_tokens fractional', '/v1/chat/completions', { ...ok, max_tokens: 2.5 }, 400, 'max_tokens'],
  ['temperature out of range', '/v1/chat/completions', { ...ok, temperature: 7 }, 400, 'temperature'],
  ['top_p a string', '/v1/chat/completions', { ...ok, top_p: 'high' }, 400, 'top_p'],
  ['seed a string', '/v1/chat/completions', { ...ok, seed: 'abc' }, 400, 'seed'],
  ['n zero', '/v1/chat/completions', { ...ok, n: 0 }, 400, 'n'],
  ['n above the slots', '/v1/chat/completions', { ...ok, n: 3 }, 400, 'n'],
  ['stop a number', '/v1/chat/completions', { ...ok, stop: 3 }, 400, 'stop'],
  ['too many stop strings', '/v1/chat/completions', { ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop'],
  ['stream not a boolean', '/v1/chat/completions', { ...ok, stream: 'yes' }, 400, 'stream'],
  ['stream_options without stream', '/v1/chat/completions', { ...ok, stream_options: { include_usage: true } }, 400, 'stream_options'],
  ['top_logprobs above 20', '/v1/chat/completions', { ...ok, logprobs: true, top_logprobs: 21 }, 400, 'top_logprobs'],
  ['unknown model', '/v1/chat/completions', { ...ok, model: 'gpt-4o' }, 404, 'model'],
  ['completion without prompt', '/v1/completions', { max_tokens: 2 }, 400, 'prompt'],
  ['completion prompt of the wrong type', '/v1/completions', { prompt: { text: 'x' } }, 400, 'prompt'],
  ['completion token id out of range', '/v1/completions', { prompt: [1, 2, 99999999] }, 400, 'prompt[2]'],
  ['unknown model on completions', '/v1/completions', { prompt: 'x', model: 'nope' }, 404, 'model'],
];

test(`bad-input suite: ${badInputs.length} malformed requests, each the right error, server keeps serving`, { skip }, async () => {
  assert.ok(badInputs.length >= 20);
  for (const [label, path, body, status, param] of badInputs) {
    const r = await post(`${server.url}${path}`, body);
    const e = assertError(r, status, label);
    if (param !== undefined) assert.equal(e.param, param, label);
    if (status === 404) assert.equal(e.code, 'model_not_found', label);
    // Still serving after every bad request.
    const good = await post(`${server.url}/v1/chat/completions`, ok);
    assert.equal(good.status, 200, `after ${label}: ${good.text}`);
  }
});

test('prompt longer than the context: 400 with the numbers', { skip }, async () => {
  const long = 'word '.repeat(400);
  const r = await post(`${server.url}/v1/chat/completions`, { messages: [{ role: 'user', content: long }] });
  const e = assertError(r, 400, 'long prompt');
  assert.equal(e.code, 'context_length_exceeded');
  assert.match(e.message, /maximum context length is 128 tokens/);
  assert.match(e.message, /\d{3} tokens/);
  const r2 = await post(`${server.url}/v1/chat/completions`, { ...ok, max_tokens: 500 });
  const e2 = assertError(r2, 400, 'max_tokens beyond context');
  assert.equal(e2.code, 'context_length_exceeded');
  assert.match(e2.message, /128/);
  assert.match(e2.message, /500 for the completion/);
});

test('the openai client sees the same errors as APIError with status', { skip }, async () => {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ messages: [] }), (e) => e.status === 400 && /at least one message/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: 'gpt-5', messages: msgs }), (e) => e.status === 404 && e.code === 'model_not_found');
  await assert.rejects(client.models.retrieve('gpt-5'), (e) => e.status === 404);
});

test('body over the size limit: 413', { skip }, async () => {
  const r = await post(`${server.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
  const e = assertError(r, 413, 'big body');
  assert.match(e.message, /65536/);
  assert.equal((await post(`${server.url}/v1/chat/completions`, ok)).status, 200);
});

test('unknown URL: 404 in the error shape', { skip }, async () => {
  assertError(await post(`${server.url}/v1/embeddings`, { input: 'x' }), 404, 'embeddings');
});

test('a client that disconnects mid-stream frees its slot at once', { skip }, async () => {
  // One slot and a 4000-token generation (many seconds): the follow-up request can only run soon
  // if the departed stream's slot was freed.
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '4096', '--parallel', '1']);
  try {
    for (const stream of [true, false]) {
      const ctl = new AbortController();
      const res = fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctl.signal,
        body: JSON.stringify({ messages: msgs, stream, max_tokens: 4000, temperature: 1 }),
      });
      if (stream) {
        const reader = (await res).body.getReader();
        await reader.read();  // the stream is under way
      } else {
        res.catch(() => {});
        while (metric(await (await fetch(`${s.url}/metrics`)).text(), 'r1_busy_slots') !== 1) await new Promise((r) => setTimeout(r, 10));
      }
      const t0 = Date.now();
      ctl.abort();
      const deadline = Date.now() + 10000;
      let m = '';
      while (Date.now() < deadline) {
        m = await (await fetch(`${s.url}/metrics`)).text();
        if (metric(m, 'r1_busy_slots') === 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(metric(m, 'r1_busy_slots'), 0, `stream=${stream}: slot still busy after 10 s`);
      const r = await post(`${s.url}/v1/chat/completions`, { ...ok, max_tokens: 1 });
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 10000, `stream=${stream}: follow-up took ${Date.now() - t0} ms`);
    }
    // Both 4000-token generations stopped early.
    const gen = metric(await (await fetch(`${s.url}/metrics`)).text(), 'r1_generation_tokens_total');
    assert.ok(gen < 4000, `${gen} tokens generated`);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('API key: 401 without or with a wrong key, 200 with it; /health stays open', { skip }, async () => {
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '128', '--api-key', 'sk-test']);
  try {
    assertError(await post(`${s.url}/v1/chat/completions`, ok), 401, 'no key');
    assertError(await post(`${s.url}/v1/chat/completions`, ok, { authorization: 'Bearer wrong' }), 401, 'wrong key');
    const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const r = await good.chat.completions.create({ messages: msgs, max_tokens: 2 });
    assert.equal(r.choices.length, 1);
    const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-nope', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e.status === 401);
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('too many queued requests: 429, and every request is answered', { skip }, async () => {
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '256', '--parallel', '1', '--max-queue', '1']);
  try {
    const rs = await Promise.all(Array.from({ length: 8 }, () =>
      post(`${s.url}/v1/chat/completions`, { messages: msgs, max_tokens: 120 })));
    const statuses = rs.map((r) => r.status);
    assert.ok(statuses.every((x) => x === 200 || x === 429), statuses.join(','));
    assert.ok(statuses.filter((x) => x === 429).length >= 1, statuses.join(','));
    assert.ok(statuses.filter((x) => x === 200).length >= 1, statuses.join(','));
    for (const r of rs.filter((x) => x.status === 429)) {
      assert.equal(r.body.error.type, 'rate_limit_error');
      assert.equal(r.headers.get('retry-after'), '1');
    }
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('SIGTERM: in-flight requests finish, then the server exits 0', { skip }, async () => {
  // A grace period far longer than the request needs, even on a starved machine.
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '256', '--parallel', '2', '--shutdown-timeout', '600']);
  // In flight for certain when SIGTERM comes: its first streamed chunk has arrived (no sleep
  // guessing when the request has reached the server).
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: msgs, stream: true, max_tokens: 100 }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = dec.decode((await reader.read()).value, { stream: true });
  s.proc.kill('SIGTERM');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  assert.match(text, /"finish_reason":"(stop|length)"/, text.slice(-400));
  assert.doesNotMatch(text, /"error":/, text.slice(-400));
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-200));
  const { code } = await s.exited;
  assert.equal(code, 0, s.stderr());
  assert.match(s.stderr(), /SIGTERM/);
});

test('SIGTERM: an in-flight request that outlives --shutdown-timeout is cancelled; exit 0 promptly', { skip }, async () => {
  const s = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '8192', '--parallel', '2', '--shutdown-timeout', '0.5']);
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: msgs, stream: true, max_tokens: 8000, temperature: 1 }),
  });
  const reader = res.body.getReader();
  await reader.read();
  const t0 = Date.now();
  s.proc.kill('SIGTERM');
  let text = '';
  const dec = new TextDecoder();
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  })();
  // During the grace period new generations are refused with 503; /health says so too. Waits
  // for /health to report the shutdown (a condition, not a sleep), then asks for a generation.
  let health = 0;
  for (let i = 0; i < 1000 && health !== 503; ++i) {
    health = (await fetch(`${s.url}/health`)).status;
    if (health !== 503) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(health, 503, '/health during shutdown');
  const refused = await post(`${s.url}/v1/chat/completions`, ok);
  assert.equal(assertError(refused, 503, 'request during shutdown').code, 'server_shutting_down');
  await drained;
  const { code } = await s.exited;
  assert.equal(code, 0, s.stderr());
  // 0.5 s grace + teardown; the 8000-token generation itself would take far longer.
  assert.ok(Date.now() - t0 < 15000, `exit took ${Date.now() - t0} ms`);
  // The stream ends with an OpenAI error event, then [DONE].
  assert.match(text, /data: \{"error":\{[^\n]*"code":"server_shutting_down"/);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-200));
});

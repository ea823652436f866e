// Tool calling through the official openai client (issue 18): a round trip (the call, the tool's
// result, the final answer) streamed and not, in DeepSeek-R1's format (R1-Distill-Qwen template)
// and Qwen2.5's <tool_call> format, with parallel calls. A random-weight model never calls a tool
// on its own, so tool_choice required / a named function forces the call through the grammar,
// which is what makes these tests deterministic. Plus the 400s: tools on a template without tool
// support, tool_choice naming an unknown function.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { makeTinyModel, missingPrerequisite, startServer, r1Template, sharedDir, post } from './harness.mjs';

const skip = missingPrerequisite() || false;
const qwenTemplate = path.join(sharedDir, 'tokenizers', 'templates', 'qwen2_5.jinja');
let servers = [];
let r1, qwen, plain;

before(async () => {
  if (skip) return;
  const model = makeTinyModel();
  const plainTemplate = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'r1-tools-')), 'plain.jinja');
  fs.writeFileSync(plainTemplate, '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:');
  const start = async (template) => {
    // Plain sampling (--top-k 0 --min-p 0): top-k over a random model's 150K tokens costs more
    // than the tiny model's forward pass.
    const s = await startServer(model, ['--chat-template', template, '--ctx-size', '1024', '--parallel', '2', '--model-name', 'tiny', '--top-k', '0', '--min-p', '0']);
    servers.push(s);
    return { server: s, client: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 }) };
  };
  r1 = await start(r1Template);
  qwen = await start(qwenTemplate);
  plain = await start(plainTemplate);
});

after(async () => {
  for (const s of servers) assert.equal((await s.stop()).code, 0, s.stderr());
});

const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 }, days: { type: 'integer' } }, required: ['city', 'days'], additionalProperties: false } } },
  { type: 'function', function: { name: 'get_time', description: 'Local time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'] } } },
];

function checkCall(call, name) {
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  if (name) assert.equal(call.function.name, name);
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'get_weather') {
    assert.equal(typeof args.city, 'string');
    assert.ok(Number.isInteger(args.days), call.function.arguments);
  } else {
    assert.equal(call.function.name, 'get_time');
    assert.ok(['UTC', 'CET'].includes(args.zone), call.function.arguments);
  }
  return args;
}

async function roundTrip(client, stream) {
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const base = { model: 'tiny', tools, seed: 11, max_tokens: 90, max_reasoning_tokens: 0 };
  let message, finish;
  if (stream) {
    const s = await client.chat.completions.create({ ...base, messages, tool_choice: { type: 'function', function: { name: 'get_weather' } }, stream: true });
    const calls = [];
    let content = '';
    for await (const chunk of s) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      content += ch.delta.content ?? '';
      for (const tc of ch.delta.tool_calls ?? []) {
        // The client's accumulation rule: the first delta of an index carries id, type and name.
        calls[tc.index] ??= { id: tc.id, type: tc.type, function: { name: tc.function.name, arguments: '' } };
        calls[tc.index].function.arguments += tc.function.arguments ?? '';
      }
      finish = ch.finish_reason ?? finish;
    }
    message = { role: 'assistant', content: content || null, tool_calls: calls };
  } else {
    const r = await client.chat.completions.create({ ...base, messages, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    message = r.choices[0].message;
    finish = r.choices[0].finish_reason;
    assert.equal(message.content, null);
  }
  assert.equal(finish, 'tool_calls');
  assert.ok(message.tool_calls.length >= 1);
  for (const c of message.tool_calls) checkCall(c, 'get_weather');
  // The tool's result goes back with the call in the history; the model answers (tool_choice none).
  const history = [...messages, message, ...message.tool_calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: '{"temp_c": 21}' }))];
  const answer = await client.chat.completions.create({ ...base, messages: history, tool_choice: 'none', max_tokens: 8 });
  assert.equal(answer.object, 'chat.completion');
  assert.ok(['stop', 'length'].includes(answer.choices[0].finish_reason));
  assert.equal(answer.choices[0].message.tool_calls, undefined);
  // The history with the call and its result is longer than the question alone.
  const bare = await client.chat.completions.create({ ...base, messages, tool_choice: 'none', max_tokens: 1 });
  assert.ok(answer.usage.prompt_tokens > bare.usage.prompt_tokens + 10, `${answer.usage.prompt_tokens} vs ${bare.usage.prompt_tokens}`);
}

test('DeepSeek-R1 format: a forced call, its result and the answer, streamed and not', { skip }, async () => {
  await roundTrip(r1.client, false);
  await roundTrip(r1.client, true);
});

test('Qwen <tool_call> format: round trip, and tool_choice required with parallel calls', { skip }, async () => {
  await roundTrip(qwen.client, false);
  await roundTrip(qwen.client, true);
  for (const seed of [1, 2]) {
    const r = await qwen.client.chat.completions.create({
      model: 'tiny', tools, tool_choice: 'required', seed, max_tokens: 120, messages: [{ role: 'user', content: 'weather and time?' }],
    });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    const ids = new Set();
    for (const c of r.choices[0].message.tool_calls) {
      checkCall(c);
      ids.add(c.id);
    }
    assert.equal(ids.size, r.choices[0].message.tool_calls.length, 'tool call ids are unique');
  }
});

test('bad tool requests: a 400 each, and the server keeps serving', { skip }, async () => {
  const ok = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
  let r = await post(`${plain.server.url}/v1/chat/completions`, { ...ok, tools });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.param, 'tools');
  assert.equal(r.body.error.code, 'tools_unsupported');
  assert.match(r.body.error.message, /no tool-call format/);
  r = await post(`${r1.server.url}/v1/chat/completions`, { ...ok, tools, tool_choice: { type: 'function', function: { name: 'launch' } } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.param, 'tool_choice');
  assert.match(r.body.error.message, /'launch'/);
  const badSchema = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { s: { type: 'string', format: 'uri' } } } } }];
  r = await post(`${r1.server.url}/v1/chat/completions`, { ...ok, tools: badSchema, tool_choice: 'required' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error.message, /'format'/);
  // tool_choice none on a template without tools is plain chat.
  const fine = await plain.client.chat.completions.create({ ...ok, tools, tool_choice: 'none' });
  assert.equal(fine.object, 'chat.completion');
  const after = await r1.client.chat.completions.create(ok);
  assert.equal(after.object, 'chat.completion');
});

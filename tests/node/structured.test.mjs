// Structured output through the official openai client (issue 18): response_format json_schema on
// 100 requests to a random-weight model with the real 150K-token vocabulary, each output parsed and
// validated against its schema (the constraint holds however bad the model is, and the grammar
// forces the JSON closed within max_tokens); json_object, llama-server's GBNF `grammar`,
// streaming, the reasoning left free, and the 400s for bad or unsupported schemas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { makeTinyModel, missingPrerequisite, startServer, r1Template, post } from './harness.mjs';

const skip = missingPrerequisite() || false;
let server, client;

before(async () => {
  if (skip) return;
  const model = makeTinyModel();
  // --top-k 0 --min-p 0: plain sampling. A random model's distribution over 150K tokens is near
  // uniform, and the default top-k 40 selection costs more than the tiny model's forward pass.
  server = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '512', '--parallel', '8', '--model-name', 'tiny', '--top-k', '0', '--min-p', '0']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  if (server) assert.equal((await server.stop()).code, 0, server.stderr());
});

// A validator for the schema subset the tests use (written from JSON Schema 2020-12, independent
// of the server's compiler). Returns an error string or null.
function validate(schema, v, path = '$') {
  if (schema.$ref) return validate(schemas.defs[schema.$ref.split('/').pop()], v, path);
  if (schema.anyOf) {
    return schema.anyOf.some((s) => validate(s, v, path) === null) ? null : `${path}: matches no anyOf branch`;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return `${path}: not in enum`;
  const types = schema.type === undefined ? null : [].concat(schema.type);
  const typeOf = (x) => (x === null ? 'null' : Array.isArray(x) ? 'array' : Number.isInteger(x) ? 'integer' : typeof x);
  if (types) {
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return `${path}: ${t} is not ${types}`;
  }
  if (typeof v === 'string') {
    if (schema.maxLength !== undefined && [...v].length > schema.maxLength) return `${path}: longer than ${schema.maxLength}`;
    if (schema.minLength !== undefined && [...v].length < schema.minLength) return `${path}: shorter than ${schema.minLength}`;
  }
  if (Array.isArray(v)) {
    if (schema.maxItems !== undefined && v.length > schema.maxItems) return `${path}: more than ${schema.maxItems} items`;
    if (schema.minItems !== undefined && v.length < schema.minItems) return `${path}: fewer than ${schema.minItems} items`;
    for (let i = 0; i < v.length && schema.items; i++) {
      const e = validate(schema.items, v[i], `${path}[${i}]`);
      if (e) return e;
    }
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const r of schema.required ?? []) if (!(r in v)) return `${path}: missing ${r}`;
    for (const [k, x] of Object.entries(v)) {
      const sub = schema.properties?.[k];
      if (!sub) {
        if (schema.additionalProperties === false) return `${path}: extra property ${k}`;
        continue;
      }
      const e = validate(sub, x, `${path}.${k}`);
      if (e) return e;
    }
  }
  return null;
}

const schemas = {
  defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'], additionalProperties: false } },
  list: [
    { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['name', 'age', 'ok'], additionalProperties: false },
    { type: 'object', properties: { tags: { type: 'array', items: { enum: ['red', 'green', 'blue'] }, minItems: 1, maxItems: 3 }, note: { type: ['string', 'null'], maxLength: 8 } }, required: ['tags'], additionalProperties: false },
    { type: 'object', properties: { p: { $ref: '#/$defs/point' }, q: { anyOf: [{ $ref: '#/$defs/point' }, { type: 'null' }] } }, required: ['p', 'q'], additionalProperties: false },
    { type: 'array', items: { type: 'integer' }, maxItems: 4 },
  ],
};
const wire = (s) => ({ ...s, $defs: schemas.defs });
const user = (content) => [{ role: 'user', content }];

test('json_schema: 100 requests to a random model, every output parses and validates', { skip }, async () => {
  const t0 = Date.now();
  let lengthStops = 0;
  for (let batch = 0; batch < 100; batch += 20) {
    await Promise.all(Array.from({ length: 20 }, async (_, k) => {
      const i = batch + k;
      const schema = schemas.list[i % schemas.list.length];
      const r = await client.chat.completions.create({
        model: 'tiny', messages: user(`item ${i}`), seed: i, temperature: 1, top_p: 1, max_tokens: 32 + (i % 3) * 8,
        max_reasoning_tokens: i % 3,  // the reasoning is free for a few tokens, then closed
        response_format: { type: 'json_schema', json_schema: { name: `s${i % 4}`, strict: true, schema: wire(schema) } },
      });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop', `request ${i} was cut: ${c.message.content}`);
      if (c.finish_reason === 'length') lengthStops++;
      let v;
      assert.doesNotThrow(() => { v = JSON.parse(c.message.content); }, `request ${i}: not JSON: ${JSON.stringify(c.message.content)}`);
      assert.equal(validate(schema, v), null, `request ${i}: ${c.message.content}`);
      assert.ok(r.usage.completion_tokens <= 32 + (i % 3) * 8);
    }));
  }
  console.log(`100 json_schema requests in ${Date.now() - t0} ms (${lengthStops} cut by length)`);
});

test('json_object, GBNF grammar, streaming, and the reasoning stays free', { skip }, async () => {
  const r = await client.chat.completions.create({
    model: 'tiny', messages: user('an object'), seed: 3, max_tokens: 60, max_reasoning_tokens: 8, response_format: { type: 'json_object' },
  });
  const v = JSON.parse(r.choices[0].message.content);
  assert.equal(typeof v, 'object');
  assert.ok(!Array.isArray(v) && v !== null);
  // Eight free reasoning tokens of a random model: almost surely not JSON, and not constrained.
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens >= 8, JSON.stringify(r.usage));

  const g = await post(`${server.url}/v1/chat/completions`, {
    model: 'tiny', messages: user('yes or no'), seed: 1, max_tokens: 20, max_reasoning_tokens: 0,
    grammar: 'root ::= ("yes" | "no") " " [0-9]{2,3} "!"',
  });
  assert.equal(g.status, 200, g.text);
  assert.match(g.body.choices[0].message.content, /^(yes|no) [0-9]{2,3}!$/);
  const c = await post(`${server.url}/v1/completions`, { prompt: 'count:', seed: 2, max_tokens: 12, grammar: 'root ::= [1-9] ("," [0-9])*' });
  assert.equal(c.status, 200, c.text);
  assert.match(c.body.choices[0].text, /^[1-9](,[0-9])*$/);
  assert.equal(c.body.choices[0].finish_reason, 'stop');

  const stream = await client.chat.completions.create({
    model: 'tiny', messages: user('stream'), seed: 5, max_tokens: 50, max_reasoning_tokens: 2, stream: true,
    response_format: { type: 'json_schema', json_schema: { name: 's', schema: wire(schemas.list[0]) } },
  });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      text += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(finish, 'stop');
  assert.equal(validate(schemas.list[0], JSON.parse(text)), null, text);
});

test("vLLM/llama-server sampler extensions reach the sampler: top_k 1 and min_p 1 are greedy", { skip }, async () => {
  const base = { model: 'tiny', messages: user('pick'), max_tokens: 8, max_reasoning_tokens: 0 };
  const text = (r) => (r.choices[0].message.reasoning_content ?? '') + '|' + r.choices[0].message.content;
  const greedy = text(await client.chat.completions.create({ ...base, temperature: 0 }));
  for (const extra of [{ top_k: 1 }, { min_p: 1 }]) {
    const outs = new Set();
    for (const seed of [1, 2, 3]) outs.add(text(await client.chat.completions.create({ ...base, temperature: 1.5, seed, ...extra })));
    assert.deepEqual([...outs], [greedy], JSON.stringify(extra));
  }
  // Without them, a random model at temperature 1.5 gives different texts for different seeds.
  const free = new Set();
  for (const seed of [1, 2, 3]) free.add(text(await client.chat.completions.create({ ...base, temperature: 1.5, seed })));
  assert.ok(free.size > 1);
});

test('bad schemas and grammars: a 400 naming the problem; the server keeps serving', { skip }, async () => {
  const ok = { model: 'tiny', messages: user('hi'), max_tokens: 4 };
  const rf = (schema) => ({ ...ok, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
  const cases = [
    [rf({ type: 'string', pattern: '^[a-z]+$' }), 'response_format.json_schema.schema', 'unsupported_json_schema', /'pattern'/],
    [rf({ type: 'object', properties: { n: { type: 'integer', minimum: 1 } } }), 'response_format.json_schema.schema', 'unsupported_json_schema', /'minimum' at \/properties\/n/],
    [rf({ type: 'objekt' }), 'response_format.json_schema.schema', 'invalid_json_schema', /unknown type 'objekt'/],
    [rf({ $ref: '#/$defs/nowhere' }), 'response_format.json_schema.schema', 'invalid_json_schema', /points to nothing/],
    [{ ...ok, grammar: 'root ::= "a" | ' + 'b' }, 'grammar', 'invalid_grammar', /'b' is used but never defined/],
    [{ ...ok, response_format: { type: 'yaml' } }, 'response_format.type', 'invalid_value', /json_schema/],
  ];
  for (const [body, param, code, message] of cases) {
    const r = await post(`${server.url}/v1/chat/completions`, body);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.param, param, r.text);
    assert.equal(r.body.error.code, code, r.text);
    assert.match(r.body.error.message, message);
  }
  await assert.rejects(client.chat.completions.create(rf({ type: 'string', format: 'email' })), (e) => e.status === 400 && /'format'/.test(e.message));
  const after = await client.chat.completions.create(ok);
  assert.equal(after.object, 'chat.completion');
});

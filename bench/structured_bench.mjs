// Constrained vs free decode speed of `r1 serve` (issue 18's structured-output target: constrained
// within 10% of free on the 1.5B shape). Starts the server on MODEL, then for each mode streams
// --runs completions of --tokens tokens one at a time and reports the decode rate (tokens after
// the first over the time from the first to the last token, so prefill is left out):
//   free         no constraint
//   json_object  response_format json_object (any JSON object)
//   json_schema  a schema with strings, numbers, an enum and an array
// A random-weight model almost never samples a token the grammar allows, so every constrained
// step takes the masked path (a mask from the cache or a vocabulary walk): the worst case.
// Usage: R1_BIN=build/r1 node bench/structured_bench.mjs MODEL [--tokens 64] [--runs 3] [--threads 2] [--top-p 1]
// Prints a table; never asserts.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const model = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const tokens = opt('tokens', 64);
const runs = opt('runs', 3);
const threads = opt('threads', 2);
// top-p 1 by default: with top-p < 1 the free sampler sorts most of a random model's near-uniform
// 150K-token distribution each step, which a mask (most logits at -inf) avoids, flattering the
// constrained modes.
const topP = opt('top-p', 1);
const bin = process.env.R1_BIN ?? 'build/r1';
if (!model) {
  console.error('usage: node bench/structured_bench.mjs MODEL [--tokens N] [--runs N] [--threads N]');
  process.exit(2);
}

const proc = spawn(bin, ['serve', model, '--port', '0', '--threads', String(threads), '--parallel', '1', '--ctx-size', String(tokens + 64)], { stdio: ['ignore', 'ignore', 'pipe'] });
let err = '';
const url = await new Promise((resolve, reject) => {
  proc.stderr.on('data', (d) => {
    err += d.toString();
    const m = err.match(/listening on (http:\/\/[^\s]+)/);
    if (m) resolve(m[1]);
  });
  proc.on('exit', (c) => reject(new Error(`server exited ${c}:\n${err}`)));
});

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' }, score: { type: 'number' }, level: { enum: ['low', 'mid', 'high'] },
    tags: { type: 'array', items: { type: 'string' } }, ok: { type: 'boolean' },
  },
  required: ['name', 'score', 'level', 'tags', 'ok'],
};
const modes = {
  free: {},
  json_object: { response_format: { type: 'json_object' } },
  json_schema: { response_format: { type: 'json_schema', json_schema: { name: 'b', schema } } },
};

async function once(extra, seed) {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'JSON:', max_tokens: tokens, temperature: 1, top_p: topP, seed, stream: true, stream_options: { include_usage: true }, ...extra }),
  });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '', n = 0, first = 0, last = 0, used = 0, stopped = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: {')) continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) used = j.usage.completion_tokens;
      if (j.choices?.[0]?.finish_reason === 'stop') stopped = true;
      if (j.choices?.[0]?.text) {
        const now = performance.now();
        if (!first) first = now;
        last = now;
        n++;
      }
    }
  }
  // Tokens decoded up to the last chunk (an EOS that ended it has no chunk).
  return { tokens: stopped ? used - 1 : used, ms: last - first, chunks: n };
}

// Modes interleaved run by run, so that load from elsewhere on the machine hits them alike.
const acc = Object.fromEntries(Object.keys(modes).map((m) => [m, { tokens: 0, ms: 0 }]));
for (const extra of Object.values(modes)) await once(extra, 999);  // warm-up: token table, first masks
for (let r = 0; r < runs; r++) {
  for (const [name, extra] of Object.entries(modes)) {
    const o = await once(extra, r);
    acc[name].tokens += o.tokens - 1;
    acc[name].ms += o.ms;
  }
}
const rows = Object.entries(acc).map(([mode, a]) => ({ mode, tokens: a.tokens, 'decode tok/s': (1000 * a.tokens / a.ms).toFixed(2) }));
const free = Number(rows[0]['decode tok/s']);
for (const r of rows) r['vs free'] = `${((Number(r['decode tok/s']) / free - 1) * 100).toFixed(1)}%`;
console.log(`model ${model}, ${tokens} tokens x ${runs} runs, --threads ${threads}, top_p ${topP}`);
console.table(rows);
proc.kill('SIGTERM');

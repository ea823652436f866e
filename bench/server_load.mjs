// Bounded load test of `r1 serve` on loopback: C concurrent clients send N streaming chat requests
// in all, once with continuous batching (--parallel 8 by default) and once one request at a time
// (--parallel 1); prints throughput (generated tokens/s, requests/s), p50/p99 time to first token
// (request sent -> first text delta, queueing included), failures, tokens per server CPU second
// (meaningful on a shared machine) and the load average. Stops by
// itself; exits 1 when any request failed.
//   node bench/server_load.mjs [--model DIR] [--clients 32] [--requests 256] [--max-tokens 32]
//                              [--parallel 8] [--threads 1]
// Without --model it builds the tiny random test model (tests/node/harness.mjs); R1_BIN picks the
// binary (default build/r1).
import fs from 'node:fs';
import os from 'node:os';
import { makeTinyModel, startServer, r1Template } from '../tests/node/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const clients = Number(args.clients ?? 32);
const total = Number(args.requests ?? 256);
const maxTokens = Number(args['max-tokens'] ?? 32);
const threads = args.threads ?? '1';
const batched = Number(args.parallel ?? 8);
const model = args.model ?? makeTinyModel();

async function one(url, i) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: `Request ${i}: explain why the sky is blue.` }],
      max_tokens: maxTokens, seed: i, stream: true, stream_options: { include_usage: true },
    }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const dec = new TextDecoder();
  let buf = '', ttft = null, tokens = 0, done = false;
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ')) continue;
      const data = ev.slice(6);
      if (data === '[DONE]') { done = true; continue; }
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message);
      if (j.usage) tokens = j.usage.completion_tokens;
      const d = j.choices[0]?.delta;
      if (ttft === null && d && (d.content || d.reasoning_content)) ttft = performance.now() - t0;
    }
  }
  if (!done) throw new Error('stream ended without [DONE]');
  return { ttft: ttft ?? performance.now() - t0, tokens };
}

// CPU seconds (user + system) the server process has used: /proc/PID/stat fields 14 and 15, in
// USER_HZ = 100 ticks per second on Linux. Tokens per CPU second does not depend on how much of
// a shared machine the server got, unlike tokens per wall second.
function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run(parallel) {
  const server = await startServer(model, ['--chat-template', r1Template, '--ctx-size', '256',
    '--parallel', String(parallel), '--max-queue', String(clients + 8), '--threads', threads]);
  let next = 0, failures = 0, tokens = 0;
  const ttfts = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) {
      const i = next++;
      try {
        const r = await one(server.url, i);
        ttfts.push(r.ttft);
        tokens += r.tokens;
      } catch (e) {
        failures++;
        console.error(`request ${i}: ${e.message}`);
      }
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.proc.pid);
  await server.stop();
  ttfts.sort((a, b) => a - b);
  return { parallel, wall, tokens, failures, tps: tokens / wall, rps: (total - failures) / wall, cpu,
    p50: pct(ttfts, 50), p99: pct(ttfts, 99) };
}

console.log(`r1 serve load test: ${clients} clients, ${total} streaming chat requests, max_tokens ${maxTokens}, model ${model}`);
console.log('parallel | wall s | gen tokens | tokens/s | req/s | TTFT p50 ms | TTFT p99 ms | failed | server CPU s | tokens/CPU s | load avg (1 min, after)');
const rows = [];
for (const p of [batched, 1]) {
  const r = await run(p);
  rows.push(r);
  console.log(`${String(r.parallel).padStart(8)} | ${r.wall.toFixed(2).padStart(6)} | ${String(r.tokens).padStart(10)} | ${r.tps.toFixed(1).padStart(8)} | ${r.rps.toFixed(1).padStart(5)} | ${r.p50.toFixed(1).padStart(11)} | ${r.p99.toFixed(1).padStart(11)} | ${r.failures} | ${r.cpu.toFixed(1)} | ${(r.tokens / r.cpu).toFixed(1)} | ${os.loadavg()[0].toFixed(2)}`);
}
console.log(`batching speed-up, parallel ${batched} / parallel 1: ${(rows[0].tps / rows[1].tps).toFixed(2)}x tokens/s, ${((rows[0].tokens / rows[0].cpu) / (rows[1].tokens / rows[1].cpu)).toFixed(2)}x tokens per CPU second`);
process.exitCode = rows.some((r) => r.failures > 0) ? 1 : 0;

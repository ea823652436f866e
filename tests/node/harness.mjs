// Test harness for `r1 serve`: builds a tiny random-weight model in a temp dir (r1 init-model,
// widened to the real R1-Distill-Qwen tokenizer's vocabulary, tokenizer files copied from
// $R1_SHARED at test time), starts the server on a free loopback port and parses its URL.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const r1Bin = process.env.R1_BIN ?? path.join(repoRoot, 'build', 'r1');
export const sharedDir = process.env.R1_SHARED ?? path.resolve(repoRoot, '..', 'shared');
export const tokenizerDir = path.join(sharedDir, 'tokenizers', 'r1_distill_qwen');
export const r1Template = path.join(sharedDir, 'tokenizers', 'templates', 'deepseek_r1_distill_qwen.jinja');

// R1-Distill-Qwen's config.json: vocab 151936, bos <｜begin▁of▁sentence｜>, eos <｜end▁of▁sentence｜>.
const kVocab = 151936;
const kBos = 151646;
const kEos = 151643;

// Deterministic N(0, 0.02)-ish values for the added embedding rows (xorshift32 + Irwin-Hall).
function fillRandom(f32, seed) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  for (let i = 0; i < f32.length; i++) f32[i] = (next() + next() + next() + next() - 2) * 0.035;
}

// Grows every [V, D] F32 tensor (embeddings, lm_head) of a safetensors file to [kVocab, D]: the
// old rows are kept, the new ones random. init-model's tiny presets have V = 256 while the real
// tokenizer emits ids up to 151664.
function widenVocab(modelDir) {
  const file = path.join(modelDir, 'model.safetensors');
  const buf = fs.readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  const oldV = cfg.vocab_size;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  names.sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  const parts = [];
  const out = {};
  if (header.__metadata__) out.__metadata__ = header.__metadata__;
  let offset = 0;
  for (const name of names) {
    const t = header[name];
    let data = buf.subarray(8 + hlen + t.data_offsets[0], 8 + hlen + t.data_offsets[1]);
    let shape = t.shape;
    if (t.dtype === 'F32' && shape.length === 2 && shape[0] === oldV) {
      const d = shape[1];
      const grown = new Float32Array(kVocab * d);
      fillRandom(grown, 1234 + parts.length);
      grown.set(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)));
      data = Buffer.from(grown.buffer);
      shape = [kVocab, d];
    }
    out[name] = { dtype: t.dtype, shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
    parts.push(data);
  }
  let hjson = JSON.stringify(out);
  while ((hjson.length + 8) % 8 !== 0) hjson += ' ';
  const hb = Buffer.from(hjson, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(hb.length));
  fs.writeFileSync(file, Buffer.concat([lenBuf, hb, ...parts]));
  cfg.vocab_size = kVocab;
  // RoPE works at any position; a longer context lets tests run generations that take seconds
  // (disconnects, shutdown) without the tiny preset's 256 positions ending them first.
  cfg.max_position_embeddings = 8192;
  cfg.bos_token_id = kBos;
  cfg.eos_token_id = kEos;
  fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify(cfg, null, 2));
  const gpath = path.join(modelDir, 'generation_config.json');
  const gen = fs.existsSync(gpath) ? JSON.parse(fs.readFileSync(gpath, 'utf8')) : {};
  gen.bos_token_id = kBos;
  gen.eos_token_id = kEos;
  fs.writeFileSync(gpath, JSON.stringify(gen, null, 2));
}

/// Why the suite cannot run here (a string), or null.
export function missingPrerequisite() {
  if (!fs.existsSync(r1Bin)) return `r1 binary not found at ${r1Bin} (set R1_BIN)`;
  if (!fs.existsSync(path.join(tokenizerDir, 'tokenizer.json'))) return `no tokenizer at ${tokenizerDir} (set R1_SHARED)`;
  return null;
}

/// A tiny qwen2 model directory with the real R1-Distill-Qwen tokenizer; removed at exit.
export function makeTinyModel() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r1-serve-test-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'qwen2-tiny');
  execFileSync(r1Bin, ['init-model', '--preset', 'qwen2-tiny', '--out', model, '--seed', '7', '--threads', '1'], { stdio: 'pipe' });
  widenVocab(model);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tokenizerDir, f), path.join(model, f));
  return model;
}

/// Starts `r1 serve MODEL --port 0 ...args` and resolves {url, proc, stderr(), stop()} once it
/// prints its URL. Rejects if it exits first or takes more than 60 s.
export function startServer(model, args = []) {
  const threads = args.includes('--threads') ? [] : ['--threads', '1'];
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const proc = spawn(r1Bin, ['serve', model, ...port, ...threads, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server did not start:\n${err}`)); }, 60000);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      const m = err.match(/listening on (http:\/\/[^\s]+)/);
      if (m && timer) {
        clearTimeout(timer);
        const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
        resolve({
          url: m[1],
          proc,
          exited,
          stderr: () => err,
          async stop() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${err}`)); });
  });
}

/// POSTs JSON (or a raw string) and returns {status, body (parsed when JSON), text, headers}.
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json, text, headers: res.headers };
}

/// Reads a Prometheus gauge/counter value from /metrics text.
export function metric(text, name) {
  const m = text.match(new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// `r1 serve` on a tiny DeepSeek-V3 model (MLA with q-LoRA, a dense and two MoE layers, the real
// 129k DeepSeek-V3 tokenizer): 8 concurrent greedy completions with --parallel 8 (decoded
// together through DeepseekV3::forward_batch) are byte-identical to the same requests sent one at
// a time to a --parallel 1 server. The model is made by `r1 pretrain --model-config` (random
// init, one optimizer step). R1_DS_BATCH_TIMING=1 instead builds the shape of llama.cpp's tiny
// deepseek2 (../shared/bench/gguf/make_deepseek2_tiny.py defaults: hidden 256, 4 layers, 16
// experts, top-4) and prints the median wall time of a burst of 8 concurrent requests on each
// server (after a warm-up burst); not a pass/fail criterion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingPrerequisite, startServer, r1Bin, sharedDir, post } from './harness.mjs';

const dsTokenizer = path.join(sharedDir, 'tokenizers', 'deepseek_v3');
const timing = Boolean(process.env.R1_DS_BATCH_TIMING);
const skip = missingPrerequisite() ||
  (!fs.existsSync(path.join(dsTokenizer, 'tokenizer.json')) ? `no ${dsTokenizer}/tokenizer.json (set R1_SHARED)` : false);
let model, batched, single;

const prompts = [
  'The quick brown fox', 'Once upon a time', 'In the beginning', 'def main():',
  '1 + 1 =', 'DeepSeek-V3 is', 'Hello, world', 'The capital of France is',
];

function makeModel() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r1-ds-batch-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = {
    model_type: 'deepseek_v3', vocab_size: 129280, hidden_size: 64, num_attention_heads: 4,
    num_key_value_heads: 4, num_hidden_layers: 3, first_k_dense_replace: 1, intermediate_size: 128,
    moe_intermediate_size: 32, moe_layer_freq: 1, n_routed_experts: 8, n_shared_experts: 1,
    num_experts_per_tok: 2, n_group: 2, topk_group: 1, routed_scaling_factor: 2.5,
    norm_topk_prob: true, scoring_func: 'sigmoid', topk_method: 'noaux_tc', q_lora_rank: 32,
    kv_lora_rank: 32, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16,
    rope_theta: 10000.0, rms_norm_eps: 1e-6, max_position_embeddings: 512, bos_token_id: 0,
    eos_token_id: 1, tie_word_embeddings: false, num_nextn_predict_layers: 0,
  };
  if (timing) {
    Object.assign(cfg, {
      hidden_size: 256, num_hidden_layers: 4, intermediate_size: 512, moe_intermediate_size: 128,
      n_routed_experts: 16, num_experts_per_tok: 4, n_group: 4, topk_group: 2, q_lora_rank: 96,
      kv_lora_rank: 64, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32,
    });
  }
  fs.writeFileSync(path.join(dir, 'ds.json'), JSON.stringify(cfg));
  fs.writeFileSync(path.join(dir, 'corpus.txt'), prompts.join('\n').repeat(20));
  execFileSync(r1Bin, ['pretrain', '--model-config', path.join(dir, 'ds.json'), '--tokenizer', dsTokenizer,
    '--data', path.join(dir, 'corpus.txt'), '--out', path.join(dir, 'train'), '--steps', '1', '--batch', '1',
    '--seq-len', '8', '--save-every', '1', '--val-every', '0', '-t', '1', '-q'], { stdio: 'pipe' });
  return path.join(dir, 'train', 'checkpoint-1');
}

const request = (prompt) => ({ model: 'ds', prompt, max_tokens: 24, temperature: 0, ignore_eos: true });

async function complete(server, prompt) {
  const r = await post(`${server.url}/v1/completions`, request(prompt));
  assert.equal(r.status, 200, r.text);
  return r.body.choices[0].text;
}

before(async () => {
  if (skip) return;
  model = makeModel();
  batched = await startServer(model, ['--parallel', '8', '--threads', '2', '--model-name', 'ds']);
  single = await startServer(model, ['--parallel', '1', '--threads', '2', '--model-name', 'ds']);
});

after(async () => {
  for (const s of [batched, single]) if (s) assert.equal((await s.stop()).code, 0, s.stderr());
});

test('8 concurrent greedy requests equal the same requests one at a time', { skip }, async () => {
  const together = await Promise.all(prompts.map((p) => complete(batched, p)));
  const alone = [];
  for (const p of prompts) alone.push(await complete(single, p));
  if (timing) {
    const burst = async (server) => {
      const t0 = Date.now();
      await Promise.all(prompts.map((p) => complete(server, p)));
      return Date.now() - t0;
    };
    const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const t8 = [], t1 = [];
    for (let i = 0; i < 5; ++i) {  // alternating, so both see the same machine load
      t8.push(await burst(batched));
      t1.push(await burst(single));
    }
    console.log(`deepseek burst of 8 x 24 tokens: --parallel 8 median ${median(t8)} ms [${t8}], --parallel 1 median ${median(t1)} ms [${t1}]`);
  }
  for (let i = 0; i < prompts.length; ++i) {
    assert.ok(alone[i].length > 0, `empty completion for ${prompts[i]}`);
    assert.equal(together[i], alone[i], `request ${i} (${prompts[i]}) differs when batched`);
  }
});

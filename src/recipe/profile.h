// The sizes and step counts of `r1 zero`'s pipeline (profiles) and the model configs they imply.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace r1::recipe {

// The vocabulary: EOS + 256 bytes, i.e. a byte-level BPE with no merges. Measured: with
// ~125 merges the BPE merges digit runs ("34", "589"), and a 0.5M-parameter model must then split
// tokens into digits to work column by column; its base reached ~1% accuracy and GRPO had nothing
// to reinforce. One token per character (the prototype's recipe) makes each column a lookup.
// <think> and </think> are plain text (7 and 8 byte tokens), not special tokens: pretraining,
// GRPO sampling, SFT/distillation and evaluation then all see the same ids for a trace. (With the
// tags as specials, `r1 sft` parsed them to their special ids while pretraining and sampling wrote
// bytes: a distilled student started from a loss of 5.6 nats instead of ~0.5.)
inline constexpr int kByteVocab = 1 + 256;

// The tokenizer's one special token: EOS (id 0). No BOS: `r1 pretrain` packs documents with EOS
// between them and no BOS, so a prompt needs none either.
inline constexpr const char* kEos = "<|eos|>";

// Profiles: every size and step count of the pipeline. --quick only proves that each stage runs
// and writes its outputs; the default is sized for 2 CPU cores after ../shared/R1ZERO-TOY.md
// (0.2M-parameter models, batch 16 x 64 tokens, lr 3e-3; GRPO 16 prompts x G=8, lr 1e-4, no KL).
struct Profile {
  std::string name;
  int64_t corpus_docs;
  int vocab;
  // Base (DeepSeek-V3 architecture).
  int base_hidden, base_layers, base_dense_layers, base_inter, base_moe_inter, base_experts,
      base_shared, base_topk, base_kv_lora, base_rope;
  double base_mtp_weight;  // MTP loss weight while pretraining the base
  int64_t base_steps;
  // Student (Qwen2 architecture, smaller and dense).
  int st_hidden, st_layers, st_inter, st_heads, st_kv_heads;
  int64_t st_steps;
  int64_t pt_batch, pt_seq;
  double pt_lr, pt_min_lr;
  int64_t pt_warmup;
  // GRPO.
  int64_t grpo_steps, grpo_prompts, grpo_g, grpo_max_len;
  double grpo_time_budget;
  // Distillation.
  int64_t distill_prompts, distill_k, distill_steps;
  // Evaluation.
  int64_t eval_n, eval_k, eval_max_tokens;
  // Task difficulty of every stage (corpus, GRPO, distillation, evaluation).
  int level;
};

/// The CI profile: every stage runs and writes its outputs (under 3 minutes on 2 cores).
Profile quick_profile();
/// The demo profile, sized for 2 CPU cores after ../shared/R1ZERO-TOY.md.
Profile default_profile();

/// HF config.json of the base: DeepSeek-V3 architecture (MLA, shared + routed experts,
/// aux-loss-free sigmoid routing, one MTP layer) at the profile's sizes; 4 heads.
nlohmann::ordered_json base_config(const Profile& p);
/// HF config.json of the student: a small dense Qwen2 at the profile's sizes, tied embeddings.
nlohmann::ordered_json student_config(const Profile& p);

}  // namespace r1::recipe

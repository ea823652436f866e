// The recipe's stage table and profiles as data: checked against the r1 binary's own command
// table (src/cli/main.cpp, read as text, so a renamed or removed subcommand fails here rather than
// as a skipped stage at the end of a long `make demo`).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "recipe/pipeline.h"
#include "recipe/profile.h"
#include "recipe/zero.h"

namespace r1::recipe {
namespace {

std::set<std::string> cli_commands() {
  std::ifstream f(std::string(R1_SOURCE_DIR) + "/src/cli/main.cpp");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::set<std::string> names;
  const std::regex entry(R"re(\{"([a-z0-9-]+)", r1::cli::cmd_)re");
  for (std::sregex_iterator it(text.begin(), text.end(), entry), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

TEST(ZeroStages, IdsUniqueCommandsRealNeedsProducedEarlier) {
  const auto commands = cli_commands();
  ASSERT_TRUE(commands.count("pretrain") && commands.count("zero")) << "command table not found in main.cpp";
  Pipeline pl("/nonexistent", quick_profile(), 1, 1);
  ZeroRun run{pl, "/nonexistent", "/nonexistent/models", "tok.json", "corpus.jsonl", "1"};
  const auto stages = zero_stages(run);
  ASSERT_EQ(stages.size(), 8 + 2 * model_rows().size());
  std::set<std::string> seen;
  for (const auto& s : stages) {
    EXPECT_TRUE(seen.insert(s.id).second) << "duplicate stage id " << s.id;
    EXPECT_TRUE(commands.count(s.command)) << s.id << ": `r1 " << s.command << "` is not a subcommand";
    EXPECT_FALSE(s.title.empty()) << s.id;
    EXPECT_TRUE(s.body) << s.id;
    // A model a stage reads is the one an earlier stage of the same name exported.
    for (const auto& m : s.needs) EXPECT_TRUE(seen.count(m)) << s.id << " needs " << m << " before it is made";
  }
  // Every model of the final table is trained, evaluated and exported by some stage.
  for (const auto& row : model_rows()) {
    EXPECT_TRUE(seen.count(row.name)) << row.name;
    EXPECT_TRUE(seen.count("eval-" + row.name)) << row.name;
    EXPECT_TRUE(seen.count("gguf-" + row.name)) << row.name;
  }
}

TEST(ZeroProfiles, SizesPositiveAndQuickSmaller) {
  const Profile q = quick_profile(), d = default_profile();
  EXPECT_NE(q.name, d.name);
  for (const Profile& p : {q, d}) {
    for (int64_t v : {p.corpus_docs, p.base_steps, p.st_steps, p.pt_batch, p.pt_seq, p.grpo_steps, p.grpo_prompts,
                      p.grpo_g, p.grpo_max_len, p.distill_prompts, p.distill_k, p.distill_steps, p.eval_n, p.eval_k,
                      p.eval_max_tokens})
      EXPECT_GT(v, 0) << p.name;
    EXPECT_GT(p.grpo_time_budget, 0) << p.name;
    EXPECT_EQ(p.vocab, kByteVocab) << p.name;
    // The heads must divide the hidden size (base_config uses 4 heads).
    EXPECT_EQ(p.base_hidden % 4, 0) << p.name;
    EXPECT_EQ(p.st_hidden % p.st_heads, 0) << p.name;
    EXPECT_EQ(p.st_heads % p.st_kv_heads, 0) << p.name;
  }
  EXPECT_LT(q.base_steps, d.base_steps);
  EXPECT_LT(q.grpo_steps, d.grpo_steps);
  EXPECT_LT(q.eval_n, d.eval_n);
}

TEST(ZeroPipeline, FormatDuration) {
  EXPECT_EQ(format_duration(-5), "0s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(123), "2m03s");
  EXPECT_EQ(format_duration(3723), "1h02m03s");
}

}  // namespace
}  // namespace r1::recipe

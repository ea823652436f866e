// tokenizer.json fields of the wrong type or out of range are one error naming the file and
// field, never an exception or a multi-gigabyte allocation (found by hf_tokenizer_fuzz review).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json base_tokenizer_json() {
  BpeTrainerOptions opts;
  opts.vocab_size = 300;
  opts.special_tokens = {"<|im_end|>"};
  auto t = train_bpe({"hello hello world 123", "hello there"}, opts);
  EXPECT_TRUE(t.ok()) << t.message();
  return json::parse(t->tokenizer_json);
}

// Loads `j` as DIR/tokenizer.json; returns the error message ("" when it loaded).
std::string load_error(const json& j) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("r1-hfjson-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto t = Tokenizer::from_tokenizer_json((dir / "tokenizer.json").string());
  fs::remove_all(dir);
  return t.ok() ? std::string() : t.message();
}

TEST(HfJson, BaseLoads) { EXPECT_EQ(load_error(base_tokenizer_json()), ""); }

TEST(HfJson, WrongTypedFieldsAreErrorsNamingTheField) {
  struct Case {
    const char* pointer;
    json value;
    const char* expect;
  };
  const Case cases[] = {
      {"/added_tokens/0/special", 1, "added_tokens[0].special: expected a boolean"},
      {"/added_tokens/0/lstrip", "yes", "added_tokens[0].lstrip: expected a boolean"},
      {"/pre_tokenizer/add_prefix_space", "no", "pre_tokenizer.add_prefix_space: expected a boolean"},
      {"/pre_tokenizer/use_regex", 0, "pre_tokenizer.use_regex: expected a boolean"},
      {"/pre_tokenizer", 5, "pre_tokenizer: expected an object"},
      {"/normalizer", json::array({1}), "normalizer: expected an object"},
      {"/normalizer", json{{"type", 3}}, "normalizer.type: expected a string"},
      {"/model/type", 3, "model.type: expected a string"},
  };
  for (const auto& c : cases) {
    json j = base_tokenizer_json();
    j[json::json_pointer(c.pointer)] = c.value;
    const std::string err = load_error(j);
    EXPECT_NE(err.find("tokenizer.json"), std::string::npos) << c.pointer << ": " << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.pointer << ": " << err;
  }
  json j = base_tokenizer_json();
  j["decoder"] = {{"type", 7}};  // a decoder we do not read is no reason to fail
  EXPECT_EQ(load_error(j), "");
}

TEST(HfJson, SparseIdIsRefusedBeforeAllocating) {
  json j = base_tokenizer_json();
  j["added_tokens"].push_back({{"id", 1 << 30}, {"content", "<far>"}, {"special", true}});
  EXPECT_NE(load_error(j).find("token id 1073741824 is far above"), std::string::npos) << load_error(j);
  j = base_tokenizer_json();
  j["model"]["vocab"]["far"] = 100000;
  EXPECT_NE(load_error(j).find("ids must be dense"), std::string::npos) << load_error(j);
  j = base_tokenizer_json();
  j["added_tokens"].push_back({{"id", 400}, {"content", "<near>"}});  // a few holes are fine
  EXPECT_EQ(load_error(j), "");
}

}  // namespace
}  // namespace r1::tok

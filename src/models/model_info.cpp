#include "models/model_info.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "io/io_util.h"
#include "models/decoder_config.h"

namespace r1::models {
namespace fs = std::filesystem;

bool looks_like_r1(std::string_view name, std::string_view chat_template) {
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != 'r' || name[i + 1] != '1') continue;
    const bool left_ok = i == 0 || !std::isalnum(static_cast<unsigned char>(name[i - 1]));
    const bool right_ok =
        i + 2 >= name.size() || !std::isalnum(static_cast<unsigned char>(name[i + 2]));
    if (left_ok && right_ok) return true;
  }
  return chat_template.find("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>") != std::string_view::npos &&
         chat_template.find("<think>") != std::string_view::npos;
}

Result<ModelInfo> hf_model_info(const io::HfModelDir& dir, const std::string& arch) {
  ModelInfo info;
  info.arch = arch;
  info.path = dir.dir();
  fs::path p(dir.dir());
  info.name = p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
  const std::string label = dir.dir() + "/config.json";
  R1_ASSIGN_OR_RETURN(eos, parse_token_id_list(dir.config(), label, "eos_token_id"));
  R1_ASSIGN_OR_RETURN(gen_eos, parse_token_id_list(dir.generation_config(),
                                                   dir.dir() + "/generation_config.json",
                                                   "eos_token_id"));
  for (int32_t id : gen_eos)
    if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  info.eos_token_ids = eos;
  R1_ASSIGN_OR_RETURN(bos, parse_token_id_list(dir.config(), label, "bos_token_id"));
  if (bos.empty()) {
    R1_ASSIGN_OR_RETURN(gb, parse_token_id_list(dir.generation_config(),
                                                dir.dir() + "/generation_config.json",
                                                "bos_token_id"));
    bos = gb;
  }
  if (!bos.empty()) info.bos_token_id = bos[0];

  std::string name_or_path;
  auto it = dir.config().find("_name_or_path");
  if (it != dir.config().end() && it->is_string()) name_or_path = it->get<std::string>();
  std::string chat_template;
  const std::string tc_path = dir.dir() + "/tokenizer_config.json";
  std::error_code ec;
  if (fs::exists(tc_path, ec)) {
    auto tc = io::read_json_file(tc_path);
    if (tc.ok() && tc->is_object()) {
      auto ct = tc->find("chat_template");
      if (ct != tc->end() && ct->is_string()) chat_template = ct->get<std::string>();
    }
  }
  info.is_r1 = looks_like_r1(info.name, chat_template) || looks_like_r1(name_or_path, "");
  return info;
}

Result<ModelInfo> gguf_model_info(const io::GgufFile& file, const std::string& arch) {
  ModelInfo info;
  info.arch = arch;
  info.path = file.path();
  const std::string stem = fs::path(file.path()).stem().string();
  info.name = stem;
  std::string general_name;
  if (const auto* v = file.get("general.name"); v && v->type() == io::GgufType::String)
    general_name = v->as_string();
  if (!general_name.empty()) info.name = general_name;
  if (file.has("tokenizer.ggml.eos_token_id")) {
    R1_ASSIGN_OR_RETURN(eos, file.get_i64("tokenizer.ggml.eos_token_id"));
    info.eos_token_ids.push_back(int32_t(eos));
  }
  if (file.has("tokenizer.ggml.bos_token_id")) {
    R1_ASSIGN_OR_RETURN(bos, file.get_i64("tokenizer.ggml.bos_token_id"));
    info.bos_token_id = int32_t(bos);
  }
  std::string chat_template;
  if (const auto* v = file.get("tokenizer.chat_template"); v && v->type() == io::GgufType::String)
    chat_template = v->as_string();
  info.is_r1 = looks_like_r1(stem, chat_template) || looks_like_r1(general_name, "");
  return info;
}

}  // namespace r1::models

// `r1 inspect PATH`: what a checkpoint holds -- metadata keys (arrays summarised by element type
// and length) and every tensor (name, dtype, shape in PyTorch order, byte offset in the data
// section) of a GGUF file, a safetensors file or a Hugging Face model directory.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "io/gguf.h"
#include "io/hf_model.h"
#include "io/safetensors.h"

namespace r1::cli {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A JSON value in one short line: arrays and objects summarised, long strings cut.
std::string json_summary(const nlohmann::json& v) {
  if (v.is_array()) {
    bool small = v.size() <= 8;
    for (const auto& x : v) small = small && x.is_primitive();
    return small ? v.dump() : fmt::format("[array x {}]", v.size());
  }
  if (v.is_object()) return v.size() <= 4 ? v.dump() : fmt::format("{{object, {} keys}}", v.size());
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

void print_safetensors_tensors(const io::SafetensorsFile& f, bool show_file) {
  for (const auto& e : f.entries()) {
    std::printf("  %-48s %-8s %-20s offset %llu%s%s\n", e.name.c_str(), e.dtype_name.c_str(),
                shape_text(e.shape).c_str(), static_cast<unsigned long long>(e.begin),
                show_file ? "  " : "",
                show_file ? std::filesystem::path(f.path()).filename().c_str() : "");
  }
}

int inspect_gguf(const std::string& path) {
  auto f = io::GgufFile::open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "r1 inspect: %s\n", f.message().c_str());
    return 1;
  }
  std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %llu, data at byte %llu\n",
              path.c_str(), f->version(), f->keys().size(), f->tensor_infos().size(),
              static_cast<unsigned long long>(f->alignment()),
              static_cast<unsigned long long>(f->data_offset()));
  std::printf("metadata:\n");
  for (const auto& k : f->keys()) {
    const io::GgufValue* v = f->get(k);
    std::printf("  %-48s %-7s %s\n", k.c_str(),
                v->is_array() ? "array" : io::gguf_type_name(v->type()).c_str(), v->summary().c_str());
  }
  std::printf("tensors:\n");
  uint64_t total = 0;
  for (const auto& t : f->tensor_infos()) {
    std::printf("  %-48s %-8s %-20s offset %llu\n", t.name.c_str(), t.type_name(),
                shape_text(t.shape()).c_str(), static_cast<unsigned long long>(t.offset));
    total += t.nbytes;
  }
  std::printf("total tensor bytes: %llu\n", static_cast<unsigned long long>(total));
  return 0;
}

int inspect_safetensors(const std::string& path) {
  auto f = io::SafetensorsFile::open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "r1 inspect: %s\n", f.message().c_str());
    return 1;
  }
  std::printf("%s: safetensors, %zu metadata keys, %zu tensors, data at byte %llu\n", path.c_str(),
              f->metadata().size(), f->entries().size(),
              static_cast<unsigned long long>(f->data_offset()));
  std::printf("metadata:\n");
  for (const auto& [k, v] : f->metadata().items())
    std::printf("  %-48s %s\n", k.c_str(), json_summary(v).c_str());
  std::printf("tensors:\n");
  print_safetensors_tensors(*f, false);
  return 0;
}

int inspect_hf_dir(const std::string& dir) {
  auto m = io::HfModelDir::open(dir);
  if (!m.ok()) {
    std::fprintf(stderr, "r1 inspect: %s\n", m.message().c_str());
    return 1;
  }
  std::printf("%s: Hugging Face model directory, %zu weight file(s), %zu tensors\n", dir.c_str(),
              m->files().size(), m->names().size());
  std::printf("config.json:\n");
  for (const auto& [k, v] : m->config().items())
    std::printf("  %-48s %s\n", k.c_str(), json_summary(v).c_str());
  if (m->has_generation_config()) {
    std::printf("generation_config.json:\n");
    for (const auto& [k, v] : m->generation_config().items())
      std::printf("  %-48s %s\n", k.c_str(), json_summary(v).c_str());
  }
  for (const auto& f : m->files()) {
    if (f.metadata().empty()) continue;
    std::printf("%s __metadata__:\n", std::filesystem::path(f.path()).filename().c_str());
    for (const auto& [k, v] : f.metadata().items())
      std::printf("  %-48s %s\n", k.c_str(), json_summary(v).c_str());
  }
  std::printf("tensors:\n");
  for (const auto& f : m->files()) print_safetensors_tensors(f, m->files().size() > 1);
  return 0;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  CLI::App app{"List the metadata and tensors of a GGUF file, a safetensors file or a Hugging "
               "Face model directory (config.json + model*.safetensors).",
               "r1 inspect"};
  std::string path;
  app.add_option("path", path, "a .gguf file, a .safetensors file or a model directory")->required();
  int threads = 0;
  add_threads_option_single(app, threads, "listing");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return inspect_hf_dir(path);
  if (!std::filesystem::exists(path, ec)) {
    std::fprintf(stderr, "r1 inspect: %s: no such file or directory\n", path.c_str());
    return 1;
  }
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  const bool gguf_name = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (gguf_name || std::memcmp(magic, "GGUF", 4) == 0) return inspect_gguf(path);
  return inspect_safetensors(path);
}

}  // namespace r1::cli

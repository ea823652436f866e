// Where a model's weights come from: an HF directory (safetensors shards), a GGUF file or
// in-memory tensors (a trainer's parameters), behind one small interface so every architecture
// loads from all three. Tensors are views (memory-mapped, or sharing the caller's storage).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"
#include "io/gguf.h"
#include "io/hf_model.h"

namespace r1::models {

/// Naming convention of the tensors: Hugging Face ("model.layers.0.self_attn.q_proj.weight") or
/// llama.cpp GGUF ("blk.0.attn_q.weight").
enum class NameStyle { HF, Gguf };

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  /// File or directory, for error messages.
  virtual const std::string& label() const = 0;
  virtual NameStyle style() const = 0;
  virtual bool has(const std::string& name) const = 0;
  /// A view of `name` in PyTorch order. Errors name the tensor and the file.
  virtual Result<Tensor> get(const std::string& name) const = 0;
  /// For F8_E4M3 weights: their F32 block scales (HF `NAME_scale_inv`). Default: an error.
  virtual Result<Tensor> scale_inv(const std::string& weight_name) const;

  /// get(name) checked against `shape`: "LABEL: tensor NAME has shape [..], the config needs [..]".
  Result<Tensor> get(const std::string& name, const std::vector<int64_t>& shape) const;
  /// Like get(name, shape) but an absent tensor gives an undefined Tensor (optional biases).
  Result<Tensor> get_optional(const std::string& name, const std::vector<int64_t>& shape) const;
};

class HfTensorSource : public TensorSource {
 public:
  explicit HfTensorSource(const io::HfModelDir* dir) : dir_(dir), label_(dir->dir()) {}
  const std::string& label() const override { return label_; }
  NameStyle style() const override { return NameStyle::HF; }
  bool has(const std::string& name) const override { return dir_->has(name); }
  Result<Tensor> get(const std::string& name) const override { return dir_->tensor(name); }
  Result<Tensor> scale_inv(const std::string& weight_name) const override {
    return dir_->weight_scale_inv(weight_name);
  }
  using TensorSource::get;

 private:
  const io::HfModelDir* dir_;
  std::string label_;
};

/// Sees every tensor GgufTensorSource (and deepseek_v3's Deepseek2GgufSource) hands to a model loader (GGUF name, view), so that a tool
/// can recognise a weight by its data later (r1 imatrix maps matmul weights back to names).
/// Process-wide, unsynchronised: install before loading, remove (null) after.
using GgufLoadObserver = std::function<void(const std::string& name, const Tensor& t)>;
void set_gguf_load_observer(GgufLoadObserver f);
/// Tells the observer, if any, that the GGUF tensor `name` (the file's view t) is being loaded;
/// a name may be reported more than once (one per expert slice of a 3-D tensor).
void notify_gguf_load(const std::string& name, const Tensor& t);

class GgufTensorSource : public TensorSource {
 public:
  explicit GgufTensorSource(const io::GgufFile* file) : file_(file), label_(file->path()) {}
  const std::string& label() const override { return label_; }
  NameStyle style() const override { return NameStyle::Gguf; }
  bool has(const std::string& name) const override { return file_->has_tensor(name); }
  Result<Tensor> get(const std::string& name) const override;
  using TensorSource::get;

 private:
  const io::GgufFile* file_;
  std::string label_;
};

/// Named tensors held in memory (HF names), e.g. a trainer's F32 master parameters: get() returns
/// views sharing their storage, so a model built over this source sees later in-place updates.
/// The tensors must outlive every model built over them.
class MemoryTensorSource : public TensorSource {
 public:
  explicit MemoryTensorSource(std::string label) : label_(std::move(label)) {}
  /// Adds (or replaces) `name`; the source keeps a view, not a copy.
  void add(const std::string& name, const Tensor& t) { by_name_[name] = t; }
  const std::string& label() const override { return label_; }
  NameStyle style() const override { return NameStyle::HF; }
  bool has(const std::string& name) const override { return by_name_.count(name) != 0; }
  Result<Tensor> get(const std::string& name) const override;
  using TensorSource::get;

 private:
  std::string label_;
  std::map<std::string, Tensor> by_name_;
};

/// "[a, b]" for error messages.
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace r1::models

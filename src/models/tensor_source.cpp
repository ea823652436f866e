#include "models/tensor_source.h"

namespace r1::models {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<Tensor> TensorSource::scale_inv(const std::string& weight_name) const {
  return make_error("{}: tensor {}: FP8 weights are not supported in this format", label(),
                    weight_name);
}

Result<Tensor> MemoryTensorSource::get(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return make_error("{}: tensor {} not found", label_, name);
  return it->second;
}

Result<Tensor> TensorSource::get(const std::string& name, const std::vector<int64_t>& shape) const {
  if (!has(name)) return make_error("{}: tensor {} missing", label(), name);
  R1_ASSIGN_OR_RETURN(t, get(name));
  bool same = t.ndim() == int(shape.size());
  for (int i = 0; same && i < t.ndim(); ++i) same = t.dim(i) == shape[size_t(i)];
  if (!same) {
    std::vector<int64_t> got(t.shape().begin(), t.shape().begin() + t.ndim());
    return make_error("{}: tensor {} has shape {}, the config needs {}", label(), name,
                      shape_string(got), shape_string(shape));
  }
  return t;
}

Result<Tensor> TensorSource::get_optional(const std::string& name,
                                          const std::vector<int64_t>& shape) const {
  if (!has(name)) return Tensor{};
  return get(name, shape);
}

namespace {
GgufLoadObserver& gguf_load_observer() {
  static GgufLoadObserver f;
  return f;
}
}  // namespace

void set_gguf_load_observer(GgufLoadObserver f) { gguf_load_observer() = std::move(f); }

void notify_gguf_load(const std::string& name, const Tensor& t) {
  if (gguf_load_observer()) gguf_load_observer()(name, t);
}

Result<Tensor> GgufTensorSource::get(const std::string& name) const {
  auto t = file_->tensor(name);
  if (t.ok()) notify_gguf_load(name, *t);
  return t;
}

}  // namespace r1::models

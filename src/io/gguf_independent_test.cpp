// GGUF against an independent implementation: ../shared/bench/gguf/gguf_writer.py and
// gguf_reader.py (numpy, written from the GGUF spec without our code). Run at test time with
// /usr/bin/python3 into a temporary directory; skipped (with the reason) when ../shared, the
// scripts, python3 or numpy are absent.
//  - Python writes every metadata value type, arrays of each, a nested array (encoded by hand
//    from the spec), general.alignment 64 and F32/F16/Q8_0/Q4_0 tensors; our reader must return
//    the same values, also from the same bytes labelled GGUF v2.
//  - Python reads stories260K.gguf and a file of our writer; its keys, values, tensor shapes and
//    decoded tensors must equal ours exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace r1::io {
namespace {

using nlohmann::json;

// Skips (tagged) unless the Python side can run: ../shared's GGUF writer/reader and numpy.
#define SKIP_UNLESS_PYTHON()                              \
  do {                                                    \
    R1_SKIP_UNLESS_SHARED("bench/gguf/gguf_writer.py");   \
    R1_SKIP_UNLESS_SHARED("bench/gguf/gguf_reader.py");   \
    R1_SKIP_UNLESS_NUMPY();                               \
  } while (0)

// Writes `script` to DIR/name.py and runs it with args; returns the exit status.
int run_python(const test::TempDir& tmp, const std::string& name, const std::string& script,
               const std::string& args) {
  std::ofstream(tmp.file(name + ".py")) << script;
  const std::string cmd = "/usr/bin/python3 " + tmp.file(name + ".py") + " " +
                          test::shared_path("bench/gguf") + " " + args + " 2>" +
                          tmp.file(name + ".err");
  return std::system(cmd.c_str());
}
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Python: read argv[2] with gguf_reader; dump metadata (kind + value) and tensor shapes as JSON to
// argv[3], each tensor decoded to float32 as argv[4]/<index>.f32 in file order.
constexpr const char* kDumpScript = R"PY(
import sys, json
sys.path.insert(0, sys.argv[1])
import numpy as np, gguf_reader as gr
r = gr.GGUFReader(sys.argv[2])
def conv(v):
    if isinstance(v, bool): return {"kind": "bool", "value": v}
    if isinstance(v, int): return {"kind": "int", "value": v}
    if isinstance(v, float): return {"kind": "float", "value": v}
    if isinstance(v, str): return {"kind": "str", "value": v}
    if isinstance(v, list): return {"kind": "strs", "value": v}
    if v.dtype.kind == "f": return {"kind": "floats", "value": [float(x) for x in v]}
    return {"kind": "ints", "value": [int(x) for x in v]}
out = {"keys": list(r.kv), "kv": {k: conv(v) for k, v in r.kv.items()}, "tensors": []}
for i, (name, (shape, gt, off)) in enumerate(r.infos.items()):
    out["tensors"].append({"name": name, "shape": list(shape), "type": gt, "offset": off})
    r.tensor(name).astype("<f4").tofile(f"{sys.argv[4]}/{i}.f32")
json.dump(out, open(sys.argv[3], "w"))
)PY";

// Our reading of `path` must equal the Python dump exactly: same keys in the same order, same
// values, same tensor names/shapes/types/offsets, same decoded floats.
void expect_same_as_python(const GgufFile& f, const test::TempDir& tmp, const std::string& tag) {
  ASSERT_EQ(run_python(tmp, "dump_" + tag, kDumpScript,
                       f.path() + " " + tmp.file(tag + ".json") + " " + tmp.path()),
            0)
      << slurp(tmp.file("dump_" + tag + ".err"));
  const json d = json::parse(slurp(tmp.file(tag + ".json")));
  ASSERT_EQ(d["keys"].size(), f.keys().size());
  for (size_t i = 0; i < f.keys().size(); ++i) EXPECT_EQ(d["keys"][i], f.keys()[i]) << i;
  for (const auto& [key, kv] : d["kv"].items()) {
    SCOPED_TRACE(tag + " key " + key);
    const GgufValue* v = f.get(key);
    ASSERT_TRUE(v);
    const std::string kind = kv["kind"];
    const json& want = kv["value"];
    if (kind == "bool") {
      ASSERT_EQ(v->type(), GgufType::Bool);
      EXPECT_EQ(v->as_bool(), want.get<bool>());
    } else if (kind == "int") {
      ASSERT_TRUE(v->is_integer());
      if (want.is_number_unsigned()) EXPECT_EQ(v->as_u64(), want.get<uint64_t>());
      else EXPECT_EQ(v->as_i64(), want.get<int64_t>());
    } else if (kind == "float") {
      ASSERT_TRUE(v->is_float());
      EXPECT_EQ(v->as_f64(), want.get<double>());
    } else if (kind == "str") {
      ASSERT_EQ(v->type(), GgufType::String);
      EXPECT_EQ(v->as_string(), want.get<std::string>());
    } else {
      ASSERT_TRUE(v->is_array());
      ASSERT_EQ(v->size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        if (kind == "strs") ASSERT_EQ(v->strings()[i], want[i].get<std::string>()) << i;
        else if (kind == "floats") ASSERT_EQ(v->float_at(i), want[i].get<double>()) << i;
        else if (want[i].is_number_unsigned()) ASSERT_EQ(v->uint_at(i), want[i].get<uint64_t>()) << i;
        else ASSERT_EQ(v->int_at(i), want[i].get<int64_t>()) << i;
      }
    }
  }
  ASSERT_EQ(d["tensors"].size(), f.tensor_infos().size());
  for (size_t i = 0; i < f.tensor_infos().size(); ++i) {
    const GgufTensorInfo& info = f.tensor_infos()[i];
    const json& t = d["tensors"][i];
    SCOPED_TRACE(tag + " tensor " + info.name);
    EXPECT_EQ(t["name"], info.name);
    EXPECT_EQ(t["shape"].get<std::vector<int64_t>>(), info.shape());
    EXPECT_EQ(t["type"].get<uint32_t>(), info.ggml_type);
    EXPECT_EQ(t["offset"].get<uint64_t>(), info.offset);
    auto tr = f.tensor(info.name);
    ASSERT_TRUE(tr.ok()) << tr.message();
    const Tensor x = tr->to_f32();
    const std::string want = slurp(tmp.file(std::to_string(i) + ".f32"));
    ASSERT_EQ(want.size(), x.nbytes());
    const float* w = reinterpret_cast<const float*>(want.data());
    int64_t diffs = 0;
    for (int64_t j = 0; j < x.numel(); ++j) diffs += std::memcmp(&w[j], &x.data<float>()[j], 4) != 0;
    EXPECT_EQ(diffs, 0) << "decoded values differ from gguf_reader.py";
  }
}

// Python writes every metadata type and F32/F16/Q8_0/Q4_0 tensors from argv[2] ([R, C] f32).
constexpr const char* kWriteScript = R"PY(
import sys, struct
sys.path.insert(0, sys.argv[1])
import numpy as np, gguf_writer as g
R, C = int(sys.argv[4]), int(sys.argv[5])
x = np.fromfile(sys.argv[2], dtype="<f4").reshape(R, C)
w = g.GGUFWriter(sys.argv[3], alignment=64)
w.add("t.u8", g.UINT8, 200); w.add("t.i8", g.INT8, -100)
w.add("t.u16", g.UINT16, 60000); w.add("t.i16", g.INT16, -30000)
w.add("t.u32", g.UINT32, 4000000000); w.add("t.i32", g.INT32, -2000000000)
w.add("t.u64", g.UINT64, 18000000000000000000); w.add("t.i64", g.INT64, -9000000000000000000)
w.add("t.f32", g.FLOAT32, 1.5); w.add("t.f64", g.FLOAT64, -2.25e300)
w.add("t.bool", g.BOOL, True); w.add("t.false", g.BOOL, False)
w.add("t.str", g.STRING, "h\u00e9llo\nworld")
w.add_array("t.strs", g.STRING, ["a", "", "ccc"])
w.add_array("t.u8s", g.UINT8, [1, 2, 255]); w.add_array("t.i8s", g.INT8, [-128, 127])
w.add_array("t.u16s", g.UINT16, [65535]); w.add_array("t.i16s", g.INT16, [-32768, 5])
w.add_array("t.u32s", g.UINT32, [4294967295, 0]); w.add_array("t.i32s", g.INT32, [-1, 0, 7])
w.add_array("t.u64s", g.UINT64, [2**64 - 1]); w.add_array("t.i64s", g.INT64, [-2**63, 2**40])
w.add_array("t.f32s", g.FLOAT32, [0.5, -1.0, 3.0e-20]); w.add_array("t.f64s", g.FLOAT64, [1e-300, 2.0])
w.add_array("t.bools", g.BOOL, [True, False, True]); w.add_array("t.empty", g.STRING, [])
# An array of arrays, encoded here from the spec: [[7, 8] as u32, ["z"]].
w.kv.append(("t.nested", struct.pack("<IIQ", 9, 9, 2) + struct.pack("<IQII", 4, 2, 7, 8)
             + struct.pack("<IQ", 8, 1) + g._gstr("z")))
for n, t in (("f32", g.GGML_F32), ("f16", g.GGML_F16), ("q8", g.GGML_Q8_0), ("q4", g.GGML_Q4_0)):
    w.add_tensor(n, x.shape, t, lambda: x)
w.add_tensor("vec", (C,), g.GGML_F32, lambda: x[0])
w.write()
)PY";

std::vector<float> test_floats(int rows, int cols) {
  std::vector<float> x(size_t(rows * cols));
  uint32_t s = 7;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = (float((s >> 8) & 0xffff) / 65535.0f - 0.5f) * 6.0f;
  }
  for (int j = 64; j < 96; ++j) x[size_t(cols + j)] = 0;  // an all-zero block
  return x;
}

TEST(GgufIndependent, PythonWriterEveryValueTypeV3AndV2) {
  SKIP_UNLESS_PYTHON();
  test::TempDir tmp;
  const int rows = 3, cols = 160;
  const auto x = test_floats(rows, cols);
  std::ofstream(tmp.file("x.f32"), std::ios::binary)
      .write(reinterpret_cast<const char*>(x.data()), std::streamsize(x.size() * 4));
  ASSERT_EQ(run_python(tmp, "write", kWriteScript,
                       tmp.file("x.f32") + " " + tmp.file("py.gguf") + " " + std::to_string(rows) +
                           " " + std::to_string(cols)),
            0)
      << slurp(tmp.file("write.err"));
  // The same bytes labelled version 2 (v2 and v3 share the little-endian layout).
  std::string v2 = slurp(tmp.file("py.gguf"));
  ASSERT_EQ(v2.substr(0, 4), "GGUF");
  const uint32_t two = 2;
  std::memcpy(v2.data() + 4, &two, 4);
  std::ofstream(tmp.file("py_v2.gguf"), std::ios::binary) << v2;

  for (const char* name : {"py.gguf", "py_v2.gguf"}) {
    SCOPED_TRACE(name);
    auto f = GgufFile::open(tmp.file(name));
    ASSERT_TRUE(f.ok()) << f.message();
    EXPECT_EQ(f->version(), std::string(name) == "py.gguf" ? 3u : 2u);
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->data_offset() % 64, 0u);
    EXPECT_EQ(f->keys().size(), 28u);  // 13 scalars, 13 arrays, nested, general.alignment
    EXPECT_EQ(f->get("t.u8")->as_u64(), 200u);
    EXPECT_EQ(f->get("t.i8")->as_i64(), -100);
    EXPECT_EQ(f->get("t.u16")->as_u64(), 60000u);
    EXPECT_EQ(f->get("t.i16")->as_i64(), -30000);
    EXPECT_EQ(f->get_u32("t.u32").value(), 4000000000u);
    EXPECT_EQ(f->get_i64("t.i32").value(), -2000000000);
    EXPECT_EQ(f->get("t.u64")->as_u64(), 18000000000000000000ull);
    EXPECT_EQ(f->get_i64("t.i64").value(), -9000000000000000000ll);
    EXPECT_EQ(f->get_f32("t.f32").value(), 1.5f);
    EXPECT_EQ(f->get("t.f64")->as_f64(), -2.25e300);
    EXPECT_TRUE(f->get_bool("t.bool").value());
    EXPECT_FALSE(f->get_bool("t.false").value());
    EXPECT_EQ(f->get_string("t.str").value(), "h\xc3\xa9llo\nworld");
    EXPECT_EQ(f->get_string_array("t.strs").value(), (std::vector<std::string>{"a", "", "ccc"}));
    EXPECT_EQ(f->get_i32_array("t.u8s").value(), (std::vector<int32_t>{1, 2, 255}));
    EXPECT_EQ(f->get_i32_array("t.i8s").value(), (std::vector<int32_t>{-128, 127}));
    EXPECT_EQ(f->get("t.u16s")->uint_at(0), 65535u);
    EXPECT_EQ(f->get("t.i16s")->int_at(0), -32768);
    EXPECT_EQ(f->get("t.u32s")->uint_at(0), 4294967295u);
    EXPECT_EQ(f->get_i32_array("t.i32s").value(), (std::vector<int32_t>{-1, 0, 7}));
    EXPECT_EQ(f->get("t.u64s")->uint_at(0), ~uint64_t(0));
    EXPECT_EQ(f->get("t.i64s")->int_at(0), INT64_MIN);
    EXPECT_EQ(f->get("t.i64s")->int_at(1), int64_t(1) << 40);
    EXPECT_EQ(f->get_f32_array("t.f32s").value(), (std::vector<float>{0.5f, -1.0f, 3.0e-20f}));
    EXPECT_EQ(f->get("t.f64s")->float_at(0), 1e-300);
    EXPECT_EQ(f->get("t.bools")->elem_type(), GgufType::Bool);
    EXPECT_EQ(f->get("t.bools")->size(), 3u);
    EXPECT_EQ(f->get("t.bools")->uint_at(1), 0u);
    EXPECT_EQ(f->get("t.empty")->size(), 0u);
    const GgufValue* nested = f->get("t.nested");
    ASSERT_TRUE(nested && nested->is_array());
    EXPECT_EQ(nested->elem_type(), GgufType::Array);
    ASSERT_EQ(nested->arrays().size(), 2u);
    EXPECT_EQ(nested->arrays()[0].elem_type(), GgufType::U32);
    EXPECT_EQ(nested->arrays()[0].uint_at(1), 8u);
    EXPECT_EQ(nested->arrays()[1].strings(), std::vector<std::string>{"z"});

    // Tensors: same floats through our writer decode identically; the F32 ones are exact.
    GgufWriter w;
    ASSERT_TRUE(w.add_tensor("f16", x.data(), {rows, cols}, DType::F16).ok());
    ASSERT_TRUE(w.add_tensor("q8", x.data(), {rows, cols}, DType::Q8_0).ok());
    ASSERT_TRUE(w.add_tensor("q4", x.data(), {rows, cols}, DType::Q4_0).ok());
    ASSERT_TRUE(w.write(tmp.file("ours.gguf")).ok());
    auto ours = GgufFile::open(tmp.file("ours.gguf"));
    ASSERT_TRUE(ours.ok()) << ours.message();
    const Tensor f32 = f->tensor("f32").value(), vec = f->tensor("vec").value();
    ASSERT_EQ(vec.ndim(), 1);
    ASSERT_EQ(vec.dim(0), cols);
    for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(f32.data<float>()[i], x[size_t(i)]) << i;
    for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(vec.data<float>()[i], x[size_t(i)]) << i;
    for (const char* t : {"f16", "q8", "q4"}) {
      const Tensor a = f->tensor(t).value().to_f32(), b = ours->tensor(t).value().to_f32();
      ASSERT_EQ(a.dim(0), rows);
      ASSERT_EQ(a.dim(1), cols);
      EXPECT_EQ(std::memcmp(a.bytes(), b.bytes(), a.nbytes()), 0) << t;
    }
  }
}

TEST(GgufIndependent, PythonReaderAgreesOnStories260K) {
  SKIP_UNLESS_PYTHON();
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  const std::string path = test::shared_path("models/stories260K/stories260K.gguf");
  test::TempDir tmp;
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  expect_same_as_python(*f, tmp, "stories");
}

TEST(GgufIndependent, PythonReaderAgreesOnOurWriter) {
  SKIP_UNLESS_PYTHON();
  test::TempDir tmp;
  const int rows = 5, cols = 96;
  const auto x = test_floats(rows, cols);
  GgufWriter w(64);
  w.set_string("general.architecture", "llama");
  w.set_u8("t.u8", 7);
  w.set_i8("t.i8", -7);
  w.set_u16("t.u16", 65000);
  w.set_i16("t.i16", -32000);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -5);
  w.set_u64("t.u64", 1ull << 63);
  w.set_i64("t.i64", -(1ll << 62));
  w.set_f32("t.f32", 0.1f);
  w.set_f64("t.f64", 0.1);
  w.set_bool("t.bool", true);
  w.set_string("t.str", "\xe4\xb8\xad\xe6\x96\x87");
  w.set_string_array("t.strs", {"x", "", "<s>"});
  w.set_f32_array("t.f32s", {1.0f, -0.25f});
  w.set_i32_array("t.i32s", {-3, 9});
  w.set("t.u64s", GgufValue::array_i64(GgufType::U64, {1, 2}));
  w.set("t.f64s", GgufValue::array_f64(GgufType::F64, {0.5, -1e100}));
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0})
    ASSERT_TRUE(w.add_tensor(std::string(dtype_name(t)), x.data(), {rows, cols}, t).ok());
  ASSERT_TRUE(w.add_tensor("vec", x.data(), {cols}, DType::F32).ok());
  ASSERT_TRUE(w.write(tmp.file("ours.gguf")).ok());
  auto f = GgufFile::open(tmp.file("ours.gguf"));
  ASSERT_TRUE(f.ok()) << f.message();
  expect_same_as_python(*f, tmp, "ours");
}

// Tensors view the memory-mapped file: their byte pointers are the mapping plus their offsets
// (no copy), and two reads of one tensor share the same bytes.
TEST(ZeroCopy, GgufAndSafetensorsTensorsViewTheMapping) {
  test::TempDir tmp;
  const auto x = test_floats(4, 64);
  GgufWriter w;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0})
    ASSERT_TRUE(w.add_tensor(std::string(dtype_name(t)), x.data(), {4, 64}, t).ok());
  ASSERT_TRUE(w.write(tmp.file("z.gguf")).ok());
  auto f = GgufFile::open(tmp.file("z.gguf"));
  ASSERT_TRUE(f.ok()) << f.message();
  const GgufTensorInfo& first = f->tensor_infos()[0];
  const uint8_t* base = f->tensor(first.name).value().bytes() - first.offset;
  for (const auto& info : f->tensor_infos()) {
    const Tensor a = f->tensor(info.name).value(), b = f->tensor(info.name).value();
    EXPECT_EQ(a.bytes(), base + info.offset) << info.name;
    EXPECT_EQ(a.bytes(), b.bytes()) << info.name;
    EXPECT_EQ(a.nbytes(), info.nbytes) << info.name;
  }
  const std::string raw = slurp(tmp.file("z.gguf"));
  EXPECT_EQ(std::memcmp(base, raw.data() + f->data_offset(), raw.size() - f->data_offset()), 0);

  SafetensorsWriter sw;
  ASSERT_TRUE(sw.add_tensor("a", x.data(), {4, 64}).ok());
  ASSERT_TRUE(sw.add_tensor("b", x.data(), {2, 64}, DType::BF16).ok());
  ASSERT_TRUE(sw.write(tmp.file("z.safetensors")).ok());
  auto st = SafetensorsFile::open(tmp.file("z.safetensors"));
  ASSERT_TRUE(st.ok()) << st.message();
  const uint8_t* sbase = st->tensor("a").value().bytes() - st->entry("a")->begin;
  for (const char* n : {"a", "b"}) {
    EXPECT_EQ(st->tensor(n).value().bytes(), sbase + st->entry(n)->begin) << n;
    EXPECT_EQ(st->tensor(n).value().bytes(), st->tensor(n).value().bytes()) << n;
  }
}

}  // namespace
}  // namespace r1::io

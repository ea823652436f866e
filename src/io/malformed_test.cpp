// The malformed-file suite: each corruption of a good safetensors or GGUF file (written by our
// writers, then patched byte by byte) must give one clear line naming the file, the tensor or
// field, and what is wrong -- never a crash, a hang or an exception.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/hf_model.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace r1::io {
namespace {

using test::read_bytes;
using test::write_bytes;
template <typename T>
void put(std::string& bytes, size_t pos, T v) {
  ASSERT_LE(pos + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + pos, &v, sizeof(T));
}
// Position just after the first occurrence of `needle` (a GGUF key or tensor name).
size_t after(const std::string& bytes, const std::string& needle) {
  const size_t p = bytes.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  return p == std::string::npos ? 0 : p + needle.size();
}
size_t at(const std::string& bytes, const std::string& needle) {
  const size_t p = bytes.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  return p;
}

// One line: no newline inside the message.
void expect_one_line(const std::string& msg) { EXPECT_EQ(msg.find('\n'), std::string::npos) << msg; }

// ------------------------------------------------------------------ safetensors

class MalformedSafetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<float> x(64, 0.5f);
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    ASSERT_TRUE(w.add_tensor("w.first", x.data(), {4, 4}).ok());
    ASSERT_TRUE(w.add_tensor("w.second", x.data(), {8}, DType::BF16).ok());
    good_path_ = tmp_.file("good.safetensors");
    ASSERT_TRUE(w.write(good_path_).ok());
    good_ = read_bytes(good_path_);
    ASSERT_TRUE(SafetensorsFile::open(good_path_).ok());
    std::memcpy(&header_len_, good_.data(), 8);
  }
  std::string header() const { return good_.substr(8, header_len_); }
  // A file with header JSON `h` (padded to keep the data where it was) and the good data.
  std::string with_header(std::string h) const {
    if (h.size() < header_len_) h.append(header_len_ - h.size(), ' ');
    std::string out(8, '\0');
    const uint64_t n = h.size();
    std::memcpy(out.data(), &n, 8);
    return out + h + good_.substr(8 + header_len_);
  }
  // Opens `bytes` written to a file; expects failure whose message contains every part.
  std::string expect_error(const std::string& bytes, std::initializer_list<const char*> parts) {
    const std::string path = tmp_.file("bad.safetensors");
    write_bytes(path, bytes);
    auto f = SafetensorsFile::open(path);
    EXPECT_FALSE(f.ok());
    if (f.ok()) return "";
    EXPECT_NE(f.message().find(path), std::string::npos) << f.message();
    for (const char* p : parts) EXPECT_NE(f.message().find(p), std::string::npos) << f.message();
    expect_one_line(f.message());
    return f.message();
  }
  std::string replaced(const std::string& from, const std::string& to) const {
    std::string h = header();
    const size_t p = h.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return h.replace(p, from.size(), to);
  }
  test::TempDir tmp_;
  std::string good_path_, good_;
  uint64_t header_len_ = 0;
};

TEST_F(MalformedSafetensors, MissingFile) {
  auto f = SafetensorsFile::open(tmp_.file("nope.safetensors"));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("nope.safetensors: cannot open: No such file"), std::string::npos) << f.message();
}
TEST_F(MalformedSafetensors, ShorterThanLengthField) {
  expect_error(good_.substr(0, 5), {"truncated: 5 bytes"});
}
TEST_F(MalformedSafetensors, EmptyFile) { expect_error("", {"truncated: 0 bytes"}); }
TEST_F(MalformedSafetensors, HeaderLengthPastEnd) {
  std::string b = good_;
  put<uint64_t>(b, 0, uint64_t(b.size()));
  expect_error(b, {"header length", "runs past the end of the file"});
  put<uint64_t>(b, 0, ~uint64_t(0));  // no overflow in the check
  expect_error(b, {"header length 18446744073709551615 runs past the end"});
}
TEST_F(MalformedSafetensors, TruncatedData) {
  expect_error(good_.substr(0, good_.size() - 3),
               {"tensor w.second", "data_offsets end", "past the end of the data"});
}
TEST_F(MalformedSafetensors, NotJson) {
  expect_error(with_header("{\"w.first\": {\"dtype\": \"F32\",,}}"), {"bad JSON", "parse error"});
  expect_error(with_header("GGUF"), {"header does not start with '{'"});
}
TEST_F(MalformedSafetensors, HeaderNotObjectEntry) {
  expect_error(with_header(R"({"w.first": 7})"), {"tensor w.first: entry is not a JSON object"});
}
TEST_F(MalformedSafetensors, DuplicateName) {
  std::string h = header();
  h.insert(1, R"("w.first": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, )");
  std::string b = with_header(h);
  expect_error(b, {"duplicate key \"w.first\""});
}
TEST_F(MalformedSafetensors, UnknownDtype) {
  expect_error(with_header(replaced("\"BF16\"", "\"BF17\"")), {"tensor w.second: unknown dtype \"BF17\""});
}
TEST_F(MalformedSafetensors, MissingDtype) {
  expect_error(with_header(replaced("\"dtype\":\"BF16\",", "")), {"tensor w.second", "\"dtype\""});
}
TEST_F(MalformedSafetensors, UnsupportedDtypeListsButDoesNotLoad) {
  // F64 is a valid safetensors dtype r1 cannot compute with: the file opens, the tensor does not.
  const std::string path = tmp_.file("f64.safetensors");
  write_bytes(path, with_header(replaced(R"("dtype":"BF16","shape":[8])", R"("dtype":"F64","shape":[2])")));
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_TRUE(f->has("w.second"));
  auto t = f->tensor("w.second");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find(path + ": tensor w.second: dtype F64 is not supported"), std::string::npos)
      << t.message();
}
TEST_F(MalformedSafetensors, ShapeSizeMismatch) {
  expect_error(with_header(replaced("[4,4]", "[4,5]")),
               {"tensor w.first: shape [4,5] of F32 needs 80 bytes but data_offsets span 64"});
}
TEST_F(MalformedSafetensors, NegativeDimension) {
  expect_error(with_header(replaced("[4,4]", "[-4,-4]")), {"tensor w.first: shape entry -4"});
}
TEST_F(MalformedSafetensors, ShapeOverflow) {
  expect_error(with_header(replaced("[4,4]", "[4294967296,4294967296,16]")),
               {"tensor w.first: shape", "overflows"});
  expect_error(with_header(replaced("[4,4]", "[4611686018427387904,0]")),
               {"tensor w.first: shape [4611686018427387904,0] overflows"});
}
TEST_F(MalformedSafetensors, TooManyDims) {
  expect_error(with_header(replaced("[4,4]", "[1,1,1,4,4]")), {"tensor w.first: 5 dimensions"});
}
TEST_F(MalformedSafetensors, ReversedOffsets) {
  expect_error(with_header(replaced("[0,64]", "[64,0]")), {"tensor w.first: data_offsets [64, 0] are reversed"});
}
TEST_F(MalformedSafetensors, OffsetsPastEnd) {
  expect_error(with_header(replaced("[64,80]", "[1000064,1000080]")),
               {"tensor w.second: data_offsets end 1000080 is past the end of the data"});
}
TEST_F(MalformedSafetensors, BadOffsetsField) {
  expect_error(with_header(replaced("[64,80]", "[64]")), {"tensor w.second: \"data_offsets\" must be"});
}
TEST_F(MalformedSafetensors, Overlap) {
  expect_error(with_header(replaced("[64,80]", "[56,72]")), {"tensor w.second", "overlaps tensor w.first"});
}
TEST_F(MalformedSafetensors, MetadataNotObject) {
  expect_error(with_header(replaced(R"({"format":"pt"})", "[1]")), {"__metadata__: not a JSON object"});
}
TEST_F(MalformedSafetensors, DeepNesting) {
  std::string h = "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error(with_header(h), {"nested deeper than 64"});
}

TEST_F(MalformedSafetensors, MisalignedDataLoadsAligned) {
  // A header one byte longer than the good one (the spec pads to 8, not every writer does):
  // every tensor's data sits one byte off; it must still load, with the same values, through
  // an aligned pointer (a misaligned float read is undefined behaviour; UBSan checks it).
  const std::string bytes = with_header(header() + " ");
  const std::string path = tmp_.file("odd.safetensors");
  write_bytes(path, bytes);
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->data_offset() % 2, 1u);
  auto good = SafetensorsFile::open(good_path_);
  for (const char* name : {"w.first", "w.second"}) {
    auto a = f->tensor(name), b = good->tensor(name);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->bytes()) % dtype_bytes(a->dtype(), 1), 0u) << name;
    ASSERT_EQ(a->nbytes(), b->nbytes());
    EXPECT_EQ(std::memcmp(a->bytes(), b->bytes(), a->nbytes()), 0) << name;
    const Tensor x = a->to_f32();
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x.data<float>()[i], 0.5f) << name;
  }
}

TEST_F(MalformedSafetensors, EveryTruncationFailsCleanly) {
  // Each prefix of a good file shorter than the end of its last tensor's data fails with one
  // line; parsed from memory to keep this fast.
  const SafetensorsFile good = SafetensorsFile::open(good_path_).value();
  uint64_t data_end = 0;
  for (const auto& e : good.entries()) data_end = std::max(data_end, good.data_offset() + e.end);
  for (size_t n = 0; n <= good_.size(); ++n) {
    auto bytes = Storage::allocate(n);
    std::memcpy(bytes->data(), good_.data(), n);
    auto f = SafetensorsFile::parse(bytes, "cut");
    ASSERT_EQ(f.ok(), n >= data_end) << "cut at " << n << ": " << (f.ok() ? "" : f.message());
    if (!f.ok()) {
      expect_one_line(f.message());
      EXPECT_EQ(f.message().rfind("cut: ", 0), 0u) << f.message();
    }
  }
}

// ------------------------------------------------------------------ GGUF

class MalformedGguf : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> x(2 * 64);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) * 0.01f;
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("test.count", 7);
    w.set_bool("test.flag", true);
    w.set_i32_array("test.ints", {1, 2, 3});
    w.set_string_array("test.strs", {"aa", "bb"});
    ASSERT_TRUE(w.add_tensor("tensor.a", x.data(), {2, 64}, DType::F32).ok());
    ASSERT_TRUE(w.add_tensor("tensor.b", x.data(), {2, 64}, DType::Q8_0).ok());
    good_path_ = tmp_.file("good.gguf");
    ASSERT_TRUE(w.write(good_path_).ok());
    good_ = read_bytes(good_path_);
    ASSERT_TRUE(GgufFile::open(good_path_).ok());
  }
  std::string expect_error(const std::string& bytes, std::initializer_list<const char*> parts) {
    const std::string path = tmp_.file("bad.gguf");
    write_bytes(path, bytes);
    auto f = GgufFile::open(path);
    EXPECT_FALSE(f.ok());
    if (f.ok()) return "";
    EXPECT_NE(f.message().find(path), std::string::npos) << f.message();
    for (const char* p : parts) EXPECT_NE(f.message().find(p), std::string::npos) << f.message();
    expect_one_line(f.message());
    return f.message();
  }
  // Tensor info fields of `name`: n_dims at after(name), ne[] next, then type, then offset.
  size_t n_dims_pos(const std::string& name) const { return after(good_, name); }
  size_t type_pos(const std::string& name) const { return after(good_, name) + 4 + 2 * 8; }
  size_t offset_pos(const std::string& name) const { return type_pos(name) + 4; }
  test::TempDir tmp_;
  std::string good_path_, good_;
};

TEST_F(MalformedGguf, MissingFile) {
  auto f = GgufFile::open(tmp_.file("nope.gguf"));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("nope.gguf: cannot open"), std::string::npos) << f.message();
}
TEST_F(MalformedGguf, WrongMagic) {
  std::string b = good_;
  b[0] = 'X';
  expect_error(b, {"not a GGUF file"});
  expect_error("GG", {"not a GGUF file"});
}
TEST_F(MalformedGguf, UnsupportedVersion) {
  std::string b = good_;
  put<uint32_t>(b, 4, 1);
  expect_error(b, {"GGUF version 1 is not supported"});
  put<uint32_t>(b, 4, 4);
  expect_error(b, {"unsupported GGUF version 4"});
  put<uint32_t>(b, 4, 0x03000000);  // a big-endian v3 file
  expect_error(b, {"unsupported GGUF version 50331648", "big-endian"});
}
TEST_F(MalformedGguf, Version2Accepted) {
  std::string b = good_;
  put<uint32_t>(b, 4, 2);
  write_bytes(tmp_.file("v2.gguf"), b);
  auto f = GgufFile::open(tmp_.file("v2.gguf"));
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 2u);
}
TEST_F(MalformedGguf, TruncatedHeader) {
  expect_error(good_.substr(0, 20), {"truncated at byte 16 reading metadata count"});
  expect_error(good_.substr(0, after(good_, "test.count") + 2), {"truncated", "test.count"});
}
TEST_F(MalformedGguf, TruncatedData) {
  expect_error(good_.substr(0, good_.size() - 40), {"tensor tensor.b", "runs past the end of the file"});
}
TEST_F(MalformedGguf, BogusCounts) {
  std::string b = good_;
  put<uint64_t>(b, 8, uint64_t(1) << 60);
  expect_error(b, {"tensor count 1152921504606846976 is larger than the file could hold"});
  b = good_;
  put<uint64_t>(b, 16, ~uint64_t(0));
  expect_error(b, {"metadata count", "larger than the file could hold"});
}
TEST_F(MalformedGguf, BogusStringLength) {
  std::string b = good_;
  put<uint64_t>(b, at(good_, "general.architecture") - 8, uint64_t(1) << 62);
  expect_error(b, {"metadata key #0: string length 4611686018427387904", "runs past the end"});
  b = good_;
  put<uint64_t>(b, at(good_, "llama") - 8, 1000000);  // a string value
  expect_error(b, {"metadata general.architecture: string length 1000000"});
}
TEST_F(MalformedGguf, BogusArrayCount) {
  std::string b = good_;
  put<uint64_t>(b, after(good_, "test.ints") + 8, uint64_t(1) << 61);
  expect_error(b, {"metadata test.ints: array of 2305843009213693952 i32 elements runs past the end"});
  b = good_;
  put<uint64_t>(b, after(good_, "test.strs") + 8, 1000);
  expect_error(b, {"test.strs", "runs past the end"});
}
TEST_F(MalformedGguf, UnknownValueType) {
  std::string b = good_;
  put<uint32_t>(b, after(good_, "test.count"), 13);
  expect_error(b, {"metadata test.count: unknown value type 13"});
  b = good_;
  put<uint32_t>(b, after(good_, "test.ints") + 4, 77);
  expect_error(b, {"metadata test.ints: unknown array element type 77"});
}
TEST_F(MalformedGguf, BadBool) {
  std::string b = good_;
  b[after(good_, "test.flag") + 4] = 2;
  expect_error(b, {"metadata test.flag: bool byte is 2"});
}
TEST_F(MalformedGguf, DuplicateKey) {
  std::string b = good_;
  const size_t p = at(good_, "test.ints");
  std::memcpy(b.data() + p, "test.strs", 9);
  expect_error(b, {"metadata test.strs: duplicate key"});
}
TEST_F(MalformedGguf, DuplicateTensorName) {
  std::string b = good_;
  b[at(good_, "tensor.b") + 7] = 'a';
  expect_error(b, {"tensor tensor.a: duplicate name"});
}
TEST_F(MalformedGguf, BadDims) {
  std::string b = good_;
  put<uint32_t>(b, n_dims_pos("tensor.a"), 5);
  expect_error(b, {"tensor tensor.a: n_dims 5 outside 1..4"});
  put<uint32_t>(b, n_dims_pos("tensor.a"), 0);
  expect_error(b, {"tensor tensor.a: n_dims 0"});
}
TEST_F(MalformedGguf, DimsOverflow) {
  std::string b = good_;
  put<uint64_t>(b, n_dims_pos("tensor.a") + 4, uint64_t(1) << 40);
  put<uint64_t>(b, n_dims_pos("tensor.a") + 12, uint64_t(1) << 40);
  expect_error(b, {"tensor tensor.a: dimensions overflow"});
  b = good_;
  put<uint64_t>(b, n_dims_pos("tensor.a") + 4, ~uint64_t(0));
  expect_error(b, {"tensor tensor.a: dimensions overflow"});
  b = good_;  // empty, but its row stride would not fit in int64
  put<uint64_t>(b, n_dims_pos("tensor.a") + 4, uint64_t(1) << 62);
  put<uint64_t>(b, n_dims_pos("tensor.a") + 12, 0);
  expect_error(b, {"tensor tensor.a: byte size overflows"});
}
TEST_F(MalformedGguf, DataSectionPastEnd) {
  // A file whose only tensor is empty, cut inside the padding before the data section.
  GgufWriter w;
  ASSERT_TRUE(w.add_tensor("empty", nullptr, {0, 4}, DType::F32).ok());
  ASSERT_TRUE(w.write(tmp_.file("empty.gguf")).ok());
  const std::string b = read_bytes(tmp_.file("empty.gguf"));
  ASSERT_EQ(b.size(), 96u);  // 24 + name (8 + 5) + n_dims 4 + ne 16 + type 4 + offset 8 = 69, padded
  expect_error(b.substr(0, b.size() - 1), {"the tensor data section would start at byte 96"});
}
TEST_F(MalformedGguf, UnknownGgmlType) {
  std::string b = good_;
  put<uint32_t>(b, type_pos("tensor.a"), 4);  // a retired id
  expect_error(b, {"tensor tensor.a: unknown ggml type 4"});
  put<uint32_t>(b, type_pos("tensor.a"), 1000);
  expect_error(b, {"tensor tensor.a: unknown ggml type 1000"});
}
TEST_F(MalformedGguf, PartialBlockRow) {
  std::string b = good_;
  put<uint64_t>(b, n_dims_pos("tensor.b") + 4, 16);  // Q8_0 row of 16
  expect_error(b, {"tensor tensor.b: row of 16 elements is not a whole number of Q8_0 blocks of 32"});
}
TEST_F(MalformedGguf, MisalignedOffset) {
  std::string b = good_;
  put<uint64_t>(b, offset_pos("tensor.b"), 8 + 512);
  expect_error(b, {"tensor tensor.b: offset 520 is not a multiple of the alignment 32"});
}
TEST_F(MalformedGguf, OffsetPastEnd) {
  std::string b = good_;
  put<uint64_t>(b, offset_pos("tensor.b"), uint64_t(1) << 40);
  expect_error(b, {"tensor tensor.b: data [1099511627776, +136) runs past the end of the file"});
  put<uint64_t>(b, offset_pos("tensor.b"), ~uint64_t(31));  // offset + size wraps around
  expect_error(b, {"tensor tensor.b", "runs past the end of the file"});
}
TEST_F(MalformedGguf, OverlappingTensors) {
  std::string b = good_;
  put<uint64_t>(b, offset_pos("tensor.b"), 480);  // tensor.a takes [0, 512)
  expect_error(b, {"tensor tensor.b: data at offset 480 overlaps tensor tensor.a [0, +512)"});
}
TEST_F(MalformedGguf, BadAlignment) {
  GgufWriter w;
  w.set_u32("general.alignment", 48);
  ASSERT_TRUE(w.write(tmp_.file("a48.gguf")).ok());
  expect_error(read_bytes(tmp_.file("a48.gguf")), {"metadata general.alignment: 48 is not a power of two"});
  GgufWriter w2;
  w2.set_string("general.alignment", "32");
  ASSERT_TRUE(w2.write(tmp_.file("astr.gguf")).ok());
  expect_error(read_bytes(tmp_.file("astr.gguf")), {"metadata general.alignment: expected u32, found string"});
}
TEST_F(MalformedGguf, DeeplyNestedArrays) {
  GgufValue v = GgufValue::array_i64(GgufType::U8, {1});
  for (int i = 0; i < 12; ++i) v = GgufValue::array_arrays({v});
  GgufWriter w;
  w.set("deep", v);
  ASSERT_TRUE(w.write(tmp_.file("deep.gguf")).ok());
  expect_error(read_bytes(tmp_.file("deep.gguf")), {"metadata deep", "arrays nested deeper than 8"});
}
TEST_F(MalformedGguf, UnsupportedTypeListsButDoesNotLoad) {
  // Q8_K (15), an activation-only type r1 never computes with as a weight: 256-element blocks of
  // 292 bytes. Make tensor.b a [1, 256] Q8_K of 292 bytes.
  std::string b = good_;
  put<uint64_t>(b, n_dims_pos("tensor.b") + 4, 256);
  put<uint64_t>(b, n_dims_pos("tensor.b") + 12, 1);
  put<uint32_t>(b, type_pos("tensor.b"), 15);
  b.append(292, '\0');
  const std::string path = tmp_.file("q8k.gguf");
  write_bytes(path, b);
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_STREQ(f->tensor_info("tensor.b")->type_name(), "Q8_K");
  EXPECT_TRUE(f->tensor("tensor.a").ok());
  auto t = f->tensor("tensor.b");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find(path + ": tensor tensor.b: unsupported tensor type Q8_K"), std::string::npos)
      << t.message();
}

TEST_F(MalformedGguf, AlignmentOneLoadsAligned) {
  // general.alignment 1 is a power of two, so legal; a 34-byte Q8_0 block first leaves the F32
  // tensor after it at an odd offset. It must load with its values through an aligned pointer.
  GgufWriter w(1);
  std::vector<float> x(32), y(15);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) - 16;
  for (size_t i = 0; i < y.size(); ++i) y[i] = 0.25f * float(i);
  ASSERT_TRUE(w.add_tensor("q", x.data(), {1, 32}, DType::Q8_0).ok());
  ASSERT_TRUE(w.add_tensor("f", y.data(), {3, 5}, DType::F32).ok());
  ASSERT_TRUE(w.write(tmp_.file("a1.gguf")).ok());
  auto f = GgufFile::open(tmp_.file("a1.gguf"));
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->alignment(), 1u);
  EXPECT_NE((f->data_offset() + f->tensor_info("f")->offset) % 4, 0u);  // the case under test
  auto t = f->tensor("f");
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->bytes()) % 4, 0u);
  for (int64_t i = 0; i < 15; ++i) ASSERT_EQ(t->data<float>()[i], y[size_t(i)]) << i;
  auto q = f->tensor("q");
  ASSERT_TRUE(q.ok()) << q.message();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q->bytes()) % 2, 0u);
  const Tensor qf = q->to_f32();
  for (int64_t i = 0; i < 32; ++i) ASSERT_NEAR(qf.data<float>()[i], x[size_t(i)], 16.0f / 127) << i;
}

// Every truncation of a good file fails cleanly, up to the end of the last tensor's data (only
// the final alignment padding may be cut). Parsed from memory to keep this fast.
TEST_F(MalformedGguf, EveryTruncationFailsCleanly) {
  const GgufFile good = GgufFile::open(good_path_).value();
  const GgufTensorInfo& last = good.tensor_infos().back();
  const size_t data_end = size_t(good.data_offset() + last.offset + last.nbytes);
  for (size_t n = 0; n < good_.size(); ++n) {
    auto bytes = Storage::allocate(n);
    std::memcpy(bytes->data(), good_.data(), n);
    auto f = GgufFile::parse(bytes, "cut");
    EXPECT_EQ(f.ok(), n >= data_end) << "cut at " << n << ": " << (f.ok() ? "" : f.message());
  }
}

// A missing config field and a missing directory, through HfModelDir.
TEST(MalformedHf, MissingConfigAndWeights) {
  test::TempDir tmp;
  auto m = HfModelDir::open(tmp.file("nodir"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("nodir: not a directory"), std::string::npos) << m.message();
  m = HfModelDir::open(tmp.path());
  EXPECT_NE(m.message().find("config.json: missing"), std::string::npos) << m.message();
  write_bytes(tmp.file("config.json"), "{\"hidden_size\": 64,}");
  m = HfModelDir::open(tmp.path());
  EXPECT_NE(m.message().find("config.json: bad JSON"), std::string::npos) << m.message();
  write_bytes(tmp.file("config.json"), "{\"hidden_size\": 64}");
  m = HfModelDir::open(tmp.path());
  EXPECT_NE(m.message().find("no weights"), std::string::npos) << m.message();
  write_bytes(tmp.file("grads.safetensors"), "not read");
  m = HfModelDir::open(tmp.path());
  EXPECT_NE(m.message().find("no weights"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace r1::io

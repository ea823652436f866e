// The weight quantisers of quantize_k.h against their own decoders. What the algorithms
// guarantee, whatever scale the search settles on: (1) after the scales are stored, every element
// gets the level of its group that decodes nearest to it (the final pass of every ggml reference
// quantiser re-rounds against the stored scales), so |y - x| equals the distance from x to the
// nearest representable value of its group, up to the f16 rounding of scales the codes were
// chosen with; (2) the search never picks a scale that clips much: the error is at most a
// fraction of the group's largest |x|. Bit-identity with llama.cpp's quantizer is checked in
// tests/convert_quant_cli_test.cpp.
#include "quant/quantize_k.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/iq_grid_maps.h"
#include "quant/iq4nl_values.h"
#include "quant/kquants.h"
#include "quant/quantize.h"

namespace r1::quant {
namespace {

// Rows with a different magnitude per `span` elements (1e-3..1e2) and, in every third group of
// 32, an outlier.
std::vector<float> random_row(int64_t n, uint32_t seed, int64_t span = 32) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> sc(-3, 2);
  std::vector<float> x(static_cast<size_t>(n));
  float s = 1;
  for (int64_t b = 0; b < n / 32; ++b) {
    if ((b * 32) % span == 0) s = std::pow(10.0f, sc(rng));
    for (int j = 0; j < 32; ++j) x[size_t(b * 32 + j)] = nd(rng) * s;
    if (b % 3 == 0) x[size_t(b * 32 + b % 32)] *= 6;
  }
  return x;
}

// The integer levels a code of `t` can take (before the group's scale and min).
std::vector<int> levels_of(DType t) {
  auto range = [](int lo, int hi) {
    std::vector<int> v;
    for (int i = lo; i <= hi; ++i) v.push_back(i);
    return v;
  };
  switch (t) {
    case DType::Q4_1: case DType::Q4_K: return range(0, 15);
    case DType::Q5_1: case DType::Q5_K: return range(0, 31);
    case DType::Q5_0: return range(-16, 15);
    case DType::Q2_K: return range(0, 3);
    case DType::Q3_K: return range(-4, 3);
    case DType::Q6_K: return range(-32, 31);
    default: return std::vector<int>(kIq4nlValues, kIq4nlValues + 16);  // IQ4_NL, IQ4_XS
  }
}

struct Group {
  float scale, offset;  // value = scale * level - offset
};

// Group (scale, offset) of element i of a row of `t`, read through the unpackers.
std::vector<Group> groups_of(DType t, const uint8_t* q, int64_t n) {
  std::vector<Group> g(size_t(n), Group{0, 0});
  const int64_t bs = dtype_traits(t).block_size, bytes = dtype_traits(t).block_bytes;
  for (int64_t b = 0; b < n / bs; ++b) {
    if (is_unpack_32_type(t)) {
      Unpacked32 u;
      unpack_32(t, q + b * bytes, u);
      for (int i = 0; i < 32; ++i) g[size_t(b * 32 + i)] = {u.d, -u.m};
    } else {
      UnpackedK u;
      unpack_k(t, q + b * bytes, u);
      for (int i = 0; i < kQK_K; ++i)
        g[size_t(b * kQK_K + i)] = {u.d * float(u.scale[i / u.sub]),
                                    u.dmin * float(u.min[i / u.sub])};
    }
  }
  return g;
}

constexpr DType kTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                            DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_XS};

TEST(QuantizeK, EveryElementGetsTheNearestLevelOfItsGroup) {
  const int64_t n = kQK_K * 16;
  const auto x = random_row(n, 11);
  for (DType t : kTypes) {
    std::vector<uint8_t> q(size_t(dtype_bytes(t, n)));
    quantize_row(t, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, q.data(), y.data(), n);
    const auto groups = groups_of(t, q.data(), n);
    const auto lv = levels_of(t);
    const int max_level = std::max(std::abs(lv.front()), std::abs(lv.back()));
    for (int64_t i = 0; i < n; ++i) {
      const Group g = groups[size_t(i)];
      double best = 1e30;
      for (int l : lv) best = std::min(best, std::fabs(double(g.scale) * l - g.offset - x[size_t(i)]));
      // Slack: codes may be chosen with the f32 scale before its f16 rounding (relative 2^-11)
      // and through one f32 division.
      const double slack = std::fabs(g.scale) * max_level * 1.1e-3 + std::fabs(x[size_t(i)]) * 1e-6;
      ASSERT_LE(std::fabs(double(y[size_t(i)]) - x[size_t(i)]), best + slack)
          << dtype_name(t) << " element " << i << " x " << x[size_t(i)] << " y " << y[size_t(i)];
    }
  }
}

TEST(QuantizeK, ErrorIsAFractionOfTheGroupRange) {
  // A uniform quantiser with k levels over [-amax, amax] errs by at most amax / (k - 1); the
  // searched scales may clip the largest |x| slightly (by design, to fit the bulk better), and the
  // super-block types round each sub-block scale to 4-8 bits relative to the largest one. Bound:
  // twice the uniform step, measured worst cases are well inside it (printed). One magnitude per
  // 256 elements, as in weight matrices: a super-block mixing magnitudes 1e5 apart leaves its
  // small sub-blocks with scale code 0 by design of the format.
  const int64_t n = kQK_K * 32;
  const auto x = random_row(n, 5, kQK_K);
  for (DType t : kTypes) {
    std::vector<uint8_t> q(size_t(dtype_bytes(t, n)));
    quantize_row(t, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, q.data(), y.data(), n);
    const int k = int(levels_of(t).size());
    const int64_t g = dtype_traits(t).block_size == 32 ? 32 : (t == DType::Q4_K || t == DType::Q5_K || t == DType::IQ4_XS) ? 32 : 16;
    double worst = 0;
    for (int64_t b = 0; b < n / g; ++b) {
      double amax = 0, err = 0;
      for (int64_t j = b * g; j < (b + 1) * g; ++j) {
        amax = std::max(amax, double(std::fabs(x[size_t(j)])));
        err = std::max(err, std::fabs(double(y[size_t(j)]) - x[size_t(j)]));
      }
      const double step = 2 * amax / (k - 1);
      worst = std::max(worst, err / step);
      ASSERT_LE(err, 2 * step) << dtype_name(t) << " group " << b;
    }
    std::printf("%-7s worst error / uniform step %.3f\n", std::string(dtype_name(t)).c_str(), worst);
  }
}

TEST(QuantizeK, ZeroRowsDecodeToZero) {
  for (DType t : kTypes) {
    const int64_t n = kQK_K;
    std::vector<float> x(size_t(n), 0.0f), y(size_t(n), 1.0f);
    std::vector<uint8_t> q(size_t(dtype_bytes(t, n)));
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

TEST(QuantizeK, PartialBlockIsAnError) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> q(4096);
  EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), q.data(), 300), CheckError);
  EXPECT_THROW(quantize_row(DType::Q5_0, x.data(), q.data(), 40), CheckError);
  EXPECT_TRUE(can_quantize(DType::IQ4_XS));
  EXPECT_TRUE(can_quantize(DType::IQ2_XXS));
  EXPECT_FALSE(can_quantize(DType::TQ1_0));
  // IQ2_XXS, IQ2_XS and IQ1_S cannot be written without importance weights (ggml asserts them).
  std::vector<float> y(256, 1.0f);
  EXPECT_THROW(quantize_row(DType::IQ2_XXS, y.data(), q.data(), 256), CheckError);
}

// The grid neighbour maps (built from r1's grid tables): grid points map to themselves; every
// other reachable point lists grid points sorted by (distance, index), the first at the smallest
// distance to any grid point.
TEST(QuantizeIq, GridMapsListTheNearestGridPoints) {
  for (DType t : {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                  DType::IQ1_S}) {
    const iq::GridMap& m = iq::grid_map(t);
    for (int g = 0; g < m.n_grid; ++g) {
      int code = 0;
      for (int k = 0; k < m.dim; ++k) code |= ((m.point(g)[k] - 1) / 2) << (m.bits * k);
      ASSERT_EQ(m.map[size_t(code)], g) << dtype_name(t);
    }
    const int max_level = m.bits == 2 ? 2 : 7;
    int checked = 0;
    for (int code = 0; code < int(m.map.size()); code += 7) {
      bool reachable = true;
      int pos[8];
      for (int k = 0; k < m.dim; ++k) {
        const int l = (code >> (m.bits * k)) & ((1 << m.bits) - 1);
        reachable = reachable && l <= max_level;
        pos[k] = 2 * l + 1;
      }
      if (!reachable || m.map[size_t(code)] >= 0) continue;
      auto d2 = [&](int g) {
        int d = 0;
        for (int k = 0; k < m.dim; ++k) d += (m.point(g)[k] - pos[k]) * (m.point(g)[k] - pos[k]);
        return d;
      };
      int best = 1 << 30;
      for (int g = 0; g < m.n_grid; ++g) best = std::min(best, d2(g));
      const uint16_t* nb = m.neighbours.data() + (-m.map[size_t(code)] - 1);
      ASSERT_GT(nb[0], 0);
      ASSERT_EQ(d2(nb[1]), best) << dtype_name(t) << " code " << code;
      for (int j = 2; j <= nb[0]; ++j)
        ASSERT_TRUE(d2(nb[j - 1]) < d2(nb[j]) || (d2(nb[j - 1]) == d2(nb[j]) && nb[j - 1] < nb[j]));
      ++checked;
    }
    EXPECT_GT(checked, 50) << dtype_name(t);
  }
}

// Lattice quantisers on Gaussian rows: the relative RMS error shrinks with the bits per weight,
// and a column given 1000x the importance of the others is reproduced more closely (what the
// importance matrix is for).
TEST(QuantizeIq, ErrorFallsWithBitsAndImportantColumnsAreKeptBetter) {
  const int64_t n = 1024, rows = 4;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(size_t(n * rows));
  for (auto& v : x) v = nd(rng);
  std::vector<float> ones(size_t(n), 1.0f), heavy(ones);
  for (int64_t j = 0; j < n; j += 8) heavy[size_t(j)] = 1000.0f;
  auto rel_err = [&](DType t, const std::vector<float>& w, bool heavy_only) {
    std::vector<uint8_t> q(size_t(dtype_bytes(t, n)));
    std::vector<float> y(static_cast<size_t>(n));
    double e = 0, s = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * n;
      quantize_row(t, xr, q.data(), n, w.data());
      dequantize_row(t, q.data(), y.data(), n);
      for (int64_t j = 0; j < n; ++j) {
        if (heavy_only && j % 8 != 0) continue;
        e += double(y[size_t(j)] - xr[j]) * (y[size_t(j)] - xr[j]);
        s += double(xr[j]) * xr[j];
      }
    }
    return std::sqrt(e / s);
  };
  const DType order[] = {DType::IQ1_S, DType::IQ1_M, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S,
                         DType::IQ3_XXS, DType::IQ3_S};
  double prev = 1.0;
  for (DType t : order) {
    const double e = rel_err(t, ones, false);
    std::printf("%-8s relative RMS error %.3f\n", std::string(dtype_name(t)).c_str(), e);
    EXPECT_LT(e, prev) << dtype_name(t);
    prev = e;
    EXPECT_LT(rel_err(t, heavy, true), rel_err(t, ones, true)) << dtype_name(t);
  }
}

}  // namespace
}  // namespace r1::quant

// Grid neighbour maps; see iq_grid_maps.h. The neighbour lists are those ggml's init functions
// make (sort all grid points by (squared distance, index), keep the first `nwant` distance
// shells); found here without a full sort: one pass for the distances and the nwant smallest
// distinct values, then a sort of the kept points only.
#include "quant/iq_grid_maps.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <set>

#include "core/check.h"
#include "quant/iq_tables.h"

namespace r1::quant::iq {
namespace {

struct Spec {
  int dim, bits, n_grid, nwant, max_level;
};

Spec spec_of(DType t) {
  switch (t) {
    case DType::IQ2_XXS: return {8, 2, 256, 2, 2};
    case DType::IQ2_XS: return {8, 2, 512, 2, 2};
    case DType::IQ2_S: return {8, 2, 1024, 1, 2};
    case DType::IQ1_S: case DType::IQ1_M: return {8, 2, 2048, 3, 2};
    case DType::IQ3_XXS: return {4, 3, 256, 2, 7};
    case DType::IQ3_S: return {4, 3, 512, 3, 7};
    default: R1_CHECK(false, "no lattice grid for {}", dtype_name(t));
  }
  return {};
}

// Byte k of grid entry g of t, as a signed value (IQ1's entries are int8 -1/0/1).
int grid_byte(DType t, int g, int k) {
  switch (t) {
    case DType::IQ2_XXS: return int(uint8_t(kIq2xxsGrid[g] >> (8 * k)));
    case DType::IQ2_XS: return int(uint8_t(kIq2xsGrid[g] >> (8 * k)));
    case DType::IQ2_S: return int(uint8_t(kIq2sGrid[g] >> (8 * k)));
    case DType::IQ1_S: case DType::IQ1_M: return int(int8_t(uint8_t(kIq1sGrid[g] >> (8 * k))));
    case DType::IQ3_XXS: return int(uint8_t(kIq3xxsGrid[g] >> (8 * k)));
    case DType::IQ3_S: return int(uint8_t(kIq3sGrid[g] >> (8 * k)));
    default: return 0;
  }
}

GridMap build(DType t) {
  const Spec s = spec_of(t);
  GridMap m;
  m.dim = s.dim;
  m.bits = s.bits;
  m.n_grid = s.n_grid;
  // A grid value's level is its rank among the distinct values of the grid (IQ2: 8, 25, 43 ->
  // 0, 1, 2; IQ1: -1, 0, 1; IQ3_XXS: 4, 12, ..., 62; IQ3_S: 1, 3, ..., 15).
  std::set<int> values;
  for (int g = 0; g < s.n_grid; ++g)
    for (int k = 0; k < s.dim; ++k) values.insert(grid_byte(t, g, k));
  const std::vector<int> levels(values.begin(), values.end());
  R1_CHECK(int(levels.size()) <= (1 << s.bits), "grid of {} has {} levels", dtype_name(t), levels.size());
  m.grid.resize(size_t(s.n_grid) * size_t(s.dim));
  const int n_codes = 1 << (s.bits * s.dim);
  m.map.assign(size_t(n_codes), 0);
  std::vector<bool> on_grid(size_t(n_codes), false);
  for (int g = 0; g < s.n_grid; ++g) {
    int code = 0;
    for (int k = 0; k < s.dim; ++k) {
      const int l = int(std::lower_bound(levels.begin(), levels.end(), grid_byte(t, g, k)) - levels.begin());
      m.grid[size_t(g) * size_t(s.dim) + size_t(k)] = int8_t(2 * l + 1);
      code |= l << (s.bits * k);
    }
    m.map[size_t(code)] = g;
    on_grid[size_t(code)] = true;
  }
  std::vector<int> d2(size_t(s.n_grid));
  std::vector<std::pair<int, int>> kept;
  std::array<int, 8> pos{};
  for (int code = 0; code < n_codes; ++code) {
    if (on_grid[size_t(code)]) continue;
    bool reachable = true;
    for (int k = 0; k < s.dim; ++k) {
      const int l = (code >> (s.bits * k)) & ((1 << s.bits) - 1);
      if (l > s.max_level) reachable = false;
      pos[size_t(k)] = 2 * l + 1;
    }
    if (!reachable) continue;
    // The nwant smallest distinct squared distances.
    std::array<int, 3> shell{};
    int n_shell = 0;
    for (int g = 0; g < s.n_grid; ++g) {
      const int8_t* p = m.point(g);
      int d = 0;
      for (int k = 0; k < s.dim; ++k) d += (p[k] - pos[size_t(k)]) * (p[k] - pos[size_t(k)]);
      d2[size_t(g)] = d;
      int i = 0;
      while (i < n_shell && shell[size_t(i)] < d) ++i;
      if (i < n_shell && shell[size_t(i)] == d) continue;
      if (i >= s.nwant) continue;
      for (int j = std::min(n_shell, s.nwant - 1); j > i; --j) shell[size_t(j)] = shell[size_t(j - 1)];
      shell[size_t(i)] = d;
      n_shell = std::min(n_shell + 1, s.nwant);
    }
    const int limit = shell[size_t(n_shell - 1)];
    kept.clear();
    for (int g = 0; g < s.n_grid; ++g)
      if (d2[size_t(g)] <= limit) kept.emplace_back(d2[size_t(g)], g);
    std::sort(kept.begin(), kept.end());
    m.map[size_t(code)] = -int32_t(m.neighbours.size() + 1);
    m.neighbours.push_back(uint16_t(kept.size()));
    for (const auto& [d, g] : kept) m.neighbours.push_back(uint16_t(g));
  }
  return m;
}

}  // namespace

const GridMap& grid_map(DType t) {
  static std::once_flag once[6];
  static GridMap maps[6];
  int i = 0;
  switch (t) {
    case DType::IQ2_XXS: i = 0; break;
    case DType::IQ2_XS: i = 1; break;
    case DType::IQ2_S: i = 2; break;
    case DType::IQ1_S: case DType::IQ1_M: i = 3; break;
    case DType::IQ3_XXS: i = 4; break;
    case DType::IQ3_S: i = 5; break;
    default: R1_CHECK(false, "no lattice grid for {}", dtype_name(t));
  }
  std::call_once(once[i], [&] { maps[i] = build(t); });
  return maps[i];
}

}  // namespace r1::quant::iq

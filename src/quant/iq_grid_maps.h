// Nearest-grid-point maps of the lattice ("IQ") formats for their quantisers: for every point of
// the coordinate cube a quantiser can round to, either its index in the format's grid or the list
// of grid points nearest to it. ggml builds the same maps at start-up (iq2xs_init_impl /
// iq3xs_init_impl in ggml/src/ggml-quants.c, llama.cpp commit 80fb11ac); these are built here
// from r1's own grid tables (quant/iq_tables.h), once per type on first use (thread-safe).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace r1::quant::iq {

/// One format's grid in level coordinates and its neighbour map.
///  - dim: coordinates per grid point (8 for IQ2_* / IQ1_*, 4 for IQ3_*); bits: bits per
///    coordinate in a code (2 or 3). A point with levels l_k has code sum l_k << (bits * k).
///  - grid[g * dim + k]: coordinate k of grid point g as 2 l + 1 (ggml's "pos" form).
///  - map[code]: the grid index of `code` when it is a grid point, else -(offset + 1): at
///    neighbours[offset] the count c, then c grid indices. These are the grid points whose
///    squared distance to the code's point is among the `nwant` smallest distinct distances
///    (nwant 2 for IQ2_XXS/IQ2_XS and IQ3_XXS, 1 for IQ2_S, 3 for IQ1_S/IQ1_M and IQ3_S), sorted
///    by distance, then index. Codes are built for every level a quantiser produces (0..2 for the
///    2-bit grids, whose quantisers clamp to 2; 0..7 for IQ3); other codes map to 0 and are never
///    looked up.
struct GridMap {
  int dim = 0, bits = 0;
  int n_grid = 0;
  std::vector<int8_t> grid;
  std::vector<int32_t> map;
  std::vector<uint16_t> neighbours;
  const int8_t* point(int g) const { return grid.data() + size_t(g) * size_t(dim); }
};

/// The map of IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S or IQ1_M (IQ1_S and IQ1_M share one).
/// Throws CheckError for another type.
const GridMap& grid_map(DType t);

}  // namespace r1::quant::iq

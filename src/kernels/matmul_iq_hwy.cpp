// Highway (runtime-dispatched SIMD) inner loop of the IQ / TQ kernels: one unpacked super-block
// of 256 int16 weights (grid value times its sub-block scale) dotted with T tokens' Q8_K blocks,
// int8 -> int16 widening multiply-add into int32 lanes (pmaddwd / vpdpwssd), exact.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_iq_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstdint>

#include "kernels/matmul_iq.h"

HWY_BEFORE_NAMESPACE();
namespace r1::kernels::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void DotSuperBlock(const int16_t* w, const int8_t* a, int64_t a_stride, int64_t T, int32_t* out) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const size_t N = hn::Lanes(d16);
  int64_t t = 0;
  // Two tokens per pass share each weight load.
  for (; t + 2 <= T; t += 2) {
    const int8_t* a0 = a + t * a_stride;
    const int8_t* a1 = a0 + a_stride;
    auto s0 = hn::Zero(d32), s0b = hn::Zero(d32), s1 = hn::Zero(d32), s1b = hn::Zero(d32);
    for (size_t i = 0; i < 256; i += N) {
      const auto wv = hn::LoadU(d16, w + i);
      s0 = hn::ReorderWidenMulAccumulate(d32, wv, hn::PromoteTo(d16, hn::LoadU(d8, a0 + i)), s0, s0b);
      s1 = hn::ReorderWidenMulAccumulate(d32, wv, hn::PromoteTo(d16, hn::LoadU(d8, a1 + i)), s1, s1b);
    }
    out[t] = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s0b)));
    out[t + 1] = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s1, s1b)));
  }
  for (; t < T; ++t) {
    const int8_t* a0 = a + t * a_stride;
    auto s0 = hn::Zero(d32), s0b = hn::Zero(d32);
    for (size_t i = 0; i < 256; i += N)
      s0 = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, w + i),
                                         hn::PromoteTo(d16, hn::LoadU(d8, a0 + i)), s0, s0b);
    out[t] = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s0b)));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace r1::kernels::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace r1::kernels::detail {

HWY_EXPORT(DotSuperBlock);

void dot_super_block(const int16_t* w, const int8_t* a, int64_t a_stride, int64_t T, int32_t* out) {
  HWY_DYNAMIC_DISPATCH(DotSuperBlock)(w, a, a_stride, T, out);
}

}  // namespace r1::kernels::detail
#endif  // HWY_ONCE

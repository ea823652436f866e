// Integer dot-product kernels of the IQ / TQ / MXFP4 formats (see matmul_iq.h): the weights'
// sign/grid decoding is done once per super-block (quant::iq::unpack_block), so the per-token
// work is a plain int16 x int8 dot of 256 elements (Highway, matmul_iq_hwy.cpp).
#include "kernels/matmul_iq.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "kernels/matmul_detail.h"
#include "quant/iq_codec.h"
#include "quant/iq_tables.h"

namespace r1::kernels::detail {

namespace {

namespace iq = r1::quant::iq;

// Activations x[T, K] quantised to Q8_K: qs [T, K], d [T, K / 256].
struct Q8KActs {
  std::vector<int8_t> qs;
  std::vector<float> d;
};

int64_t grain_rows(int64_t n, const ThreadPool& pool) {
  return std::max<int64_t>(1, n / (int64_t(pool.size()) * 8));
}

void matmul_q8k(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  R1_CHECK(w.k % iq::kQK_K == 0, "{} weight with K={} (not whole blocks of 256)",
           dtype_name(w.dtype), w.k);
  const int64_t nb = w.k / iq::kQK_K;
  thread_local Q8KActs acts_buf;
  Q8KActs& acts = acts_buf;  // workers must see the caller's buffer, not their own thread_local
  acts.qs.resize(size_t(T * w.k));
  acts.d.resize(size_t(T * nb));
  pool.parallel_for(T, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t)
      iq::quantize_row_q8_K(x + t * w.k, acts.qs.data() + t * w.k, acts.d.data() + t * nb, w.k);
  });
  const float mult = iq::unpack_mult(w.dtype);
  pool.parallel_for(w.n, grain_rows(w.n, pool), [&](int64_t n0, int64_t n1, int) {
    thread_local std::vector<float> acc;
    thread_local std::vector<int32_t> dots;
    thread_local iq::Unpacked256 u;
    alignas(64) int16_t wq[iq::kQK_K];
    acc.resize(size_t(T));
    dots.resize(size_t(T));
    for (int64_t n = n0; n < n1; ++n) {
      const void* row = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t blk = 0; blk < nb; ++blk) {
        iq::unpack_block(w.dtype, row, blk, u);
        // Sub-block scales folded into int16 weights (|q| * ls <= 62 * 31): the per-token work is
        // then one plain widening dot product.
        for (int i = 0; i < iq::kQK_K; ++i) wq[i] = int16_t(u.q[i] * u.ls[i / 16]);
        dot_super_block(wq, acts.qs.data() + blk * iq::kQK_K, w.k, T, dots.data());
        for (int64_t t = 0; t < T; ++t)
          acc[size_t(t)] += u.d * acts.d[size_t(t * nb + blk)] * float(dots[size_t(t)]);
      }
      for (int64_t t = 0; t < T; ++t) y[t * w.n + n] = mult * acc[size_t(t)];
    }
  });
}

void matmul_mxfp4(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  R1_CHECK(w.k % iq::kQK_MXFP4 == 0, "MXFP4 weight with K={} (not whole blocks of 32)", w.k);
  thread_local QuantizedActs qa_buf;
  QuantizedActs& qa = qa_buf;
  quantize_acts(x, T, w.k, qa, pool);
  const int64_t nbp = qa.kp / 32;
  const int64_t nb = w.k / iq::kQK_MXFP4;
  pool.parallel_for(w.n, grain_rows(w.n, pool), [&](int64_t n0, int64_t n1, int) {
    thread_local std::vector<float> acc;
    acc.resize(size_t(T));
    for (int64_t n = n0; n < n1; ++n) {
      const auto* row = reinterpret_cast<const iq::BlockMXFP4*>(static_cast<const uint8_t*>(w.data) +
                                                                size_t(n) * w.row_bytes);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t blk = 0; blk < nb; ++blk) {
        int8_t q[32];
        for (int j = 0; j < 16; ++j) {
          q[j] = iq::kValuesMxfp4[row[blk].qs[j] & 0xf];
          q[j + 16] = iq::kValuesMxfp4[row[blk].qs[j] >> 4];
        }
        const float dw = iq::e8m0_to_f32_half(row[blk].e);
        for (int64_t t = 0; t < T; ++t) {
          const int8_t* a = qa.qs.data() + t * qa.kp + blk * 32;
          int32_t s = 0;
          for (int j = 0; j < 32; ++j) s += int32_t(q[j]) * int32_t(a[j]);
          acc[size_t(t)] += qa.d[size_t(t * nbp + blk)] * dw * float(s);
        }
      }
      for (int64_t t = 0; t < T; ++t) y[t * w.n + n] = acc[size_t(t)];
    }
  });
}

}  // namespace

bool matmul_iq_handles(DType t) { return iq::is_iq_dtype(t); }

void matmul_iq(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  R1_CHECK(matmul_iq_handles(w.dtype), "matmul_iq: {} is not an IQ/TQ/MXFP4 type",
           dtype_name(w.dtype));
  if (w.dtype == DType::MXFP4)
    matmul_mxfp4(w, x, y, T, pool);
  else
    matmul_q8k(w, x, y, T, pool);
}

}  // namespace r1::kernels::detail

#include "kernels/matmul.h"
#include "kernels/matmul_observer.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "kernels/matmul_detail.h"
#include "kernels/matmul_iq.h"
#include "kernels/matmul_quant.h"
#include "quant/dequantize.h"

namespace r1::kernels {

namespace {

// At or above this many tokens, float-like weights go through OpenBLAS sgemm (F32 directly;
// BF16/F16/F8 after converting a chunk of rows to f32). Below, the SIMD dot kernels stream the
// weights once per 4 tokens, which is what decode needs.
constexpr int64_t kBlasMinTokens = 8;
// Rows converted per sgemm call for BF16/F16/F8 weights (bounds the f32 scratch to 256*K floats).
constexpr int64_t kConvertRows = 256;
// Tokens per pass of the VNNI prefill kernel: each 16-row group is repacked once per pass (and
// the weights streamed from memory once per pass) while the pass's Q8_0 activations (about
// 1 byte per element) are swept from L2/L3 for every group. 512 took 7-12% less CPU time than
// 128 at pp512 on Zen4 (Qwen2-1.5B shapes, one thread).
constexpr int64_t kVnniTokenChunk = 512;

int64_t row_grain(int64_t n, const ThreadPool& pool, int64_t tile) {
  // Chunks of whole tiles, about 8 per thread, never below one tile.
  const int64_t per = (n + int64_t(pool.size()) * 8 - 1) / (int64_t(pool.size()) * 8);
  return std::max<int64_t>(tile, (per + tile - 1) / tile * tile);
}

// Smallest chunk (in tiles) of a VNNI matmul: the pool's guided scheduling shrinks chunks
// toward it as a loop drains, so threads finish together; 16 KiB of weights keeps a claim (one atomic on a
// shared cache line) well under the time to stream the chunk.
int64_t vnni_grain(int64_t unit_bytes) {
  return std::max<int64_t>(1, (int64_t(16) << 10) / std::max<int64_t>(1, unit_bytes));
}

void sgemm_rows(const float* wf, int64_t ldw, const float* x, float* y, int64_t T, int64_t N,
                int64_t K, int64_t n0, int64_t rows) {
  // y[T, n0:n0+rows] = x[T, K] . wf[rows, K]^T (row-major, ldc = N).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(rows), int(K), 1.0f, x, int(K),
              wf, int(ldw), 0.0f, y + n0, int(N));
}

}  // namespace

WeightView weight_view(const Tensor& w, const Tensor* scale_inv, int64_t block_n, int64_t block_k) {
  R1_CHECK(w.ndim() == 2, "weight must be 2-d, got {}", w.shape_str());
  WeightView v;
  v.dtype = w.dtype();
  v.data = w.bytes();
  v.n = w.dim(0);
  v.k = w.dim(1);
  v.row_bytes = w.row_bytes();
  if (w.dtype() == DType::F8_E4M3) {
    R1_CHECK(scale_inv != nullptr && scale_inv->dtype() == DType::F32,
             "F8_E4M3 weight needs an F32 weight_scale_inv");
    R1_CHECK(scale_inv->ndim() == 2 && scale_inv->dim(0) == (v.n + block_n - 1) / block_n &&
                 scale_inv->dim(1) == (v.k + block_k - 1) / block_k,
             "weight_scale_inv {} does not match weight {} with {}x{} blocks",
             scale_inv->shape_str(), w.shape_str(), block_n, block_k);
    v.scale_inv = scale_inv->data<float>();
    v.block_n = block_n;
    v.block_k = block_k;
  }
  return v;
}

void matmul_ref(const WeightView& w, const float* x, float* y, int64_t T) {
  std::vector<float> row(static_cast<size_t>(w.k));
  for (int64_t n = 0; n < w.n; ++n) {
    const auto* src = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
    quant::dequantize_row(w.dtype, src, row.data(), w.k);
    if (w.dtype == DType::F8_E4M3) {
      const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
      for (int64_t i = 0; i < w.k; ++i) row[i] *= w.scale_inv[(n / w.block_n) * kb + i / w.block_k];
    }
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0;
      const float* xt = x + t * w.k;
      for (int64_t i = 0; i < w.k; ++i) acc += double(row[i]) * double(xt[i]);
      y[t * w.n + n] = float(acc);
    }
  }
}

namespace detail {

void quantize_acts(const float* x, int64_t T, int64_t K, QuantizedActs& a, ThreadPool& pool) {
  R1_CHECK(K % 32 == 0, "Q8_0 activations need K % 32 == 0, got K={}", K);
  a.T = T;
  a.K = K;
  a.nb = K / 32;
  const int64_t nbp = (a.nb + 1) / 2 * 2;
  a.kp = nbp * 32;
  a.qs.resize(size_t(T * a.kp));
  a.d.resize(size_t(T * nbp));
  a.q8off.resize(size_t(T * nbp));
  a.q4off.resize(size_t(T * nbp));
  a.xsd.resize(size_t(T * nbp));
  pool.parallel_for(T, 4, [&](int64_t b, int64_t e, int) {
    thread_local std::vector<int32_t> sums;
    sums.assign(size_t(nbp), 0);
    for (int64_t t = b; t < e; ++t) {
      int8_t* qs = a.qs.data() + t * a.kp;
      float* d = a.d.data() + t * nbp;
      quantize_row_q8_acts(x + t * K, K, qs, d, sums.data());
      std::fill(qs + K, qs + a.kp, int8_t(0));
      std::fill(d + a.nb, d + nbp, 0.0f);
      for (int64_t blk = 0; blk < nbp; ++blk) {
        const int32_t sum = blk < a.nb ? sums[size_t(blk)] : 0;
        const size_t i = size_t(t * nbp + blk);
        a.xsd[i] = d[blk] * float(sum);
        a.q8off[i] = -128 * sum;
        a.q4off[i] = -8 * sum;
      }
    }
  });
}

void matmul_path(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool,
                 MatmulPath path) {
  R1_CHECK(w.n > 0 && w.k > 0 && T >= 0, "matmul of weight [{}, {}] with T={}", w.n, w.k, T);
  if (T == 0) return;
  switch (w.dtype) {
    case DType::Q8_0:
    case DType::Q4_0: {
      R1_CHECK(w.k % 32 == 0, "{} weight with K={} (not whole blocks)", dtype_name(w.dtype), w.k);
      // Per calling thread, reused across calls (no allocation per token). Workers must see the
      // caller's buffer, so the lambdas below capture this reference, not the thread_local.
      thread_local QuantizedActs qa_buf;
      QuantizedActs& qa = qa_buf;
      quantize_acts(x, T, w.k, qa, pool);
      const bool vnni = path == MatmulPath::Vnni || (path == MatmulPath::Auto && vnni_available());
      if (vnni) {
        R1_CHECK(vnni_available(), "the AVX512-VNNI path is not available on this CPU");
        for (int64_t t0 = 0; t0 < T; t0 += kVnniTokenChunk) {
          const int64_t t1 = std::min(T, t0 + kVnniTokenChunk);
          const int64_t unit = vnni_row_unit(t1 - t0);
          const int64_t tiles = (w.n + unit - 1) / unit;
          pool.parallel_for(tiles, vnni_grain(unit * int64_t(w.row_bytes)), [&](int64_t b, int64_t e, int) {
            matmul_rows_vnni(w, qa, y, t0, t1, b * unit, std::min(w.n, e * unit));
          });
        }
      } else {
        pool.parallel_for(w.n, row_grain(w.n, pool, 4), [&](int64_t b, int64_t e, int) {
          matmul_rows_generic(w, x, &qa, y, T, b, e);
        });
      }
      return;
    }
    case DType::F32:
      if (T >= kBlasMinTokens) {
        sgemm_rows(static_cast<const float*>(w.data), int64_t(w.row_bytes / 4), x, y, T, w.n,
                   w.k, 0, w.n);
        return;
      }
      break;
    default:
      if (matmul_iq_handles(w.dtype)) {  // IQ/TQ/MXFP4: matmul_iq.cpp
        matmul_iq(w, x, y, T, pool);
        return;
      }
      R1_CHECK(w.dtype == DType::BF16 || w.dtype == DType::F16 || w.dtype == DType::F8_E4M3 ||
                   quant_dot(w.dtype) != nullptr,
               "matmul: unsupported weight dtype {}", dtype_name(w.dtype));
      if (quant_dot(w.dtype) != nullptr && T < kBlasMinTokens) {
        matmul_quant(w, x, y, T, pool);
        return;
      }
      if (T >= kBlasMinTokens) {
        // Convert a chunk of rows to f32 (threaded), then one sgemm per chunk.
        thread_local std::vector<float> wf_buf;
        std::vector<float>& wf = wf_buf;  // captured by reference by the worker lambdas
        wf.resize(size_t(std::min(kConvertRows, w.n) * w.k));
        const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
        for (int64_t n0 = 0; n0 < w.n; n0 += kConvertRows) {
          const int64_t rows = std::min(kConvertRows, w.n - n0);
          pool.parallel_for(rows, 8, [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) {
              const int64_t n = n0 + r;
              float* dst = wf.data() + r * w.k;
              quant::dequantize_row(w.dtype,
                                    static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes,
                                    dst, w.k);
              if (w.dtype == DType::F8_E4M3) {
                const float* s = w.scale_inv + (n / w.block_n) * kb;
                for (int64_t i = 0; i < w.k; ++i) dst[i] *= s[i / w.block_k];
              }
            }
          });
          sgemm_rows(wf.data(), w.k, x, y, T, w.n, w.k, n0, rows);
        }
        return;
      }
      break;
  }
  pool.parallel_for(w.n, row_grain(w.n, pool, 4), [&](int64_t b, int64_t e, int) {
    matmul_rows_generic(w, x, nullptr, y, T, b, e);
  });
}

}  // namespace detail

namespace detail {
MatmulObserver g_matmul_observer = nullptr;
void* g_matmul_observer_user = nullptr;
}  // namespace detail

void set_matmul_observer(MatmulObserver fn, void* user) {
  detail::g_matmul_observer = fn;
  detail::g_matmul_observer_user = user;
}

void matmul(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  notify_matmul(w, x, T);
  detail::matmul_path(w, x, y, T, pool, detail::MatmulPath::Auto);
}

}  // namespace r1::kernels

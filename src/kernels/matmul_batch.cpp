// matmul_batch: the rows of many small matmuls as one flat range of row units (4 rows, or the
// VNNI kernel's unit for the job's token count).
#include "kernels/matmul_batch.h"
#include "kernels/matmul_observer.h"

#include <algorithm>
#include <vector>

#include "kernels/matmul_detail.h"
#include "kernels/matmul_iq.h"
#include "kernels/matmul_quant.h"

namespace r1::kernels {

namespace {

constexpr int64_t kQuantMaxTokens = 32;  // larger quantised jobs run alone through matmul
constexpr int64_t kFloatMaxTokens = 8;   // at and above, float weights go to sgemm
constexpr int64_t kUnitRows = 4;         // rows per unit (generic kernels, VNNI decode tiles)

bool quantized(DType t) { return t == DType::Q8_0 || t == DType::Q4_0; }

struct Slot {
  int64_t job = 0;
  int64_t unit0 = 0;  // first unit of this job in the flat range
  int qa = -1;        // index into the quantised activations, -1 for float weights
  int ba = -1;        // index into the block activations (matmul_quant types), else -1
  int64_t unit = kUnitRows;  // rows per unit of this job
};

struct Buffers {
  std::vector<detail::QuantizedActs> qa;
  std::vector<detail::BlockActs> ba;
  std::vector<Slot> slots;
};

}  // namespace

void matmul_batch(std::span<const MatmulJob> jobs, ThreadPool& pool) {
  for (const MatmulJob& j : jobs) notify_matmul(j.w, j.x, j.T);
  thread_local Buffers buf;  // per calling thread; the workers below see it through `b`
  Buffers& b = buf;
  b.slots.clear();
  const bool vnni = detail::vnni_available();
  int n_qa = 0, n_ba = 0;
  int64_t units = 0;
  const MatmulJob* prev_q = nullptr;
  const MatmulJob* prev_b = nullptr;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const MatmulJob& job = jobs[j];
    R1_CHECK(job.w.n > 0 && job.w.k > 0 && job.T >= 0, "matmul of weight [{}, {}] with T={}",
             job.w.n, job.w.k, job.T);
    if (job.T == 0) continue;
    const bool q = quantized(job.w.dtype);
    const detail::QuantDot* qd = detail::quant_dot(job.w.dtype);
    // IQ/TQ/MXFP4: one by one through matmul_iq (not yet a QuantDot row kernel).
    if (detail::matmul_iq_handles(job.w.dtype) ||
        (q ? job.T > kQuantMaxTokens : job.T >= kFloatMaxTokens)) {
      // matmul_path, not matmul: the observer has seen this job already.
      detail::matmul_path(job.w, job.x, job.y, job.T, pool, detail::MatmulPath::Auto);
      continue;
    }
    Slot s;
    s.job = int64_t(j);
    s.unit0 = units;
    if (q) {
      R1_CHECK(job.w.k % 32 == 0, "{} weight with K={} (not whole blocks)",
               dtype_name(job.w.dtype), job.w.k);
      if (prev_q != nullptr && prev_q->x == job.x && prev_q->w.k == job.w.k &&
          prev_q->T == job.T) {
        s.qa = n_qa - 1;  // same activations as the previous quantised job (gate and up)
      } else {
        if (int(b.qa.size()) <= n_qa) b.qa.resize(size_t(n_qa + 1));
        // T <= 32 tokens at grain 4 in a pool loop of its own is small; quantise serially.
        detail::quantize_acts(job.x, job.T, job.w.k, b.qa[size_t(n_qa)], pool);
        s.qa = n_qa++;
      }
      prev_q = &job;
    }
    if (qd != nullptr) {  // integer kernels of matmul_quant: activations in qd->act blocks
      if (prev_b != nullptr && prev_b->x == job.x && prev_b->w.k == job.w.k &&
          prev_b->T == job.T && detail::quant_dot(prev_b->w.dtype)->act == qd->act) {
        s.ba = n_ba - 1;
      } else {
        if (int(b.ba.size()) <= n_ba) b.ba.resize(size_t(n_ba + 1));
        detail::quantize_block_acts(qd->act, job.x, job.T, job.w.k, b.ba[size_t(n_ba)], pool);
        s.ba = n_ba++;
      }
      prev_b = &job;
    }
    if (q && vnni) s.unit = detail::vnni_row_unit(job.T);
    b.slots.push_back(s);
    units += (job.w.n + s.unit - 1) / s.unit;
  }
  if (units == 0) return;
  // About 8 chunks per thread (as kernels::matmul) over all jobs' rows.
  const int64_t grain = std::max<int64_t>(1, units / (int64_t(pool.size()) * 8));
  pool.parallel_for(units, grain, [&](int64_t u0, int64_t u1, int) {
    // The slot holding unit u0: slots are sorted by unit0.
    auto it = std::upper_bound(b.slots.begin(), b.slots.end(), u0,
                               [](int64_t u, const Slot& s) { return u < s.unit0; });
    for (--it; it != b.slots.end() && it->unit0 < u1; ++it) {
      const MatmulJob& job = jobs[size_t(it->job)];
      const int64_t job_units = (job.w.n + it->unit - 1) / it->unit;
      const int64_t a = std::max(u0, it->unit0) - it->unit0;
      const int64_t e = std::min(u1, it->unit0 + job_units) - it->unit0;
      const int64_t n0 = a * it->unit, n1 = std::min(job.w.n, e * it->unit);
      if (it->ba >= 0) {
        detail::quant_dot(job.w.dtype)->rows(job.w, b.ba[size_t(it->ba)], job.y, n0, n1);
      } else if (it->qa < 0) {
        detail::matmul_rows_generic(job.w, job.x, nullptr, job.y, job.T, n0, n1);
      } else if (vnni) {
        detail::matmul_rows_vnni(job.w, b.qa[size_t(it->qa)], job.y, 0, job.T, n0, n1);
      } else {
        detail::matmul_rows_generic(job.w, job.x, &b.qa[size_t(it->qa)], job.y, job.T, n0, n1);
      }
    }
  });
}

}  // namespace r1::kernels

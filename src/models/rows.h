// Row selection shared by the architectures' forward(Batch): the rows whose outputs are wanted.
#pragma once
#include <cstdint>

#include "models/batch.h"
#include "nn/context.h"

namespace r1::models {

/// The rows of x [N, D] (N = batch.size()) whose batch.out has `flag`, in row order: copied into
/// dst when given; else x itself when every row is flagged; else copied into an activation
/// buffer (`scratch` at inference, a tape buffer while training: nn::activation_buffer). Copies
/// are recorded on ctx.tape. Returns where the rows are, null when no row is flagged.
float* gather_rows(nn::Context& ctx, const Batch& batch, uint8_t flag, float* x, int64_t D,
                   float* dst, float* scratch);

}  // namespace r1::models

// RMS_NORM as ggml computes it: the sum of squares of the float products accumulated in double,
// the mean rounded to float, and each element multiplied by 1 / sqrtf(mean + eps).
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

void run_rms_norm(const CompiledNode& node, const OpContext& context) {
    const int64_t length = node.src[0].shape[0];
    const int64_t n_rows = node.src[0].n_rows();
    const int64_t task_rows = rows_per_task(length);
    const float eps = node.params.eps;
    context.pool.parallel_for(ceil_div(n_rows, task_rows), [&](int64_t task, int) {
        const int64_t row_end = std::min(n_rows, (task + 1) * task_rows);
        for (int64_t row = task * task_rows; row < row_end; ++row) {
            const float* x = node.src[0].f32() + row * length;
            float* y = node.dst.f32() + row * length;
            double sum = 0.0;
            for (int64_t i = 0; i < length; ++i) sum += static_cast<double>(x[i] * x[i]);
            const auto mean = static_cast<float>(sum / static_cast<double>(length));
            const float scale = 1.0f / std::sqrt(mean + eps);
            for (int64_t i = 0; i < length; ++i) y[i] = x[i] * scale;
        }
    });
}

}  // namespace tessera::backend::cpu

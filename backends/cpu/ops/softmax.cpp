// SOFTMAX per row as ggml computes it: the scaled row, its maximum subtracted before expf, the
// sum of the exponentials accumulated in double, then one multiplication by the inverse sum.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

void run_softmax(const CompiledNode& node, const OpContext& context) {
    const int64_t length = node.src[0].shape[0];
    const int64_t n_rows = node.src[0].n_rows();
    const int64_t task_rows = rows_per_task(length);
    const float scale = node.params.scale;
    context.pool.parallel_for(ceil_div(n_rows, task_rows), [&](int64_t task, int) {
        const int64_t row_end = std::min(n_rows, (task + 1) * task_rows);
        for (int64_t row = task * task_rows; row < row_end; ++row) {
            const float* x = node.src[0].f32() + row * length;
            float* y = node.dst.f32() + row * length;
            float max = -std::numeric_limits<float>::infinity();
            for (int64_t i = 0; i < length; ++i) {
                y[i] = x[i] * scale;
                max = std::max(max, y[i]);
            }
            double sum = 0.0;
            for (int64_t i = 0; i < length; ++i) {
                y[i] = std::exp(y[i] - max);
                sum += static_cast<double>(y[i]);
            }
            const auto inverse_sum = static_cast<float>(1.0 / sum);
            for (int64_t i = 0; i < length; ++i) y[i] *= inverse_sum;
        }
    });
}

}  // namespace tessera::backend::cpu

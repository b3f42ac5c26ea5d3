// MTP_HEAD, the fused input stage of a draft head, one column (token) per task unit. The NextN
// style normalises each half as run_rms_norm does (the sum of squares of float products in
// double, the mean rounded to float, one reciprocal square root) and then multiplies by the
// weight, so that it equals RMS_NORM followed by MUL bit for bit; Medusa is SILU then ADD.
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops/activations.h"
#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

void normalise_into(const float* x, const float* weight, int64_t length, float eps, float* y) {
    double sum = 0.0;
    for (int64_t i = 0; i < length; ++i) sum += static_cast<double>(x[i] * x[i]);
    const auto mean = static_cast<float>(sum / static_cast<double>(length));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < length; ++i) y[i] = (x[i] * scale) * weight[i];
}

void run_next_n(const CompiledNode& node, const OpContext& context) {
    const int64_t n_embd = node.src[0].shape[0];
    const int64_t n_columns = node.src[0].n_rows();
    const int64_t task_columns = rows_per_task(2 * n_embd);
    const float eps = node.params.eps;
    context.pool.parallel_for(ceil_div(n_columns, task_columns), [&](int64_t task, int) {
        const int64_t end = std::min(n_columns, (task + 1) * task_columns);
        for (int64_t column = task * task_columns; column < end; ++column) {
            float* y = node.dst.f32() + column * 2 * n_embd;
            normalise_into(node.src[0].f32() + column * n_embd, node.src[2].f32(), n_embd, eps, y);
            normalise_into(node.src[1].f32() + column * n_embd, node.src[3].f32(), n_embd, eps,
                           y + n_embd);
        }
    });
}

void run_medusa(const CompiledNode& node, const OpContext& context) {
    const int64_t n_embd = node.src[0].shape[0];
    const int64_t n = node.dst.n_elements();
    const float* h = node.src[0].f32();
    const float* z = node.src[1].f32();
    const float* bias = node.src[2].data != nullptr ? node.src[2].f32() : nullptr;
    float* y = node.dst.f32();
    context.pool.parallel_for(ceil_div(n, kElementsPerTask), [&](int64_t task, int) {
        const int64_t end = std::min(n, (task + 1) * kElementsPerTask);
        for (int64_t i = task * kElementsPerTask; i < end; ++i) {
            const float pre = bias != nullptr ? z[i] + bias[i % n_embd] : z[i];
            y[i] = h[i] + silu(pre);
        }
    });
}

}  // namespace

void run_mtp_head(const CompiledNode& node, const OpContext& context) {
    if (node.params.mtp_style == MtpStyle::NextN) {
        run_next_n(node, context);
    } else {
        run_medusa(node, context);
    }
}

}  // namespace tessera::backend::cpu

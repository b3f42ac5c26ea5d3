// ADD and MUL with broadcasting: src1 repeats along each dimension where its extent is 1.
#include <algorithm>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

template <class Combine>
void run_broadcast(const CompiledNode& node, const OpContext& context, Combine combine) {
    const TensorRef& a = node.src[0];
    const TensorRef& b = node.src[1];
    const TensorRef& out = node.dst;
    const int64_t length = a.shape[0];
    const int64_t n_rows = a.n_rows();
    const int64_t task_rows = rows_per_task(length);
    const bool b_is_scalar_per_row = b.shape[0] == 1;

    context.pool.parallel_for(ceil_div(n_rows, task_rows), [&](int64_t task, int) {
        const int64_t row_end = std::min(n_rows, (task + 1) * task_rows);
        for (int64_t row = task * task_rows; row < row_end; ++row) {
            // The row's coordinates in a, then the row of b they map to.
            const int64_t i1 = row % a.shape[1];
            const int64_t i2 = (row / a.shape[1]) % a.shape[2];
            const int64_t i3 = row / (a.shape[1] * a.shape[2]);
            const int64_t b_row = (i1 % b.shape[1]) +
                                  b.shape[1] * ((i2 % b.shape[2]) + b.shape[2] * (i3 % b.shape[3]));
            const float* x = a.f32() + row * length;
            const float* y = b.f32() + b_row * b.shape[0];
            float* z = out.f32() + row * length;
            if (b_is_scalar_per_row) {
                const float value = y[0];
                for (int64_t i = 0; i < length; ++i) z[i] = combine(x[i], value);
            } else {
                for (int64_t i = 0; i < length; ++i) z[i] = combine(x[i], y[i]);
            }
        }
    });
}

}  // namespace

void run_binary(const CompiledNode& node, const OpContext& context) {
    if (node.op == Op::ADD) {
        run_broadcast(node, context, [](float x, float y) { return x + y; });
    } else {
        run_broadcast(node, context, [](float x, float y) { return x * y; });
    }
}

}  // namespace tessera::backend::cpu

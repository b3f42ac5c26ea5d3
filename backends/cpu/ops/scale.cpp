// SCALE: dst = src0 * params.scale.
#include <algorithm>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

void run_scale(const CompiledNode& node, const OpContext& context) {
    const float* x = node.src[0].f32();
    float* y = node.dst.f32();
    const float scale = node.params.scale;
    const int64_t n = node.dst.n_elements();
    context.pool.parallel_for(ceil_div(n, kElementsPerTask), [&](int64_t task, int) {
        const int64_t end = std::min(n, (task + 1) * kElementsPerTask);
        for (int64_t i = task * kElementsPerTask; i < end; ++i) y[i] = x[i] * scale;
    });
}

}  // namespace tessera::backend::cpu

// Gated units: dst = act(gate) * up, SWIGLU with SILU and GEGLU with the tanh GELU.
#include <algorithm>

#include "backends/cpu/ops/activations.h"
#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

template <class Activation>
void run_gated(const CompiledNode& node, const OpContext& context, Activation activation) {
    const float* gate = node.src[0].f32();
    const float* up = node.src[1].f32();
    float* y = node.dst.f32();
    const int64_t n = node.dst.n_elements();
    context.pool.parallel_for(ceil_div(n, kElementsPerTask), [&](int64_t task, int) {
        const int64_t end = std::min(n, (task + 1) * kElementsPerTask);
        for (int64_t i = task * kElementsPerTask; i < end; ++i) y[i] = activation(gate[i]) * up[i];
    });
}

}  // namespace

void run_glu(const CompiledNode& node, const OpContext& context) {
    if (node.op == Op::SWIGLU) {
        run_gated(node, context, silu);
    } else {
        run_gated(node, context, gelu_tanh);
    }
}

}  // namespace tessera::backend::cpu

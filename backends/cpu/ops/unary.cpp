// Element-wise activations: SILU, GELU (exact, with erf), GELU_TANH and SOFTCAP, with ggml's
// formulas and constants (ggml-cpu vec.h) evaluated in float.
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops/activations.h"
#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

template <class Activation>
void run_elementwise(const CompiledNode& node, const OpContext& context, Activation activation) {
    const float* x = node.src[0].f32();
    float* y = node.dst.f32();
    const int64_t n = node.dst.n_elements();
    context.pool.parallel_for(ceil_div(n, kElementsPerTask), [&](int64_t task, int) {
        const int64_t end = std::min(n, (task + 1) * kElementsPerTask);
        for (int64_t i = task * kElementsPerTask; i < end; ++i) y[i] = activation(x[i]);
    });
}

}  // namespace

void run_unary(const CompiledNode& node, const OpContext& context) {
    switch (node.op) {
        case Op::SILU:
            run_elementwise(node, context, silu);
            break;
        case Op::GELU:
            run_elementwise(node, context, gelu_erf);
            break;
        case Op::GELU_TANH:
            run_elementwise(node, context, gelu_tanh);
            break;
        default: {  // SOFTCAP: ggml scales by 1/cap, takes tanh, then scales by cap
            const float cap = node.params.softcap;
            const float inverse_cap = 1.0f / cap;
            run_elementwise(node, context, [cap, inverse_cap](float x) {
                return std::tanh(x * inverse_cap) * cap;
            });
            break;
        }
    }
}

}  // namespace tessera::backend::cpu

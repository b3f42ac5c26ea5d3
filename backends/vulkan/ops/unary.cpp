// SCALE, SILU, GELU, GELU_TANH and SOFTCAP: shaders/unary.comp, one thread per element.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

namespace {

// shaders/unary.comp's OP constant.
uint32_t unary_op(Op op) {
    switch (op) {
        case Op::SCALE:
            return 0;
        case Op::SILU:
            return 1;
        case Op::GELU:
            return 2;
        case Op::GELU_TANH:
            return 3;
        default:  // SOFTCAP
            return 4;
    }
}

}  // namespace

void build_unary(const NodeContext& context, std::vector<Dispatch>& out) {
    const OpParams& params = context.node.params;
    const auto n = static_cast<uint64_t>(context.dst.tensor->n_elements());
    Dispatch dispatch;
    dispatch.shader = "unary";
    dispatch.constants = {context.tuning.workgroup_size, unary_op(context.node.op)};
    const float parameter = context.node.op == Op::SOFTCAP ? params.softcap : params.scale;
    // The CPU multiplies by 1 / cap, rounded to float once.
    const float inverse = context.node.op == Op::SOFTCAP ? 1.0f / params.softcap : 0.0f;
    dispatch.push.address(context.src[0].address)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(n))
        .f32(parameter)
        .f32(inverse);
    dispatch.groups = grid_of(ceil_div(n, context.tuning.workgroup_size), context.tuning);
    dispatch.reads = {context.src[0].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

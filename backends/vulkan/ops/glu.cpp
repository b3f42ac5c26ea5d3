// SWIGLU and GEGLU: shaders/glu.comp, one thread per element.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_glu(const NodeContext& context, std::vector<Dispatch>& out) {
    const auto n = static_cast<uint64_t>(context.dst.tensor->n_elements());
    Dispatch dispatch;
    dispatch.shader = "glu";
    dispatch.constants = {context.tuning.workgroup_size, context.node.op == Op::SWIGLU ? 0u : 1u};
    dispatch.push.address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(n));
    dispatch.groups = grid_of(ceil_div(n, context.tuning.workgroup_size), context.tuning);
    dispatch.reads = {context.src[0].range, context.src[1].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

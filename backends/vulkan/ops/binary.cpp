// ADD and MUL with broadcasting: shaders/binary.comp, one thread per element.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_binary(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& a = *context.src[0].tensor;
    const Tensor& b = *context.src[1].tensor;
    const auto n = static_cast<uint64_t>(a.n_elements());
    const auto extent = [](int64_t value) { return static_cast<uint32_t>(value); };
    Dispatch dispatch;
    dispatch.shader = "binary";
    dispatch.constants = {context.tuning.workgroup_size, context.node.op == Op::ADD ? 0u : 1u};
    dispatch.push.address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(n))
        .u32(extent(a.shape[0]))
        .u32(extent(a.shape[1]))
        .u32(extent(a.shape[2]))
        .u32(extent(b.shape[0]))
        .u32(extent(b.shape[1]))
        .u32(extent(b.shape[2]))
        .u32(extent(b.shape[3]));
    dispatch.groups = grid_of(ceil_div(n, context.tuning.workgroup_size), context.tuning);
    dispatch.reads = {context.src[0].range, context.src[1].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

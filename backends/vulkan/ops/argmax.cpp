// ARGMAX: shaders/argmax.comp, one workgroup per row.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_argmax(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& x = *context.src[0].tensor;
    const auto rows = static_cast<uint64_t>(n_rows(x));
    Dispatch dispatch;
    dispatch.shader = "argmax";
    dispatch.constants = {context.tuning.workgroup_size};
    dispatch.push.address(context.src[0].address)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(x.shape[0]))
        .u32(static_cast<uint32_t>(rows));
    dispatch.groups = grid_of(rows, context.tuning);
    dispatch.reads = {context.src[0].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

// ROPE: shaders/rope.comp, one workgroup per (token, head). theta_scale is computed here as the
// CPU computes it (powf in float), so that both backends start from the same float.
#include <cmath>

#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_rope(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& x = *context.src[0].tensor;
    const OpParams& params = context.node.params;
    const auto rows = static_cast<uint64_t>(x.shape[1] * x.shape[2]);
    const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_rot));
    Dispatch dispatch;
    dispatch.shader = "rope";
    dispatch.constants = {context.tuning.workgroup_size};
    dispatch.push.address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(x.shape[0]))
        .u32(static_cast<uint32_t>(x.shape[1]))
        .u32(static_cast<uint32_t>(rows))
        .u32(static_cast<uint32_t>(params.n_rot))
        .u32(params.rope_style == RopeStyle::NeoX ? 1u : 0u)
        .f32(params.freq_scale)
        .f32(theta_scale);
    dispatch.groups = grid_of(rows, context.tuning);
    dispatch.reads = {context.src[0].range, context.src[1].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

// FLASH_ATTN: shaders/flash_attn.comp (a variant per K and V cache type), one workgroup per
// query row. Softcapping folds the scale into tanh's argument, as the CPU does.
#include <algorithm>

#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_flash_attn(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& q = *context.src[0].tensor;
    const Tensor& k = *context.src[1].tensor;
    const Tensor& v = *context.src[2].tensor;
    const OpParams& params = context.node.params;
    const int64_t head_dim = q.shape[0];
    const int64_t n_heads = q.shape[1];
    const int64_t n_kv_heads = k.shape[0] / head_dim;
    const auto rows = static_cast<uint64_t>(n_heads * q.shape[2]);
    const bool softcapped = params.softcap > 0.0f;
    const uint32_t workgroup = context.tuning.workgroup_size;
    const uint32_t dims_per_thread =
        std::max<uint32_t>(1, ceil_div(static_cast<uint64_t>(head_dim), workgroup));

    Dispatch dispatch;
    dispatch.shader = "flash_attn_" + type_suffix(k.type) + "_" + type_suffix(v.type);
    dispatch.constants = {workgroup, dims_per_thread};
    dispatch.push.address(context.src[0].address)
        .word_address(context.src[1].address)
        .word_address(context.src[2].address)
        .address(context.src[3].present() ? context.src[3].address : 0)
        .address(context.dst.address)
        .address(context.step_values)
        .u32(static_cast<uint32_t>(head_dim))
        .u32(static_cast<uint32_t>(n_heads))
        .u32(static_cast<uint32_t>(rows))
        .u32(static_cast<uint32_t>(n_heads / n_kv_heads))
        .u32(static_cast<uint32_t>(k.row_bytes()))
        .u32(static_cast<uint32_t>(v.row_bytes()))
        .u32(context.src[3].present() ? static_cast<uint32_t>(context.src[3].tensor->shape[0]) : 0)
        .u32(params.causal ? 1u : 0u)
        .u32(static_cast<uint32_t>(params.window))
        .f32(softcapped ? params.scale / params.softcap : params.scale)
        .f32(softcapped ? params.softcap : 0.0f);
    dispatch.groups = grid_of(rows, context.tuning);
    dispatch.reads = {context.src[0].range, context.src[1].range, context.src[2].range};
    if (context.src[3].present()) dispatch.reads.push_back(context.src[3].range);
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

// MTP_HEAD: shaders/mtp_head.comp, one workgroup per column (NextN) or one thread per element
// (Medusa).
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_mtp_head(const NodeContext& context, std::vector<Dispatch>& out) {
    const bool next_n = context.node.params.mtp_style == MtpStyle::NextN;
    const Tensor& first = *context.src[0].tensor;
    const auto n_embd = static_cast<uint32_t>(first.shape[0]);
    const auto count = static_cast<uint64_t>(next_n ? first.shape[1] : first.n_elements());
    const bool has_bias = !next_n && context.src[2].present();
    Dispatch dispatch;
    dispatch.shader = "mtp_head";
    dispatch.constants = {context.tuning.workgroup_size, next_n ? 0u : 1u};
    dispatch.push.address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.src[2].present() ? context.src[2].address : 0)
        .address(context.src[3].present() ? context.src[3].address : 0)
        .address(context.dst.address)
        .u32(n_embd)
        .u32(static_cast<uint32_t>(count))
        .f32(context.node.params.eps)
        .u32(has_bias ? 1u : 0u);
    dispatch.groups =
        grid_of(next_n ? count : ceil_div(count, context.tuning.workgroup_size), context.tuning);
    for (const TensorView& source : context.src) {
        if (source.present()) dispatch.reads.push_back(source.range);
    }
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

// DRAFT_VERIFY: shaders/draft_verify.comp, one workgroup for the whole walk (it is sequential
// from depth to depth; each row's scans are spread over the workgroup).
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_draft_verify(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& logits = *context.src[0].tensor;
    const VerifyParams& verify = context.node.params.verify;
    const auto k = static_cast<uint32_t>(context.src[1].tensor->n_elements());
    Dispatch dispatch;
    dispatch.shader = "draft_verify";
    // As many threads as a workgroup takes, so that each thread's share of a row, and its
    // loops, are as short as they can be (see DeviceTuning::loops_limited).
    dispatch.constants = {context.tuning.large_workgroup_size};
    // Absent sources travel as address 0, which the shader tests.
    dispatch.push.address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.src[2].present() ? context.src[2].address : 0)
        .address(context.src[3].present() ? context.src[3].address : 0)
        .address(context.dst.address)
        .address(context.step_values)
        .u32(static_cast<uint32_t>(logits.shape[0]))
        .u32(k)
        .f32(verify.temperature)
        .i32(verify.top_k)
        .f32(verify.top_p)
        .f32(verify.min_p)
        .u32(verify.acceptance == Acceptance::Typical ? 1u : 0u)
        .f32(verify.typical_epsilon)
        .f32(verify.typical_delta);
    dispatch.groups = {1, 1, 1};
    for (const TensorView& source : context.src) {
        if (source.present()) dispatch.reads.push_back(source.range);
    }
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

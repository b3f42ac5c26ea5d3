// KV_STORE: shaders/kv_store.comp (F16 or Q8_0 cache), one workgroup per stored token. The
// columns it writes depend on step.position, so the shader reads them from the step buffer and
// the write set is the whole cache; the host checks the columns before each run.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_kv_store(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& input = *context.src[0].tensor;
    const Tensor& cache = *context.dst.tensor;
    const auto tokens = static_cast<uint64_t>(n_rows(input));
    Dispatch dispatch;
    dispatch.shader = "kv_store_" + type_suffix(cache.type);
    dispatch.constants = {context.tuning.workgroup_size};
    dispatch.push.address(context.src[0].address)
        .word_address(context.dst.address)
        .address(context.step_values)
        .u32(static_cast<uint32_t>(input.shape[0]))
        .u32(static_cast<uint32_t>(cache.row_bytes()))
        .u32(static_cast<uint32_t>(tokens));
    dispatch.groups = grid_of(tokens, context.tuning);
    dispatch.reads = {context.src[0].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

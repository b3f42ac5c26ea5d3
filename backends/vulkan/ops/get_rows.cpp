// GET_ROWS: shaders/get_rows.comp (a variant per table type), one thread per output element.
#include <string>

#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_get_rows(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& table = *context.src[0].tensor;
    const Tensor& ids = *context.src[1].tensor;
    const auto total = static_cast<uint64_t>(context.dst.tensor->n_elements());
    Dispatch dispatch;
    dispatch.shader = "get_rows_" + type_suffix(table.type);
    dispatch.constants = {context.tuning.workgroup_size};
    dispatch.push.word_address(context.src[0].address)
        .address(context.src[1].address)
        .address(context.dst.address)
        .address(context.error_slot)
        .u32(static_cast<uint32_t>(table.shape[0]))
        .u32(static_cast<uint32_t>(table.row_bytes()))
        .u32(static_cast<uint32_t>(n_rows(table)))
        .u32(static_cast<uint32_t>(ids.n_elements()));
    dispatch.groups = grid_of(ceil_div(total, context.tuning.workgroup_size), context.tuning);
    dispatch.reads = {context.src[0].range, context.src[1].range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

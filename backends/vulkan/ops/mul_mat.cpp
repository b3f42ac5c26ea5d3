// MUL_MAT: the activations converted to the weights' partner type by shaders/quantize.comp
// (unless an earlier node converted the same bytes, or the weights are F32), then
// shaders/mul_mat.comp (a variant per weight type). m = 1 runs one column per workgroup; longer
// inputs run DeviceTuning::mul_mat_columns columns per workgroup, so that each decoded weight
// block serves them all.
#include "backends/vulkan/ops/ops.h"

namespace tessera::backend::vulkan {

void build_mul_mat(const NodeContext& context, std::vector<Dispatch>& out) {
    const Tensor& weights = *context.src[0].tensor;
    const Tensor& input = *context.src[1].tensor;
    const DeviceTuning& tuning = context.tuning;
    const int64_t k = weights.shape[0];
    const int64_t n = weights.shape[1];
    const int64_t m = n_rows(input);
    const quant::TensorType activation_type = *mul_mat_activation_type(weights.type);

    VkDeviceAddress activations = context.src[1].address;
    MemoryRange activation_range = context.src[1].range;
    uint64_t column_words = static_cast<uint64_t>(k);
    if (activation_type != quant::TensorType::F32) {
        const uint64_t bytes = converted_activation_bytes(activation_type, k, m);
        const ScratchSlot slot = context.scratch.converted(context.src[1], activation_type, bytes);
        activations = slot.address;
        activation_range = slot.range;
        column_words = bytes / 4 / static_cast<uint64_t>(m);
        if (!slot.ready) {
            const uint64_t block = quant::type_info(activation_type).block_size;
            const uint64_t n_threads = static_cast<uint64_t>(k) / block * static_cast<uint64_t>(m);
            Dispatch convert;
            convert.shader = "quantize_" + type_suffix(activation_type);
            convert.constants = {tuning.workgroup_size};
            convert.push.address(context.src[1].address)
                .address(slot.address)
                .u32(static_cast<uint32_t>(k))
                .u32(static_cast<uint32_t>(m));
            convert.groups = grid_of(ceil_div(n_threads, tuning.workgroup_size), tuning);
            convert.reads = {context.src[1].range};
            convert.writes = {slot.range};
            out.push_back(std::move(convert));
        }
    }

    const uint32_t columns = m == 1 ? 1 : tuning.mul_mat_columns;
    const uint32_t rows = tuning.mul_mat_rows;
    const uint32_t rows_per_group = tuning.workgroup_size / tuning.mul_mat_threads_per_row * rows;
    const uint32_t row_groups = ceil_div(static_cast<uint64_t>(n), rows_per_group);
    const uint32_t column_groups = ceil_div(static_cast<uint64_t>(m), columns);
    Dispatch dispatch;
    dispatch.shader = "mul_mat_" + type_suffix(weights.type);
    if (quant::type_info(weights.type).block_size > 1) {
        // The variants for the optional features the device has (CMakeLists.txt builds them).
        if (tuning.wide_loads) dispatch.shader += "_wide";
        if (tuning.integer_dot) dispatch.shader += "_dot";
    }
    dispatch.constants = {tuning.workgroup_size, tuning.mul_mat_threads_per_row, columns, rows};
    dispatch.push.word_address(context.src[0].address)
        .address(activations)
        .address(context.dst.address)
        .u32(static_cast<uint32_t>(k))
        .u32(static_cast<uint32_t>(n))
        .u32(static_cast<uint32_t>(m))
        .u32(static_cast<uint32_t>(weights.row_bytes()))
        .u32(static_cast<uint32_t>(column_words))
        .u32(row_groups)
        .u32(column_groups);
    dispatch.groups = grid_of(uint64_t{row_groups} * column_groups, tuning);
    dispatch.reads = {context.src[0].range, activation_range};
    dispatch.writes = {context.dst.range};
    out.push_back(std::move(dispatch));
}

}  // namespace tessera::backend::vulkan

// MUL_MAT in ggml's scheme: the activations (src1) are converted once to the weight kernel's
// activation type (Q8_0, Q8_1, Q8_K, F16, BF16 or F32), then every output element is one dot
// product of a weight row with an activation row, computed by the SIMD kernels of quant_dot.h.
//
// The work is cut into fixed tiles of weight rows (times activation columns when m > 1): a tile
// of weights stays in cache while it meets every column of its column tile. The tiles depend on
// the shapes only, and a kernel's result for one row and one column does not depend on the tile
// it was computed in, so any thread count gives the same bits.
#include <algorithm>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

// Decoding (m = 1): 16 weight rows per task, enough work per task (16 rows of k elements) and
// many tasks for the threads to share.
constexpr int64_t kDecodeRowsPerTask = 16;
// Prompts (m > 1): tiles of 32 weight rows by 32 activation columns.
constexpr int64_t kTileRows = 32;
constexpr int64_t kTileColumns = 32;

constexpr uint64_t kScratchRowAlignment = 64;

uint64_t activation_row_stride(const CompiledNode& node) {
    const uint64_t bytes = quant::row_bytes(quant::type_info(node.dot->activation_type),
                                            static_cast<uint64_t>(node.src[1].shape[0]));
    return (bytes + kScratchRowAlignment - 1) / kScratchRowAlignment * kScratchRowAlignment;
}

bool converts_activations(const CompiledNode& node) {
    return node.dot->activation_type != quant::TensorType::F32;
}

}  // namespace

ScratchSize mul_mat_scratch(const CompiledNode& node) {
    if (!converts_activations(node)) return {};
    return {activation_row_stride(node) * static_cast<uint64_t>(node.src[1].n_rows()), 0};
}

void run_mul_mat(const CompiledNode& node, const OpContext& context) {
    const TensorRef& weights = node.src[0];
    const TensorRef& input = node.src[1];
    const DotKernel& kernel = *node.dot;
    const int64_t k = weights.shape[0];
    const int64_t n = weights.shape[1];
    const int64_t m = input.n_rows();
    float* out = node.dst.f32();

    const uint8_t* activations = input.data;
    uint64_t activation_stride = input.row_bytes;
    if (converts_activations(node)) {
        activation_stride = activation_row_stride(node);
        uint8_t* converted = context.shared_scratch;
        context.pool.parallel_for(m, [&](int64_t column, int) {
            kernel.convert_activations(
                reinterpret_cast<const float*>(input.row(column)),
                converted + static_cast<uint64_t>(column) * activation_stride, k);
        });
        activations = converted;
    }

    if (m == 1) {
        context.pool.parallel_for(ceil_div(n, kDecodeRowsPerTask), [&](int64_t task, int) {
            const int64_t row = task * kDecodeRowsPerTask;
            const int64_t n_rows = std::min(kDecodeRowsPerTask, n - row);
            kernel.dot_rows(k, weights.row(row), weights.row_bytes, n_rows, activations, out + row);
        });
        return;
    }

    const int64_t row_tiles = ceil_div(n, kTileRows);
    const int64_t column_tiles = ceil_div(m, kTileColumns);
    // Row tiles vary fastest, so that threads working at the same time share activation columns.
    context.pool.parallel_for(row_tiles * column_tiles, [&](int64_t task, int) {
        const int64_t row = (task % row_tiles) * kTileRows;
        const int64_t column = (task / row_tiles) * kTileColumns;
        const int64_t n_rows = std::min(kTileRows, n - row);
        const int64_t n_columns = std::min(kTileColumns, m - column);
        kernel.dot_tile(k, weights.row(row), weights.row_bytes, n_rows,
                        activations + static_cast<uint64_t>(column) * activation_stride,
                        activation_stride, n_columns, out + column * n + row, n);
    });
}

}  // namespace tessera::backend::cpu

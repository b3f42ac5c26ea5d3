// GET_ROWS: rows of a matrix of any type with a codec, dequantized to F32 by the reference
// codecs (the embedding lookup: a few rows per token, so no SIMD path is needed).
#include <algorithm>
#include <cstring>
#include <string>

#include "backends/cpu/ops/ops.h"
#include "formats/error.h"
#include "formats/quant/codec.h"

namespace tessera::backend::cpu {

void run_get_rows(const CompiledNode& node, const OpContext& context) {
    const TensorRef& table = node.src[0];
    const int32_t* ids = node.src[1].i32();
    const int64_t length = table.shape[0];
    const int64_t n_table_rows = table.n_rows();
    const int64_t n_ids = node.src[1].n_elements();
    const int64_t task_rows = rows_per_task(length);

    // Ids are data: check them all before writing anything.
    for (int64_t i = 0; i < n_ids; ++i) {
        if (ids[i] < 0 || ids[i] >= n_table_rows) {
            throw Error(node.label + ": row id " + std::to_string(ids[i]) + " at index " +
                        std::to_string(i) + " is outside the " + std::to_string(n_table_rows) +
                        " rows of the table");
        }
    }

    context.pool.parallel_for(ceil_div(n_ids, task_rows), [&](int64_t task, int) {
        const int64_t end = std::min(n_ids, (task + 1) * task_rows);
        for (int64_t i = task * task_rows; i < end; ++i) {
            const uint8_t* source = table.row(ids[i]);
            float* out = node.dst.f32() + i * length;
            if (table.type == quant::TensorType::F32) {
                std::memcpy(out, source, static_cast<size_t>(length) * sizeof(float));
            } else {
                quant::dequantize_row(table.type, source, out, length);
            }
        }
    });
}

}  // namespace tessera::backend::cpu

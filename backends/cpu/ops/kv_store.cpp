// KV_STORE: rows of F32 keys or values written into the cache's columns at the step's position,
// rounded to F16 or quantized to Q8_0 with the reference codecs (bit-exact with ggml).
#include <algorithm>
#include <string>

#include "backends/cpu/ops/ops.h"
#include "formats/error.h"
#include "formats/quant/codec.h"
#include "formats/quant/half.h"

namespace tessera::backend::cpu {

void check_kv_store_step(const CompiledNode& node, const StepValues& step) {
    const int64_t n_tokens = node.src[0].n_rows();
    const int64_t n_ctx = node.dst.n_rows();
    if (step.position < 0 || step.position + n_tokens > n_ctx) {
        throw Error(node.label + ": writes cache columns " + std::to_string(step.position) + ".." +
                    std::to_string(step.position + n_tokens - 1) + " but the cache has " +
                    std::to_string(n_ctx) + " columns (0.." + std::to_string(n_ctx - 1) + ")");
    }
}

void run_kv_store(const CompiledNode& node, const OpContext& context) {
    const TensorRef& input = node.src[0];
    const int64_t length = input.shape[0];
    const int64_t n_tokens = input.n_rows();
    const int64_t task_rows = rows_per_task(length);
    context.pool.parallel_for(ceil_div(n_tokens, task_rows), [&](int64_t task, int) {
        const int64_t end = std::min(n_tokens, (task + 1) * task_rows);
        for (int64_t token = task * task_rows; token < end; ++token) {
            const float* x = input.f32() + token * length;
            uint8_t* column = node.dst.row(context.step.position + token);
            if (node.dst.type == quant::TensorType::F16) {
                auto* half = reinterpret_cast<uint16_t*>(column);
                for (int64_t i = 0; i < length; ++i) half[i] = quant::fp32_to_fp16(x[i]);
            } else {
                quant::quantize_row(node.dst.type, x, column, length);
            }
        }
    });
}

}  // namespace tessera::backend::cpu

#include "backends/cpu/ops/attention_kernels.h"

#include "backends/cpu/ops/cache_rows.h"
#include "formats/quant/blocks.h"

namespace tessera::backend::cpu {

namespace {

void decode_f16_portable(const uint8_t* row, float* out, int64_t n) {
    cache_row_to_f32(quant::TensorType::F16, row, out, n);
}

void decode_q8_0_portable(const uint8_t* row, float* out, int64_t n) {
    cache_row_to_f32(quant::TensorType::Q8_0, row, out, n);
}

void accumulate_portable(float* out, const float* weights, const float* values, int64_t n_columns,
                         int64_t dim) {
    for (int64_t c = 0; c < n_columns; ++c) {
        const float weight = weights[c];
        const float* value = values + c * dim;
        for (int64_t d = 0; d < dim; ++d) out[d] += weight * value[d];
    }
}

constexpr AttentionKernels kPortable{decode_f16_portable, decode_q8_0_portable,
                                     accumulate_portable};

}  // namespace

const AttentionKernels& portable_attention_kernels() {
    return kPortable;
}

const AttentionKernels& attention_kernels(const CpuFeatures& features) {
    if (!features.scalar_only && features.avx2) {
        if (const AttentionKernels* kernels = avx2_attention_kernels()) return *kernels;
    }
    return kPortable;
}

#if !(defined(__x86_64__) || defined(__i386__))
const AttentionKernels* avx2_attention_kernels() {
    return nullptr;
}
#endif

}  // namespace tessera::backend::cpu

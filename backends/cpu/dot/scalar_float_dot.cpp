#include <cstring>

#include "backends/cpu/dot/scalar_kernels.h"
#include "formats/quant/half.h"

// Float rows: each product exact in double (a product of two floats has at most 48 significant
// bits), summed in double and rounded to float once, as ggml's scalar vec_dot does.

namespace tessera::backend::cpu::scalar {

namespace {

template <typename Element, float (*to_float)(Element)>
void dot_rows_float(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                    const void* activations, float* out) {
    const auto* act = static_cast<const uint8_t*>(activations);
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* row = static_cast<const uint8_t*>(weights) + r * weight_row_bytes;
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            Element w, a;
            std::memcpy(&w, row + i * int64_t{sizeof(Element)}, sizeof w);
            std::memcpy(&a, act + i * int64_t{sizeof(Element)}, sizeof a);
            sum += static_cast<double>(to_float(w)) * static_cast<double>(to_float(a));
        }
        out[r] = static_cast<float>(sum);
    }
}

float identity(float value) {
    return value;
}

}  // namespace

void dot_rows_f16(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  const void* activations, float* out) {
    dot_rows_float<uint16_t, quant::fp16_to_fp32>(n, weights, weight_row_bytes, n_rows, activations,
                                                  out);
}

void dot_rows_bf16(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    dot_rows_float<uint16_t, quant::bf16_to_fp32>(n, weights, weight_row_bytes, n_rows, activations,
                                                  out);
}

void dot_rows_f32(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  const void* activations, float* out) {
    dot_rows_float<float, identity>(n, weights, weight_row_bytes, n_rows, activations, out);
}

}  // namespace tessera::backend::cpu::scalar

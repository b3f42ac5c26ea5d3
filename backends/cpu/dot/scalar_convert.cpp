#include <cstring>

#include "backends/cpu/dot/scalar_kernels.h"
#include "formats/quant/half.h"
#include "formats/quant/kquant_codec.h"
#include "formats/quant/legacy_codec.h"

// The reference quantizers are the conversions: the activations must be exactly the bytes
// formats/quant would write, so the scalar path simply is that code.

namespace tessera::backend::cpu::scalar {

void convert_q8_0(const float* x, void* y, int64_t n) {
    quant::quantize_row_q8_0(x, y, n);
}

void convert_q8_1(const float* x, void* y, int64_t n) {
    quant::quantize_row_q8_1(x, y, n);
}

void convert_q8_k(const float* x, void* y, int64_t n) {
    quant::quantize_row_q8_k(x, y, n);
}

void convert_f16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t bits = quant::fp32_to_fp16(x[i]);
        std::memcpy(out + 2 * i, &bits, sizeof bits);
    }
}

void convert_bf16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t bits = quant::fp32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &bits, sizeof bits);
    }
}

void convert_f32(const float* x, void* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace tessera::backend::cpu::scalar

// Decoding rows of the KV cache (F16 or Q8_0) to F32 for the attention kernel, written so that
// the compiler vectorizes them with the baseline instruction set: no branches per element.
#pragma once

#include <bit>
#include <cstdint>

#include "formats/quant/blocks.h"
#include "formats/quant/half.h"
#include "formats/quant/tensor_type.h"

namespace tessera::backend::cpu {

// The same values as quant::fp16_to_fp32 for every input, NaN payloads included: the 15 bits
// below the sign shifted into place make a float 2^-112 times the value, exact for normal and
// subnormal halves alike; infinities and NaNs get the all-ones exponent instead.
inline float fp16_to_fp32_branchless(uint16_t half) {
    const uint32_t magnitude = half & 0x7fffu;
    const uint32_t shifted = magnitude << 13;
    const float scaled = std::bit_cast<float>(shifted) * 0x1p112f;
    const uint32_t special = magnitude >= 0x7c00u ? 0xffffffffu : 0u;
    const uint32_t quiet = magnitude > 0x7c00u ? 0x00400000u : 0u;
    const uint32_t special_bits = 0x7f800000u | shifted | quiet;
    const uint32_t bits = (std::bit_cast<uint32_t>(scaled) & ~special) | (special_bits & special);
    return std::bit_cast<float>(bits | (static_cast<uint32_t>(half & 0x8000u) << 16));
}

// Decodes n elements of a cache row of `type` (F16, or Q8_0 with n a multiple of 32).
inline void cache_row_to_f32(quant::TensorType type, const uint8_t* row, float* out, int64_t n) {
    if (type == quant::TensorType::F16) {
        const auto* half = reinterpret_cast<const uint16_t*>(row);
        for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32_branchless(half[i]);
        return;
    }
    const auto* blocks = reinterpret_cast<const quant::BlockQ8_0*>(row);
    for (int64_t b = 0; b < n / quant::kLegacyBlock; ++b) {
        const float scale = quant::fp16_to_fp32(blocks[b].d);
        float* block_out = out + b * quant::kLegacyBlock;
        for (int i = 0; i < quant::kLegacyBlock; ++i) {
            block_out[i] = scale * static_cast<float>(blocks[b].qs[i]);
        }
    }
}

}  // namespace tessera::backend::cpu

// Conversions between float and the two 16-bit float formats of GGUF files, stored as raw bits:
// IEEE binary16 ("f16", the scales of every quantized block) and bfloat16 ("bf16").
//
// Results are those of ggml's portable conversions (ggml-impl.h), bit for bit:
// - fp32_to_fp16 rounds to nearest, ties to even, with correct subnormals and overflow to
//   infinity (the same as numpy's astype(float16)); every NaN becomes sign | 0x7E00.
// - fp16_to_fp32 is exact; a NaN keeps its payload and comes back quiet.
// - fp32_to_bf16 rounds to nearest, ties to even, keeps subnormals; a NaN keeps the top half of
//   its bits and is made quiet.
// - bf16_to_fp32 is exact (the bits shifted up).
#pragma once

#include <bit>
#include <cstdint>

namespace tessera::quant {

inline float fp16_to_fp32(uint16_t half) {
    const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
    const uint32_t magnitude = half & 0x7fffu;
    uint32_t bits;
    if (magnitude >= 0x0400u && magnitude < 0x7c00u) {
        // Normal: widen the fields and rebias the exponent from 15 to 127.
        bits = (magnitude << 13) + (112u << 23);
    } else if (magnitude < 0x0400u) {
        // Zero or subnormal: the value is magnitude * 2^-24, computed exactly from an integer
        // so that no float subnormal is involved (safe under flush-to-zero modes).
        bits = std::bit_cast<uint32_t>(static_cast<float>(magnitude) * 0x1p-24f);
    } else {
        // Infinity or NaN: all-ones exponent, payload kept, NaNs quieted as ggml's float
        // arithmetic (and F16C hardware) does.
        const uint32_t quiet = magnitude > 0x7c00u ? 0x00400000u : 0u;
        bits = 0x7f800000u | (magnitude << 13) | quiet;
    }
    return std::bit_cast<float>(sign | bits);
}

inline uint16_t fp32_to_fp16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x38800000u) {  // at least 2^-14, the smallest normal half
        if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
        if (magnitude >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 2^16
        // Drop 13 mantissa bits rounding to nearest even: add just under half, plus one when the
        // kept part is odd. A carry into the exponent is the correct result (up to infinity
        // from 65520 on).
        const uint32_t rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
        return static_cast<uint16_t>(sign | ((rounded >> 13) - (112u << 10)));
    }
    // Subnormal half: round(value * 2^24) to nearest even, on the 24-bit significand. Below 2^-25
    // (exponent 102) everything rounds to zero; 2^-25 itself is a tie that goes to zero (even).
    const uint32_t exponent = magnitude >> 23;
    if (exponent < 102u) return sign;
    const uint32_t significand = (magnitude & 0x007fffffu) | 0x00800000u;
    const uint32_t shift = 126u - exponent;  // 14 ... 24
    const uint32_t half_ulp = 1u << (shift - 1);
    const uint32_t rounded = significand + (half_ulp - 1u) + ((significand >> shift) & 1u);
    return static_cast<uint16_t>(sign | (rounded >> shift));
}

inline float bf16_to_fp32(uint16_t bf16) {
    return std::bit_cast<float>(static_cast<uint32_t>(bf16) << 16);
}

inline uint16_t fp32_to_bf16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // NaN: truncate, force quiet
    }
    // Round to nearest even on the 16 dropped bits; finite values may round up to infinity.
    const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(rounded >> 16);
}

}  // namespace tessera::quant

#include "formats/quant/legacy_codec.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "formats/quant/blocks.h"
#include "formats/quant/half.h"

// Bit-exactness with ggml means doing its float operations in its order: the same comparisons
// when picking the scale, the same divisions (by -8, 15, -16, 31, 127) and reciprocals, the same
// offsets (8.5, 0.5, 16.5) added before truncating, and products kept apart from sums so that no
// compiler fuses them into an FMA. Blocks are copied in and out with memcpy, so rows need no
// particular alignment.

namespace tessera::quant {

static_assert(std::endian::native == std::endian::little,
              "GGUF blocks are little-endian; the codecs copy their fields as native integers");

namespace {

constexpr int kHalfBlock = kLegacyBlock / 2;

// ggml converts floats to small integers with C casts such as (int8_t)(x + 8.5f). For values in
// range that is truncation toward zero. Out-of-range values and NaN are undefined in C, and they
// do occur (a block of float subnormals has a scale with an infinite reciprocal); ggml built for
// x86 converts through a 32-bit cvttss2si, which yields INT32_MIN, whose low byte is 0. Modelling
// that keeps this code defined and in step with x86 ggml on such blocks.
inline int32_t truncate_like_x86(float v) {
    if (v >= -2147483648.0f && v < 2147483648.0f) return static_cast<int32_t>(v);
    return INT32_MIN;
}
inline int8_t to_int8(float v) {
    return static_cast<int8_t>(truncate_like_x86(v));
}
inline uint8_t to_uint8(float v) {
    return static_cast<uint8_t>(truncate_like_x86(v));
}

inline float reciprocal_or_zero(float d) {
    return d != 0.0f ? 1.0f / d : 0.0f;
}

// The element of largest magnitude, with its sign; the first one wins ties. Starting from +0
// means an all-zero block yields +0 (so its scale is -0, as ggml's).
inline float signed_absmax(const float* x) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kLegacyBlock; ++j) {
        const float a = std::fabs(x[j]);
        if (amax < a) {
            amax = a;
            max = x[j];
        }
    }
    return max;
}

inline float absmax(const float* x) {
    float amax = 0.0f;
    for (int j = 0; j < kLegacyBlock; ++j) {
        const float a = std::fabs(x[j]);
        amax = amax > a ? amax : a;  // ggml's MAX(amax, a), argument order included
    }
    return amax;
}

inline void min_max(const float* x, float& min, float& max) {
    min = FLT_MAX;
    max = -FLT_MAX;
    for (int j = 0; j < kLegacyBlock; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
}

template <typename Block>
inline Block load(const void* blocks, int64_t i) {
    Block block;
    std::memcpy(&block, static_cast<const uint8_t*>(blocks) + i * int64_t{sizeof(Block)},
                sizeof(Block));
    return block;
}

template <typename Block>
inline void store(void* blocks, int64_t i, const Block& block) {
    std::memcpy(static_cast<uint8_t*>(blocks) + i * int64_t{sizeof(Block)}, &block, sizeof(Block));
}

inline uint32_t load_high_bits(const uint8_t (&qh)[4]) {
    uint32_t bits;
    std::memcpy(&bits, qh, sizeof bits);
    return bits;
}

// The fifth bit of elements j and j + 16 of a Q5 block, moved to bit 4.
inline int fifth_bit_low(uint32_t qh, int j) {
    return static_cast<int>(((qh >> j) << 4) & 0x10u);
}
inline int fifth_bit_high(uint32_t qh, int j) {
    return static_cast<int>((qh >> (j + 12)) & 0x10u);
}

}  // namespace

void quantize_row_q4_0(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        const float d = signed_absmax(xb) / -8.0f;  // the extreme element maps to -8
        const float id = reciprocal_or_zero(d);
        BlockQ4_0 block;
        block.d = fp32_to_fp16(d);
        for (int j = 0; j < kHalfBlock; ++j) {
            const float x0 = xb[j] * id;
            const float x1 = xb[j + kHalfBlock] * id;
            const int q0 = std::min(15, static_cast<int>(to_int8(x0 + 8.5f)));
            const int q1 = std::min(15, static_cast<int>(to_int8(x1 + 8.5f)));
            block.qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(q0) | (q1 << 4));
        }
        store(y, i, block);
    }
}

void quantize_row_q4_1(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        float min, max;
        min_max(xb, min, max);
        const float d = (max - min) / 15.0f;
        const float id = reciprocal_or_zero(d);
        BlockQ4_1 block;
        block.d = fp32_to_fp16(d);
        block.m = fp32_to_fp16(min);
        for (int j = 0; j < kHalfBlock; ++j) {
            const float x0 = (xb[j] - min) * id;
            const float x1 = (xb[j + kHalfBlock] - min) * id;
            const int q0 = std::min(15, static_cast<int>(to_int8(x0 + 0.5f)));
            const int q1 = std::min(15, static_cast<int>(to_int8(x1 + 0.5f)));
            block.qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(q0) | (q1 << 4));
        }
        store(y, i, block);
    }
}

void quantize_row_q5_0(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        const float d = signed_absmax(xb) / -16.0f;  // the extreme element maps to -16
        const float id = reciprocal_or_zero(d);
        BlockQ5_0 block;
        block.d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            const float x0 = xb[j] * id;
            const float x1 = xb[j + kHalfBlock] * id;
            const auto q0 =
                static_cast<uint8_t>(std::min(31, static_cast<int>(to_int8(x0 + 16.5f))));
            const auto q1 =
                static_cast<uint8_t>(std::min(31, static_cast<int>(to_int8(x1 + 16.5f))));
            block.qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + kHalfBlock);
        }
        std::memcpy(block.qh, &qh, sizeof qh);
        store(y, i, block);
    }
}

void quantize_row_q5_1(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        float min, max;
        min_max(xb, min, max);
        const float d = (max - min) / 31.0f;
        const float id = reciprocal_or_zero(d);
        BlockQ5_1 block;
        block.d = fp32_to_fp16(d);
        block.m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            const float x0 = (xb[j] - min) * id;
            const float x1 = (xb[j + kHalfBlock] - min) * id;
            // No clamp to 31 here, as in ggml: the largest value lands on 31 + 1/2 at most.
            const uint8_t q0 = to_uint8(x0 + 0.5f);
            const uint8_t q1 = to_uint8(x1 + 0.5f);
            block.qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + kHalfBlock);
        }
        std::memcpy(block.qh, &qh, sizeof qh);
        store(y, i, block);
    }
}

void quantize_row_q8_0(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        const float d = absmax(xb) / 127.0f;
        const float id = reciprocal_or_zero(d);
        BlockQ8_0 block;
        block.d = fp32_to_fp16(d);
        for (int j = 0; j < kLegacyBlock; ++j) {
            block.qs[j] = to_int8(std::round(xb[j] * id));  // roundf: ties away from zero
        }
        store(y, i, block);
    }
}

void quantize_row_q8_1(const float* x, void* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const float* xb = x + i * kLegacyBlock;
        const float d = absmax(xb) / 127.0f;
        const float id = reciprocal_or_zero(d);
        BlockQ8_1 block;
        block.d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kLegacyBlock; ++j) {
            block.qs[j] = to_int8(std::round(xb[j] * id));
            sum += block.qs[j];
        }
        // The sum of the stored quants (not of the inputs) times d, which the dot products with
        // Q4_1 and Q5_1 need for the minimum's share.
        block.s = fp32_to_fp16(static_cast<float>(sum) * d);
        store(y, i, block);
    }
}

void dequantize_row_q4_0(const void* x, float* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const auto block = load<BlockQ4_0>(x, i);
        const float d = fp16_to_fp32(block.d);
        float* yb = y + i * kLegacyBlock;
        for (int j = 0; j < kHalfBlock; ++j) {
            const int q0 = (block.qs[j] & 0x0f) - 8;
            const int q1 = (block.qs[j] >> 4) - 8;
            yb[j] = static_cast<float>(q0) * d;
            yb[j + kHalfBlock] = static_cast<float>(q1) * d;
        }
    }
}

void dequantize_row_q4_1(const void* x, float* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const auto block = load<BlockQ4_1>(x, i);
        const float d = fp16_to_fp32(block.d);
        const float m = fp16_to_fp32(block.m);
        float* yb = y + i * kLegacyBlock;
        for (int j = 0; j < kHalfBlock; ++j) {
            const float scaled0 = static_cast<float>(block.qs[j] & 0x0f) * d;
            const float scaled1 = static_cast<float>(block.qs[j] >> 4) * d;
            yb[j] = scaled0 + m;
            yb[j + kHalfBlock] = scaled1 + m;
        }
    }
}

void dequantize_row_q5_0(const void* x, float* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const auto block = load<BlockQ5_0>(x, i);
        const float d = fp16_to_fp32(block.d);
        const uint32_t qh = load_high_bits(block.qh);
        float* yb = y + i * kLegacyBlock;
        for (int j = 0; j < kHalfBlock; ++j) {
            const int q0 = ((block.qs[j] & 0x0f) | fifth_bit_low(qh, j)) - 16;
            const int q1 = ((block.qs[j] >> 4) | fifth_bit_high(qh, j)) - 16;
            yb[j] = static_cast<float>(q0) * d;
            yb[j + kHalfBlock] = static_cast<float>(q1) * d;
        }
    }
}

void dequantize_row_q5_1(const void* x, float* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const auto block = load<BlockQ5_1>(x, i);
        const float d = fp16_to_fp32(block.d);
        const float m = fp16_to_fp32(block.m);
        const uint32_t qh = load_high_bits(block.qh);
        float* yb = y + i * kLegacyBlock;
        for (int j = 0; j < kHalfBlock; ++j) {
            const int q0 = (block.qs[j] & 0x0f) | fifth_bit_low(qh, j);
            const int q1 = (block.qs[j] >> 4) | fifth_bit_high(qh, j);
            const float scaled0 = static_cast<float>(q0) * d;
            const float scaled1 = static_cast<float>(q1) * d;
            yb[j] = scaled0 + m;
            yb[j + kHalfBlock] = scaled1 + m;
        }
    }
}

void dequantize_row_q8_0(const void* x, float* y, int64_t n) {
    const int64_t blocks = n / kLegacyBlock;
    for (int64_t i = 0; i < blocks; ++i) {
        const auto block = load<BlockQ8_0>(x, i);
        const float d = fp16_to_fp32(block.d);
        float* yb = y + i * kLegacyBlock;
        for (int j = 0; j < kLegacyBlock; ++j) yb[j] = static_cast<float>(block.qs[j]) * d;
    }
}

}  // namespace tessera::quant

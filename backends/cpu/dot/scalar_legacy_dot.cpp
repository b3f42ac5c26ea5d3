#include <cstring>

#include "backends/cpu/dot/block_load.h"
#include "backends/cpu/dot/scalar_kernels.h"
#include "formats/quant/blocks.h"
#include "formats/quant/half.h"

// Per 32-element block: the exact integer dot of the weight levels (offset removed) with the
// activation quants, times the product of the two scales; blocks added in order. For Q4_1 and
// Q5_1 the levels are unsigned and the weights' minimum m contributes m * sum(activations),
// which Q8_1 carries precomputed as s = d * sum(quants) — ggml's formula.

namespace tessera::backend::cpu::scalar {

namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::fp16_to_fp32;
using quant::kLegacyBlock;

constexpr int kHalfBlock = kLegacyBlock / 2;

uint32_t high_bits(const uint8_t (&qh)[4]) {
    uint32_t bits;
    std::memcpy(&bits, qh, sizeof bits);
    return bits;
}

// The 5-bit levels of elements j and j + 16 (0 ... 31).
int level5_low(const uint8_t* qs, uint32_t qh, int j) {
    return (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
}
int level5_high(const uint8_t* qs, uint32_t qh, int j) {
    return (qs[j] >> 4) | static_cast<int>(((qh >> (j + kHalfBlock)) & 1u) << 4);
}

// Applies `block_dot(weight_row, activations, block)` to every block of every row.
template <typename BlockDot>
void for_each_row(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  float* out, BlockDot block_dot) {
    const int64_t n_blocks = n / kLegacyBlock;
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* row = static_cast<const uint8_t*>(weights) + r * weight_row_bytes;
        float sum = 0.0f;
        for (int64_t b = 0; b < n_blocks; ++b) sum += block_dot(row, b);
        out[r] = sum;
    }
}

}  // namespace

void dot_rows_q4_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, out, [&](const void* row, int64_t b) {
        const auto w = load_block<BlockQ4_0>(row, b);
        const auto a = load_block<BlockQ8_0>(activations, b);
        int sumi = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            sumi += ((w.qs[j] & 0x0f) - 8) * a.qs[j];
            sumi += ((w.qs[j] >> 4) - 8) * a.qs[j + kHalfBlock];
        }
        return fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
    });
}

void dot_rows_q4_1(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, out, [&](const void* row, int64_t b) {
        const auto w = load_block<BlockQ4_1>(row, b);
        const auto a = load_block<BlockQ8_1>(activations, b);
        int sumi = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            sumi += (w.qs[j] & 0x0f) * a.qs[j];
            sumi += (w.qs[j] >> 4) * a.qs[j + kHalfBlock];
        }
        const float scaled = fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
        return scaled + fp16_to_fp32(w.m) * fp16_to_fp32(a.s);
    });
}

void dot_rows_q5_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, out, [&](const void* row, int64_t b) {
        const auto w = load_block<BlockQ5_0>(row, b);
        const auto a = load_block<BlockQ8_0>(activations, b);
        const uint32_t qh = high_bits(w.qh);
        int sumi = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            sumi += (level5_low(w.qs, qh, j) - 16) * a.qs[j];
            sumi += (level5_high(w.qs, qh, j) - 16) * a.qs[j + kHalfBlock];
        }
        return fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
    });
}

void dot_rows_q5_1(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, out, [&](const void* row, int64_t b) {
        const auto w = load_block<BlockQ5_1>(row, b);
        const auto a = load_block<BlockQ8_1>(activations, b);
        const uint32_t qh = high_bits(w.qh);
        int sumi = 0;
        for (int j = 0; j < kHalfBlock; ++j) {
            sumi += level5_low(w.qs, qh, j) * a.qs[j];
            sumi += level5_high(w.qs, qh, j) * a.qs[j + kHalfBlock];
        }
        const float scaled = fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
        return scaled + fp16_to_fp32(w.m) * fp16_to_fp32(a.s);
    });
}

void dot_rows_q8_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, out, [&](const void* row, int64_t b) {
        const auto w = load_block<BlockQ8_0>(row, b);
        const auto a = load_block<BlockQ8_0>(activations, b);
        int sumi = 0;
        for (int j = 0; j < kLegacyBlock; ++j) sumi += w.qs[j] * a.qs[j];
        return fp16_to_fp32(w.d) * fp16_to_fp32(a.d) * static_cast<float>(sumi);
    });
}

}  // namespace tessera::backend::cpu::scalar

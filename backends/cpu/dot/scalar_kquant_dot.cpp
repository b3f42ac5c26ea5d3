#include "backends/cpu/dot/block_load.h"
#include "backends/cpu/dot/scalar_kernels.h"
#include "formats/quant/blocks.h"
#include "formats/quant/half.h"

// Q8_K weights (which ggml's MUL_MAT does not take, but tessera's codecs write) pair with Q8_K
// activations like the other K types: one exact integer dot per super-block.
//
// Per 256-element super-block: the exact integer sum over sub-blocks of scale * dot(levels,
// activation quants), times the super-block scale d and the activations' scale; for the types
// with minimums (Q2_K, Q4_K, Q5_K) minus dmin times the integer sum over sub-blocks of min *
// (sum of the activation quants), which Q8_K carries per 16 elements (bsums). Super-blocks are
// added in order. Every integer sum fits in 32 bits: the largest, Q6_K's, is at most
// 16 groups * 128 * 16 * 32 * 127 < 2^27.

namespace tessera::backend::cpu::scalar {

namespace {

using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;
using quant::fp16_to_fp32;
using quant::kSuperBlock;

// Q3_K's 6-bit scales, stored offset by 32: low nibbles of scales 0-7 and 8-15 share bytes 0-7,
// byte 8 + j % 4 holds the high 2 bits of scale j at bit 2 * (j / 4).
int q3_k_scale(const uint8_t* packed, int j) {
    const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Q4_K's and Q5_K's 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
struct ScaleMin {
    int scale, min;
};
ScaleMin k4_scale_min(const uint8_t* packed, int j) {
    if (j < 4) return {packed[j] & 63, packed[j + 4] & 63};
    return {(packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4)};
}

// Applies `superblock_dot(weight_row, activation_block, index)` to every super-block of every
// row.
template <typename SuperblockDot>
void for_each_row(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  const void* activations, float* out, SuperblockDot superblock_dot) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* row = static_cast<const uint8_t*>(weights) + r * weight_row_bytes;
        float sum = 0.0f;
        for (int64_t b = 0; b < n_blocks; ++b) {
            sum += superblock_dot(row, load_block<BlockQ8_K>(activations, b), b);
        }
        out[r] = sum;
    }
}

}  // namespace

void dot_rows_q2_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ2_K>(row, b);
                     int sumi = 0;
                     int sum_mins = 0;
                     for (int g = 0; g < kSuperBlock / 16; ++g) {
                         const int first = 16 * g;
                         const uint8_t* qs = w.qs + (first / 128) * 32 + first % 32;
                         const int shift = 2 * ((first % 128) / 32);
                         int dot = 0;
                         for (int l = 0; l < 16; ++l)
                             dot += ((qs[l] >> shift) & 3) * a.qs[first + l];
                         sumi += (w.scales[g] & 0xF) * dot;
                         sum_mins += (w.scales[g] >> 4) * a.bsums[g];
                     }
                     const float d = a.d * fp16_to_fp32(w.d);
                     const float dmin = a.d * fp16_to_fp32(w.dmin);
                     return d * static_cast<float>(sumi) - dmin * static_cast<float>(sum_mins);
                 });
}

void dot_rows_q3_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ3_K>(row, b);
                     int sumi = 0;
                     for (int g = 0; g < kSuperBlock / 16; ++g) {
                         const int first = 16 * g;
                         const uint8_t* qs = w.qs + (first / 128) * 32 + first % 32;
                         const int shift = 2 * ((first % 128) / 32);
                         const uint8_t* hmask = w.hmask + first % 32;
                         const int high_bit = first / 32;
                         int dot = 0;
                         for (int l = 0; l < 16; ++l) {
                             // A clear high bit means the level is negative (low - 4).
                             const int low = (qs[l] >> shift) & 3;
                             const int level = ((hmask[l] >> high_bit) & 1) != 0 ? low : low - 4;
                             dot += level * a.qs[first + l];
                         }
                         sumi += q3_k_scale(w.scales, g) * dot;
                     }
                     return a.d * fp16_to_fp32(w.d) * static_cast<float>(sumi);
                 });
}

void dot_rows_q4_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ4_K>(row, b);
                     int sumi = 0;
                     int sum_mins = 0;
                     for (int g = 0; g < kSuperBlock / 32; ++g) {
                         const uint8_t* qs = w.qs + (g / 2) * 32;
                         const int shift = 4 * (g % 2);
                         int dot = 0;
                         for (int l = 0; l < 32; ++l)
                             dot += ((qs[l] >> shift) & 0xF) * a.qs[32 * g + l];
                         const ScaleMin sm = k4_scale_min(w.scales, g);
                         sumi += sm.scale * dot;
                         sum_mins += sm.min * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
                     }
                     const float d = a.d * fp16_to_fp32(w.d);
                     const float dmin = a.d * fp16_to_fp32(w.dmin);
                     return d * static_cast<float>(sumi) - dmin * static_cast<float>(sum_mins);
                 });
}

void dot_rows_q5_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ5_K>(row, b);
                     int sumi = 0;
                     int sum_mins = 0;
                     for (int g = 0; g < kSuperBlock / 32; ++g) {
                         const uint8_t* qs = w.qs + (g / 2) * 32;
                         const int shift = 4 * (g % 2);
                         int dot = 0;
                         for (int l = 0; l < 32; ++l) {
                             const int level =
                                 ((qs[l] >> shift) & 0xF) | (((w.qh[l] >> g) & 1) << 4);
                             dot += level * a.qs[32 * g + l];
                         }
                         const ScaleMin sm = k4_scale_min(w.scales, g);
                         sumi += sm.scale * dot;
                         sum_mins += sm.min * (a.bsums[2 * g] + a.bsums[2 * g + 1]);
                     }
                     const float d = a.d * fp16_to_fp32(w.d);
                     const float dmin = a.d * fp16_to_fp32(w.dmin);
                     return d * static_cast<float>(sumi) - dmin * static_cast<float>(sum_mins);
                 });
}

void dot_rows_q6_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ6_K>(row, b);
                     // Per 128 elements: element l + 32 k (k < 4) has its low nibble in nibble
                     // k / 2 of ql[l + 32 (k % 2)] and its high bits in bit pair k of qh[l].
                     int group_dots[kSuperBlock / 16] = {};
                     for (int base = 0; base < kSuperBlock; base += 128) {
                         const uint8_t* ql = w.ql + base / 2;
                         const uint8_t* qh = w.qh + base / 4;
                         for (int l = 0; l < 32; ++l) {
                             for (int k = 0; k < 4; ++k) {
                                 const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF;
                                 const int high = (qh[l] >> (2 * k)) & 3;
                                 const int element = base + l + 32 * k;
                                 group_dots[element / 16] +=
                                     ((low | (high << 4)) - 32) * a.qs[element];
                             }
                         }
                     }
                     int sumi = 0;
                     for (int g = 0; g < kSuperBlock / 16; ++g) sumi += w.scales[g] * group_dots[g];
                     return a.d * fp16_to_fp32(w.d) * static_cast<float>(sumi);
                 });
}

void dot_rows_q8_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    for_each_row(n, weights, weight_row_bytes, n_rows, activations, out,
                 [](const void* row, const BlockQ8_K& a, int64_t b) {
                     const auto w = load_block<BlockQ8_K>(row, b);
                     int sumi = 0;
                     for (int j = 0; j < kSuperBlock; ++j) sumi += w.qs[j] * a.qs[j];
                     return w.d * a.d * static_cast<float>(sumi);
                 });
}

}  // namespace tessera::backend::cpu::scalar

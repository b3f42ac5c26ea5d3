#include <cstring>

#include "backends/cpu/dot/avx2_kernels.h"
#include "backends/cpu/dot/legacy_tile.h"
#include "backends/cpu/dot/simd_intrinsics.h"
#include "backends/cpu/dot/tile_driver.h"

// Q4_0, Q5_0 and Q8_0 weights with Q8_0 activations, in legacy_tile.h's shape. maddubs multiplies
// unsigned by signed bytes and adds pairs into 16 bits; madd with ones adds pairs again into eight
// 32-bit lanes, exact. Q4_0's and Q5_0's levels are unsigned before their offset (8, 16) is taken
// off, so they enter maddubs as they are and the offset times the sum of the activations is
// subtracted once per block and column, shared by every row. Q8_0's levels are signed: the usual
// sign transfer (|w| times y with w's sign) makes them unsigned.

namespace tessera::backend::cpu::avx2 {

namespace {

constexpr int kRowsPerTile = 4;
constexpr int kColumnsPerTile = 2;

// Sums of the activations' byte pairs times `offset`: the offset's share of maddubs.
inline __m256i offset_pairs(__m256i y, int8_t offset) {
    return _mm256_maddubs_epi16(_mm256_set1_epi8(offset), y);
}

// The fifth bits of Q5_0: bit j of the 32-bit field as 0x10 in byte j.
inline __m256i fifth_bits(const uint8_t* qh_bytes) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, sizeof qh);
    const __m256i spread =
        _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(qh)),
                            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                             2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The 16-bit pair sums of a block, added into eight 32-bit lanes.
inline __m256i widen_pairs(__m256i pairs) {
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

struct Q4_0Format {
    static constexpr uint64_t kWeightBlockBytes = 18;
    static __m256i column_bias(__m256i y) { return offset_pairs(y, 8); }
    static __m256i levels(const uint8_t* w) { return unpack_block_nibbles(w + 2); }
    static __m256i block_lanes(__m256i levels, __m256i y, __m256i bias) {
        return widen_pairs(_mm256_sub_epi16(_mm256_maddubs_epi16(levels, y), bias));
    }
};

struct Q5_0Format {
    static constexpr uint64_t kWeightBlockBytes = 22;
    static __m256i column_bias(__m256i y) { return offset_pairs(y, 16); }
    static __m256i levels(const uint8_t* w) {
        return _mm256_or_si256(unpack_block_nibbles(w + 6), fifth_bits(w + 2));
    }
    static __m256i block_lanes(__m256i levels, __m256i y, __m256i bias) {
        return widen_pairs(_mm256_sub_epi16(_mm256_maddubs_epi16(levels, y), bias));
    }
};

struct Q8_0Format {
    static constexpr uint64_t kWeightBlockBytes = 34;
    // The levels' magnitudes (-128 becomes 128 as an unsigned byte) and the levels themselves,
    // whose signs go to the activations.
    struct Levels {
        __m256i magnitude, sign;
    };
    static __m256i column_bias(__m256i) { return _mm256_setzero_si256(); }
    static Levels levels(const uint8_t* w) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2));
        return {_mm256_sign_epi8(q, q), q};
    }
    static __m256i block_lanes(const Levels& levels, __m256i y, __m256i) {
        return widen_pairs(
            _mm256_maddubs_epi16(levels.magnitude, _mm256_sign_epi8(y, levels.sign)));
    }
};

}  // namespace

void dot_rows_q4_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    dot_rows<LegacyTile<Q4_0Format>, kRowsPerTile>(n, weights, weight_row_bytes, n_rows,
                                                   activations, out);
}
void dot_tile_q4_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, uint64_t activation_row_bytes, int64_t n_columns,
                   float* out, int64_t out_column_stride) {
    dot_tile<LegacyTile<Q4_0Format>, kRowsPerTile, kColumnsPerTile>(
        n, weights, weight_row_bytes, n_rows, activations, activation_row_bytes, n_columns, out,
        out_column_stride);
}

void dot_rows_q5_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    dot_rows<LegacyTile<Q5_0Format>, kRowsPerTile>(n, weights, weight_row_bytes, n_rows,
                                                   activations, out);
}
void dot_tile_q5_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, uint64_t activation_row_bytes, int64_t n_columns,
                   float* out, int64_t out_column_stride) {
    dot_tile<LegacyTile<Q5_0Format>, kRowsPerTile, kColumnsPerTile>(
        n, weights, weight_row_bytes, n_rows, activations, activation_row_bytes, n_columns, out,
        out_column_stride);
}

void dot_rows_q8_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out) {
    dot_rows<LegacyTile<Q8_0Format>, kRowsPerTile>(n, weights, weight_row_bytes, n_rows,
                                                   activations, out);
}
void dot_tile_q8_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, uint64_t activation_row_bytes, int64_t n_columns,
                   float* out, int64_t out_column_stride) {
    dot_tile<LegacyTile<Q8_0Format>, kRowsPerTile, kColumnsPerTile>(
        n, weights, weight_row_bytes, n_rows, activations, activation_row_bytes, n_columns, out,
        out_column_stride);
}

}  // namespace tessera::backend::cpu::avx2

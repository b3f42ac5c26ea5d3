#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstring>

#include "backends/cpu/dot/avx512_kernels.h"
#include "backends/cpu/dot/legacy_tile.h"
#include "backends/cpu/dot/tile_driver.h"

// Q4_0, Q5_0 and Q8_0 weights with Q8_0 activations, in legacy_tile.h's shape, with VNNI:
// dpbusd multiplies unsigned weight bytes by signed activation bytes and adds each group of four
// into a 32-bit lane, on top of an initial value. The weights enter as unsigned levels (Q8_0's
// shifted by 128, a flip of the sign bit), and the initial value is minus the offset (8, 16,
// 128) times the activations' sums of four, computed once per block and column and shared by
// every row. Q5_0's fifth bits come straight from its 32-bit field as a byte mask.

namespace tessera::backend::cpu::avx512 {

namespace {

constexpr int kRowsPerTile = 4;
constexpr int kColumnsPerTile = 4;

// -offset * (sum of each group of four activation quants), as eight 32-bit lanes.
inline __m256i offset_bias(__m256i y, uint8_t offset) {
    const __m256i sums =
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(static_cast<char>(offset)), y);
    return _mm256_sub_epi32(_mm256_setzero_si256(), sums);
}

struct Q4_0Format {
    static constexpr uint64_t kWeightBlockBytes = 18;
    static __m256i column_bias(__m256i y) { return offset_bias(y, 8); }
    static __m256i levels(const uint8_t* w) { return unpack_block_nibbles(w + 2); }
    static __m256i block_lanes(__m256i levels, __m256i y, __m256i bias) {
        return _mm256_dpbusd_epi32(bias, levels, y);
    }
};

struct Q5_0Format {
    static constexpr uint64_t kWeightBlockBytes = 22;
    static __m256i column_bias(__m256i y) { return offset_bias(y, 16); }
    static __m256i levels(const uint8_t* w) {
        uint32_t qh;
        std::memcpy(&qh, w + 2, sizeof qh);
        return _mm256_or_si256(unpack_block_nibbles(w + 6),
                               _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10)));
    }
    static __m256i block_lanes(__m256i levels, __m256i y, __m256i bias) {
        return _mm256_dpbusd_epi32(bias, levels, y);
    }
};

struct Q8_0Format {
    static constexpr uint64_t kWeightBlockBytes = 34;
    static __m256i column_bias(__m256i y) { return offset_bias(y, 128); }
    static __m256i levels(const uint8_t* w) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2));
        return _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80)));
    }
    static __m256i block_lanes(__m256i levels, __m256i y, __m256i bias) {
        return _mm256_dpbusd_epi32(bias, levels, y);
    }
};

}  // namespace

#define TESSERA_DEFINE_DOT_KERNEL(type, Tile)                                                    \
    void dot_rows_##type(int64_t n, const void* weights, uint64_t weight_row_bytes,              \
                         int64_t n_rows, const void* activations, float* out) {                  \
        dot_rows<Tile, kRowsPerTile>(n, weights, weight_row_bytes, n_rows, activations, out);    \
    }                                                                                            \
    void dot_tile_##type(int64_t n, const void* weights, uint64_t weight_row_bytes,              \
                         int64_t n_rows, const void* activations, uint64_t activation_row_bytes, \
                         int64_t n_columns, float* out, int64_t out_column_stride) {             \
        dot_tile<Tile, kRowsPerTile, kColumnsPerTile>(n, weights, weight_row_bytes, n_rows,      \
                                                      activations, activation_row_bytes,         \
                                                      n_columns, out, out_column_stride);        \
    }

TESSERA_DEFINE_DOT_KERNEL(q4_0, LegacyTile<Q4_0Format>)
TESSERA_DEFINE_DOT_KERNEL(q5_0, LegacyTile<Q5_0Format>)
TESSERA_DEFINE_DOT_KERNEL(q8_0, LegacyTile<Q8_0Format>)

#undef TESSERA_DEFINE_DOT_KERNEL

}  // namespace tessera::backend::cpu::avx512

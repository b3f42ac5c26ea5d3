#include "backends/cpu/dot/simd_intrinsics.h"

#include "backends/cpu/dot/avx512_kernels.h"
#include "backends/cpu/dot/tile_driver.h"

// F16, BF16 (each with activations of its own type) and F32 rows: sixteen elements per step,
// widened to float, multiplied and added with one FMA into sixteen float lanes per (row,
// column), summed at the end. A tail shorter than sixteen is loaded masked (zeros beyond), so
// every element goes through the same operations whatever the tile.

namespace tessera::backend::cpu::avx512 {

namespace {

constexpr int kRowsPerTile = 4;
constexpr int kColumnsPerTile = 4;
constexpr int kStep = 16;

inline __mmask16 first_lanes(int64_t count) {
    return static_cast<__mmask16>(count >= kStep ? 0xFFFFu : (1u << count) - 1u);
}

struct F16Elements {
    static constexpr uint64_t kBytes = 2;
    static __m512 load(const uint8_t* p, __mmask16 lanes) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, p));
    }
};

struct BF16Elements {
    static constexpr uint64_t kBytes = 2;
    static __m512 load(const uint8_t* p, __mmask16 lanes) {
        const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
};

struct F32Elements {
    static constexpr uint64_t kBytes = 4;
    static __m512 load(const uint8_t* p, __mmask16 lanes) {
        return _mm512_maskz_loadu_ps(lanes, p);
    }
};

template <typename Elements>
struct FloatTile {
    static constexpr int kBlockElements = 1;
    static constexpr uint64_t kWeightBlockBytes = Elements::kBytes;
    static constexpr uint64_t kActivationBlockBytes = Elements::kBytes;

    template <int kRows, int kColumns>
    static void tile(int64_t n, const uint8_t* const* rows, const uint8_t* const* columns,
                     float* sums) {
        __m512 acc[kRows][kColumns];
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm512_setzero_ps();
        }
        for (int64_t i = 0; i < n; i += kStep) {
            const __mmask16 lanes = first_lanes(n - i);
            const uint64_t offset = static_cast<uint64_t>(i) * Elements::kBytes;
            __m512 y[kColumns];
            for (int c = 0; c < kColumns; ++c) y[c] = Elements::load(columns[c] + offset, lanes);
            for (int r = 0; r < kRows; ++r) {
                const __m512 w = Elements::load(rows[r] + offset, lanes);
                for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm512_fmadd_ps(w, y[c], acc[r][c]);
            }
        }
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) {
                const __m512 v = acc[r][c];
                __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
                __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
                s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                s = _mm_add_ss(s, _mm_movehdup_ps(s));
                sums[r * kColumns + c] = _mm_cvtss_f32(s);
            }
        }
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

TESSERA_DEFINE_DOT_KERNEL(f16, FloatTile<F16Elements>)
TESSERA_DEFINE_DOT_KERNEL(bf16, FloatTile<BF16Elements>)
TESSERA_DEFINE_DOT_KERNEL(f32, FloatTile<F32Elements>)

#undef TESSERA_DEFINE_DOT_KERNEL

}  // namespace tessera::backend::cpu::avx512

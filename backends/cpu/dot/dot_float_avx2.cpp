#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstring>

#include "backends/cpu/dot/avx2_kernels.h"
#include "backends/cpu/dot/tile_driver.h"

// F16 (with F16 activations) and F32 rows: eight elements per step, widened to float (F16C),
// multiplied and added with one FMA into eight float lanes per (row, column), summed at the end.
// A tail shorter than eight is copied into a zero-padded step, so every element goes through
// the same operations whatever the tile.

namespace tessera::backend::cpu::avx2 {

namespace {

constexpr int kRowsPerTile = 4;
constexpr int kColumnsPerTile = 2;
constexpr int kStep = 8;

struct F16Elements {
    static constexpr uint64_t kBytes = 2;
    static __m256 load(const uint8_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
};

struct F32Elements {
    static constexpr uint64_t kBytes = 4;
    static __m256 load(const uint8_t* p) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
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
        __m256 acc[kRows][kColumns];
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm256_setzero_ps();
        }
        const auto step = [&](const uint8_t* const* row_at, const uint8_t* const* column_at) {
            __m256 y[kColumns];
            for (int c = 0; c < kColumns; ++c) y[c] = Elements::load(column_at[c]);
            for (int r = 0; r < kRows; ++r) {
                const __m256 w = Elements::load(row_at[r]);
                for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm256_fmadd_ps(w, y[c], acc[r][c]);
            }
        };
        int64_t i = 0;
        for (; i + kStep <= n; i += kStep) {
            const uint8_t* row_at[kRows];
            const uint8_t* column_at[kColumns];
            for (int r = 0; r < kRows; ++r)
                row_at[r] = rows[r] + static_cast<uint64_t>(i) * Elements::kBytes;
            for (int c = 0; c < kColumns; ++c)
                column_at[c] = columns[c] + static_cast<uint64_t>(i) * Elements::kBytes;
            step(row_at, column_at);
        }
        if (i < n) {
            const auto tail_bytes =
                static_cast<size_t>(static_cast<uint64_t>(n - i) * Elements::kBytes);
            alignas(32) uint8_t row_tail[kRows][kStep * Elements::kBytes] = {};
            alignas(32) uint8_t column_tail[kColumns][kStep * Elements::kBytes] = {};
            const uint8_t* row_at[kRows];
            const uint8_t* column_at[kColumns];
            for (int r = 0; r < kRows; ++r) {
                std::memcpy(row_tail[r], rows[r] + static_cast<uint64_t>(i) * Elements::kBytes,
                            tail_bytes);
                row_at[r] = row_tail[r];
            }
            for (int c = 0; c < kColumns; ++c) {
                std::memcpy(column_tail[c],
                            columns[c] + static_cast<uint64_t>(i) * Elements::kBytes, tail_bytes);
                column_at[c] = column_tail[c];
            }
            step(row_at, column_at);
        }
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) {
                __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]),
                                      _mm256_extractf128_ps(acc[r][c], 1));
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
TESSERA_DEFINE_DOT_KERNEL(f32, FloatTile<F32Elements>)

#undef TESSERA_DEFINE_DOT_KERNEL

}  // namespace tessera::backend::cpu::avx2

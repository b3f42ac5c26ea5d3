#include "backends/cpu/dot/avx512_kernels.h"
#include "backends/cpu/dot/kquant_prepare.h"
#include "backends/cpu/dot/tile_driver.h"

// K-quant weights with Q8_K activations, from kquant_prepare.h's decoded super-blocks, as in
// the AVX2 kernel but with VNNI's dpwssd, which multiplies maddubs' pairs by their scales and
// adds them into the 32-bit lanes in one step. The vectors stay 256 bits wide: the prepared
// super-block was just written 32 bytes at a time, and a 64-byte load of two such stores would
// wait for them to reach the cache instead of being forwarded.

namespace tessera::backend::cpu::avx512 {

namespace {

constexpr int kRowsPerTile = 4;
constexpr int kColumnsPerTile = 4;

template <void (*prepare)(const uint8_t*, PreparedSuperblock&), uint64_t kBytes, bool kHasMin>
struct KQuantTile {
    static constexpr int kBlockElements = kSuperblockElements;
    static constexpr uint64_t kWeightBlockBytes = kBytes;
    static constexpr uint64_t kActivationBlockBytes = kQ8_KBlockBytes;

    template <int kRows, int kColumns>
    static void tile(int64_t n_blocks, const uint8_t* const* rows, const uint8_t* const* columns,
                     float* sums) {
        __m256 acc[kRows][kColumns];
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm256_setzero_ps();
        }
        PreparedSuperblock prepared[kRows];
        for (int64_t b = 0; b < n_blocks; ++b) {
            for (int r = 0; r < kRows; ++r)
                prepare(rows[r] + static_cast<uint64_t>(b) * kBytes, prepared[r]);
            for (int c = 0; c < kColumns; ++c) {
                const uint8_t* a = columns[c] + static_cast<uint64_t>(b) * kActivationBlockBytes;
                float dy;
                std::memcpy(&dy, a, sizeof dy);
                const __m256i bsums = load256(a + kQ8_KBsums);
                for (int r = 0; r < kRows; ++r) {
                    const PreparedSuperblock& p = prepared[r];
                    const __m256i group_scales = load_group_scales(p);
                    __m256i sum = _mm256_sub_epi32(_mm256_setzero_si256(),
                                                   _mm256_madd_epi16(bsums, load256(p.offsets)));
                    for (int j = 0; j < 8; ++j) {
                        const __m256i pairs = _mm256_maddubs_epi16(
                            load256(p.levels + 32 * j), load256(a + kQ8_KQuants + 32 * j));
                        sum = _mm256_dpwssd_epi32(sum, pairs, chunk_scales(group_scales, j));
                    }
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(p.d * dy), _mm256_cvtepi32_ps(sum),
                                                acc[r][c]);
                    if constexpr (kHasMin) {
                        const __m256i mins = _mm256_madd_epi16(bsums, load256(p.mins));
                        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(-(p.dmin * dy)),
                                                    _mm256_cvtepi32_ps(mins), acc[r][c]);
                    }
                }
            }
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

using Q2_KTile = KQuantTile<prepare_q2_k, 84, true>;
using Q3_KTile = KQuantTile<prepare_q3_k, 110, false>;
using Q4_KTile = KQuantTile<prepare_q4_k, 144, true>;
using Q5_KTile = KQuantTile<prepare_q5_k, 176, true>;
using Q6_KTile = KQuantTile<prepare_q6_k, 210, false>;

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

TESSERA_DEFINE_DOT_KERNEL(q2_k, Q2_KTile)
TESSERA_DEFINE_DOT_KERNEL(q3_k, Q3_KTile)
TESSERA_DEFINE_DOT_KERNEL(q4_k, Q4_KTile)
TESSERA_DEFINE_DOT_KERNEL(q5_k, Q5_KTile)
TESSERA_DEFINE_DOT_KERNEL(q6_k, Q6_KTile)

#undef TESSERA_DEFINE_DOT_KERNEL

}  // namespace tessera::backend::cpu::avx512

// The tile kernel shared by the AVX2 and AVX-512 kernels of the 32-element block types with
// Q8_0 activations (Q4_0, Q5_0, Q8_0): one block per 256-bit vector of 32 bytes. A Format says
// how to get a block's weight levels and how to turn levels and activation quants into eight
// exact 32-bit partial dots (maddubs and madd on AVX2, dpbusd on AVX-512 VNNI).
//
// Per (row, column) and block: lanes = the block's partial dots, acc = fma(dw * dy, lanes, acc)
// in eight float lanes, summed at the end. The scale products dw * dy are formed eight blocks at
// a time with one half-to-float conversion and one multiply, then read back by broadcast loads,
// which keeps the shuffle port free for the nibble unpacking.
//
// Include only from *_avx2.cpp / *_avx512.cpp files (anonymous namespace: see tile_driver.h).
#pragma once

#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstdint>
#include <cstring>

namespace tessera::backend::cpu {
namespace {

constexpr int kLegacyScaleChunk = 8;  // blocks whose scales are converted together

// The half scales of `count` (<= 8) blocks starting at `first`, as floats; the rest zero. The
// halves are gathered in two 64-bit integers and moved to a vector from there: eight 2-byte
// stores read back as one 16-byte load would stall on store forwarding.
inline __m256 load_block_scales(const uint8_t* row, int64_t first, int count,
                                uint64_t block_bytes) {
    uint64_t packed[2] = {0, 0};
    for (int k = 0; k < count; ++k) {
        uint16_t half;
        std::memcpy(&half, row + static_cast<uint64_t>(first + k) * block_bytes, 2);
        packed[k / 4] |= static_cast<uint64_t>(half) << (16 * (k % 4));
    }
    const __m128i halves =
        _mm_set_epi64x(static_cast<int64_t>(packed[1]), static_cast<int64_t>(packed[0]));
    return _mm256_cvtph_ps(halves);
}

template <typename Format>
struct LegacyTile {
    static constexpr int kBlockElements = 32;
    static constexpr uint64_t kWeightBlockBytes = Format::kWeightBlockBytes;
    static constexpr uint64_t kActivationBlockBytes = 34;

    template <int kRows, int kColumns>
    static void tile(int64_t n_blocks, const uint8_t* const* rows, const uint8_t* const* columns,
                     float* sums) {
        __m256 acc[kRows][kColumns];
        for (int r = 0; r < kRows; ++r) {
            for (int c = 0; c < kColumns; ++c) acc[r][c] = _mm256_setzero_ps();
        }
        alignas(32) float scales[kRows][kColumns][kLegacyScaleChunk];
        // One block for every (row, column) of the tile.
        const auto block = [&](int64_t b, int k) {
            __m256i y[kColumns];
            __m256i bias[kColumns];
            for (int c = 0; c < kColumns; ++c) {
                y[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                    columns[c] + static_cast<uint64_t>(b) * kActivationBlockBytes + 2));
                bias[c] = Format::column_bias(y[c]);
            }
            for (int r = 0; r < kRows; ++r) {
                const auto levels =
                    Format::levels(rows[r] + static_cast<uint64_t>(b) * kWeightBlockBytes);
                for (int c = 0; c < kColumns; ++c) {
                    const __m256 lanes =
                        _mm256_cvtepi32_ps(Format::block_lanes(levels, y[c], bias[c]));
                    acc[r][c] =
                        _mm256_fmadd_ps(_mm256_broadcast_ss(&scales[r][c][k]), lanes, acc[r][c]);
                }
            }
        };
        for (int64_t b0 = 0; b0 < n_blocks; b0 += kLegacyScaleChunk) {
            const int count = static_cast<int>(
                n_blocks - b0 < kLegacyScaleChunk ? n_blocks - b0 : kLegacyScaleChunk);
            const auto chunk = [&](int chunk_count) {
                __m256 dy[kColumns];
                for (int c = 0; c < kColumns; ++c) {
                    dy[c] = load_block_scales(columns[c], b0, chunk_count, kActivationBlockBytes);
                }
                for (int r = 0; r < kRows; ++r) {
                    const __m256 dw =
                        load_block_scales(rows[r], b0, chunk_count, kWeightBlockBytes);
                    for (int c = 0; c < kColumns; ++c) {
                        _mm256_store_ps(scales[r][c], _mm256_mul_ps(dw, dy[c]));
                    }
                }
                for (int k = 0; k < chunk_count; ++k) block(b0 + k, k);
            };
            // The full chunk with a constant count, so that its loops unroll.
            if (count == kLegacyScaleChunk) {
                chunk(kLegacyScaleChunk);
            } else {
                chunk(count);
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

// 16 bytes of nibbles as 32 bytes: the low nibbles (elements 0-15) then the high (16-31). The
// bytes are loaded into both halves (a load, no shuffle) and the upper half shifted.
inline __m256i unpack_block_nibbles(const uint8_t* p) {
    const __m256i both =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i shifted = _mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
}

}  // namespace
}  // namespace tessera::backend::cpu

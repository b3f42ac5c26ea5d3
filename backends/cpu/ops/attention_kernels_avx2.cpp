// The AVX2 attention loops; this file is compiled with -mavx2 -mfma -mf16c and runs only where
// attention_kernels() found those features.
#include "backends/cpu/ops/attention_kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "formats/quant/blocks.h"
#include "formats/quant/half.h"

namespace tessera::backend::cpu {

namespace {

void decode_f16_avx2(const uint8_t* row, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
    }
    for (; i < n; ++i) {
        uint16_t half = 0;
        std::memcpy(&half, row + 2 * i, sizeof(half));
        out[i] = quant::fp16_to_fp32(half);
    }
}

void decode_q8_0_avx2(const uint8_t* row, float* out, int64_t n) {
    for (int64_t b = 0; b < n / quant::kLegacyBlock; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(sizeof(quant::BlockQ8_0));
        uint16_t scale_bits = 0;
        std::memcpy(&scale_bits, block, sizeof(scale_bits));
        const __m256 scale = _mm256_set1_ps(quant::fp16_to_fp32(scale_bits));
        const uint8_t* quants = block + sizeof(uint16_t);
        float* block_out = out + b * quant::kLegacyBlock;
        for (int part = 0; part < 4; ++part) {
            const __m128i bytes =
                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(quants + 8 * part));
            const __m256 values = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
            _mm256_storeu_ps(block_out + 8 * part, _mm256_mul_ps(values, scale));
        }
    }
}

// Four vectors of accumulators stay in registers across all the columns.
void accumulate_avx2(float* out, const float* weights, const float* values, int64_t n_columns,
                     int64_t dim) {
    int64_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        __m256 a0 = _mm256_loadu_ps(out + d);
        __m256 a1 = _mm256_loadu_ps(out + d + 8);
        __m256 a2 = _mm256_loadu_ps(out + d + 16);
        __m256 a3 = _mm256_loadu_ps(out + d + 24);
        for (int64_t c = 0; c < n_columns; ++c) {
            const __m256 weight = _mm256_set1_ps(weights[c]);
            const float* value = values + c * dim + d;
            a0 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value), a0);
            a1 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 8), a1);
            a2 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 16), a2);
            a3 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 24), a3);
        }
        _mm256_storeu_ps(out + d, a0);
        _mm256_storeu_ps(out + d + 8, a1);
        _mm256_storeu_ps(out + d + 16, a2);
        _mm256_storeu_ps(out + d + 24, a3);
    }
    for (; d + 8 <= dim; d += 8) {
        __m256 a = _mm256_loadu_ps(out + d);
        for (int64_t c = 0; c < n_columns; ++c) {
            a = _mm256_fmadd_ps(_mm256_set1_ps(weights[c]), _mm256_loadu_ps(values + c * dim + d),
                                a);
        }
        _mm256_storeu_ps(out + d, a);
    }
    for (; d < dim; ++d) {
        float a = out[d];
        for (int64_t c = 0; c < n_columns; ++c) a = std::fma(weights[c], values[c * dim + d], a);
        out[d] = a;
    }
}

constexpr AttentionKernels kAvx2{decode_f16_avx2, decode_q8_0_avx2, accumulate_avx2};

}  // namespace

const AttentionKernels* avx2_attention_kernels() {
    return &kAvx2;
}

}  // namespace tessera::backend::cpu

#endif

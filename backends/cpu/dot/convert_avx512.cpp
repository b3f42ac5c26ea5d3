#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstring>

#include "backends/cpu/dot/avx512_kernels.h"

// The conversions of convert_avx2.cpp (see there for why each step is bit-exact) on 16-lane
// vectors, where vpmovdb keeps the low byte of each 32-bit lane directly. BF16 rounds to nearest
// even with the reference's NaN rule (top half kept, made quiet), in integer arithmetic.

namespace tessera::backend::cpu::avx512 {

namespace {

constexpr int kQ8_0Block = 32;
constexpr int kQ8_0Bytes = 34;
constexpr int kQ8_KBlock = 256;
constexpr int kQ8_KBytes = 292;
constexpr int kQ8_KQuantsOffset = 4;
constexpr int kQ8_KBsumsOffset = 4 + 256;

inline __m512i round_half_away(__m512 v) {
    const __m512 just_under_half = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        _mm512_castps_si512(v), _mm512_set1_epi32(static_cast<int32_t>(0x80000000u)),
        _mm512_castps_si512(_mm512_set1_ps(0.49999997f)), 0xEA));  // (v & sign) | 0.49999997
    return _mm512_cvttps_epi32(_mm512_add_ps(v, just_under_half));
}

inline __m512i nearest_int_capped(__m512 v) {
    const __m512 shifted = _mm512_add_ps(v, _mm512_set1_ps(12582912.0f));
    const __m512i bits =
        _mm512_and_si512(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x007fffff));
    const __m512i value = _mm512_sub_epi32(bits, _mm512_set1_epi32(0x00400000));
    return _mm512_min_epi32(value, _mm512_set1_epi32(127));
}

inline uint16_t float_to_half(float value) {
    // _mm_cvtps_ph rather than _cvtss_sh, which clang defines with a C99 compound literal.
    const __m128i half = _mm_cvtps_ph(_mm_set_ss(value), _MM_FROUND_TO_NEAREST_INT);
    return static_cast<uint16_t>(_mm_extract_epi16(half, 0));
}

}  // namespace

void convert_q8_0(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t b = 0; b < n / kQ8_0Block; ++b, x += kQ8_0Block, out += kQ8_0Bytes) {
        const __m512 v0 = _mm512_loadu_ps(x);
        const __m512 v1 = _mm512_loadu_ps(x + 16);
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 scale = _mm512_set1_ps(id);
        const __m128i q0 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v0, scale)));
        const __m128i q1 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v1, scale)));
        const uint16_t d_half = float_to_half(d);
        std::memcpy(out, &d_half, sizeof d_half);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2), q0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 18), q1);
    }
}

void convert_q8_k(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t b = 0; b < n / kQ8_KBlock; ++b, x += kQ8_KBlock, out += kQ8_KBytes) {
        __m512 amax_v = _mm512_setzero_ps();
        for (int k = 0; k < kQ8_KBlock; k += 16)
            amax_v = _mm512_max_ps(amax_v, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
        const float amax = _mm512_reduce_max_ps(amax_v);
        if (amax == 0.0f) {
            std::memset(out, 0, kQ8_KBytes);
            continue;
        }
        // The first element whose magnitude is the maximum.
        float max = 0.0f;
        const __m512 target = _mm512_set1_ps(amax);
        for (int k = 0; k < kQ8_KBlock; k += 16) {
            const __mmask16 hits =
                _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + k)), target, _CMP_EQ_OQ);
            if (hits != 0) {
                max = x[k + __builtin_ctz(static_cast<unsigned>(hits))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 scale = _mm512_set1_ps(iscale);
        int16_t bsums[16];
        for (int g = 0; g < 16; ++g) {
            const __m128i bytes = _mm512_cvtepi32_epi8(
                nearest_int_capped(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), scale)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kQ8_KQuantsOffset + 16 * g), bytes);
            bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(bytes)));
        }
        const float d = 1.0f / iscale;
        std::memcpy(out, &d, sizeof d);
        std::memcpy(out + kQ8_KBsumsOffset, bsums, sizeof bsums);
    }
}

void convert_f16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    if (i < n) {
        const auto rest = static_cast<__mmask16>((1u << (n - i)) - 1u);
        const __m256i halves =
            _mm512_cvtps_ph(_mm512_maskz_loadu_ps(rest, x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(out + 2 * i, rest, halves);
    }
}

void convert_bf16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t i = 0; i < n; i += 16) {
        const auto rest = static_cast<__mmask16>(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
        const __m512i bits = _mm512_castps_si512(_mm512_maskz_loadu_ps(rest, x + i));
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
        const __m512i rounded =
            _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(
            _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
        const __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000));
        const __m512i result = _mm512_srli_epi32(_mm512_mask_blend_epi32(nan, rounded, quiet), 16);
        _mm256_mask_storeu_epi16(out + 2 * i, rest, _mm512_cvtepi32_epi16(result));
    }
}

}  // namespace tessera::backend::cpu::avx512

#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstring>

#include "backends/cpu/dot/avx2_kernels.h"

// Bit-exactness with the reference quantizers (formats/quant) means the same float operations in
// the same rounding, element by element, and the reference's integer conversions modelled
// exactly:
// - Q8_0: d = amax / 127 and id = 1 / d as scalars; each quant is roundf(x * id), rounding half
//   away from zero, computed as trunc(v + copysign(0.5 - 2^-25, v)) (exact for every float:
//   below 0.5 the sum stays below 1, at k + 1/2 it reaches k + 1); then the reference's
//   (int8_t) of a 32-bit truncation, i.e. the low byte, which for the infinite or NaN products
//   of a block whose inverse scale overflows is the low byte of 0x80000000, 0.
// - Q8_K: the signed maximum is the first element of largest magnitude; each quant is ggml's
//   nearest_int, the bits of v + 1.5 * 2^23 minus the bias (round half to even), capped at 127,
//   then its low byte; bsums are sums of the stored bytes.
// The maximum of magnitudes does not depend on order for non-NaN inputs, so it is taken
// vector-wise. NaN inputs are outside the contract (see quant_dot.h).

namespace tessera::backend::cpu::avx2 {

namespace {

constexpr int kQ8_0Block = 32;
constexpr int kQ8_0Bytes = 34;
constexpr int kQ8_KBlock = 256;
constexpr int kQ8_KBytes = 292;
constexpr int kQ8_KQuantsOffset = 4;
constexpr int kQ8_KBsumsOffset = 4 + 256;

inline __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

inline float horizontal_max(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline uint16_t float_to_half(float value) {
    // _mm_cvtps_ph rather than _cvtss_sh, which clang defines with a C99 compound literal.
    const __m128i half = _mm_cvtps_ph(_mm_set_ss(value), _MM_FROUND_TO_NEAREST_INT);
    return static_cast<uint16_t>(_mm_extract_epi16(half, 0));
}

// roundf(v) as a 32-bit integer, with the x86 truncation's 0x80000000 for out-of-range values.
inline __m256i round_half_away(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 just_under_half = _mm256_or_ps(sign, _mm256_set1_ps(0.49999997f));
    return _mm256_cvttps_epi32(_mm256_add_ps(v, just_under_half));
}

// The low bytes of 32 int32 values (in four vectors of 8, in order), as 32 bytes.
inline __m256i low_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i byte = _mm256_set1_epi32(0xFF);
    const __m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, byte), _mm256_and_si256(b, byte));
    const __m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, byte), _mm256_and_si256(d, byte));
    // The packs interleave 128-bit halves: a0 b0 c0 d0 | a1 b1 c1 d1 in 4-byte groups.
    const __m256i bytes = _mm256_packus_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// ggml's nearest_int of each lane, capped at 127.
inline __m256i nearest_int_capped(__m256 v) {
    const __m256 shifted = _mm256_add_ps(v, _mm256_set1_ps(12582912.0f));
    const __m256i bits =
        _mm256_and_si256(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x007fffff));
    const __m256i value = _mm256_sub_epi32(bits, _mm256_set1_epi32(0x00400000));
    return _mm256_min_epi32(value, _mm256_set1_epi32(127));
}

}  // namespace

void convert_q8_0(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t b = 0; b < n / kQ8_0Block; ++b, x += kQ8_0Block, out += kQ8_0Bytes) {
        __m256 v[4];
        for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
        const __m256 amax = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])),
                                          _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
        const float d = horizontal_max(amax) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 scale = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) q[k] = round_half_away(_mm256_mul_ps(v[k], scale));
        const uint16_t d_half = float_to_half(d);
        std::memcpy(out, &d_half, sizeof d_half);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2), low_bytes(q[0], q[1], q[2], q[3]));
    }
}

void convert_q8_k(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t b = 0; b < n / kQ8_KBlock; ++b, x += kQ8_KBlock, out += kQ8_KBytes) {
        __m256 amax_v = _mm256_setzero_ps();
        for (int k = 0; k < kQ8_KBlock; k += 8)
            amax_v = _mm256_max_ps(amax_v, abs_ps(_mm256_loadu_ps(x + k)));
        const float amax = horizontal_max(amax_v);
        if (amax == 0.0f) {
            std::memset(out, 0, kQ8_KBytes);
            continue;
        }
        // The first element whose magnitude is the maximum.
        float max = 0.0f;
        const __m256 target = _mm256_set1_ps(amax);
        for (int k = 0; k < kQ8_KBlock; k += 8) {
            const int hits = _mm256_movemask_ps(
                _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + k)), target, _CMP_EQ_OQ));
            if (hits != 0) {
                max = x[k + __builtin_ctz(static_cast<unsigned>(hits))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 scale = _mm256_set1_ps(iscale);
        int16_t bsums[16];
        for (int g = 0; g < kQ8_KBlock; g += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k)
                q[k] = nearest_int_capped(_mm256_mul_ps(_mm256_loadu_ps(x + g + 8 * k), scale));
            const __m256i bytes = low_bytes(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + kQ8_KQuantsOffset + g), bytes);
            // Sums of 16 stored bytes: widen to 16 bits, add pairs to 32 bits, then fold.
            const __m256i ones = _mm256_set1_epi16(1);
            const __m256i low =
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(bytes)), ones);
            const __m256i high =
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(bytes, 1)), ones);
            // low holds 8 pair sums of bytes 0-15, high of bytes 16-31.
            const __m256i quads =
                _mm256_hadd_epi32(low, high);  // l01 l23 h01 h23 | l45 l67 h45 h67
            const __m256i octets = _mm256_hadd_epi32(quads, quads);  // l0-3 h0-3 .. | l4-7 h4-7 ..
            const __m128i sums =
                _mm_add_epi32(_mm256_castsi256_si128(octets), _mm256_extracti128_si256(octets, 1));
            bsums[g / 16] = static_cast<int16_t>(_mm_cvtsi128_si32(sums));
            bsums[g / 16 + 1] = static_cast<int16_t>(_mm_extract_epi32(sums, 1));
        }
        const float d = 1.0f / iscale;
        std::memcpy(out, &d, sizeof d);
        std::memcpy(out + kQ8_KBsumsOffset, bsums, sizeof bsums);
    }
}

void convert_f16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; ++i) {
        const uint16_t bits = float_to_half(x[i]);
        std::memcpy(out + 2 * i, &bits, sizeof bits);
    }
}

}  // namespace tessera::backend::cpu::avx2

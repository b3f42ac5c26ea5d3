// The K-quant super-blocks (Q2_K ... Q6_K) brought into one shape for the SIMD dot kernels:
//   result = d * dy * (sum_i level_i * scale(i) * y_i - sum_g offset_g * bsum_g)
//            - dmin * dy * sum_g min_g * bsum_g
// with level_i the element's unsigned level (0 ... 63) in element order, scale(i) the scale of
// its 16-element group (an 8-bit integer; a 32-element sub-block's counts for both of its
// groups), and per group g an offset (the levels' zero point times the
// scale: 32 s_g for Q6_K, 4 s_g for Q3_K) and a minimum (Q2_K, Q4_K, Q5_K), both paired with
// Q8_K's bsums (the group's sum of activation quants). This is the scalar kernels' integer sum
// rearranged, so it is exact in 32 bits:
//   - maddubs(level, y) pairs: at most 2 * 63 * 127 = 16002, within int16;
//   - times a scale (|s| <= 128) and summed over a super-block: below 2^26.
// A row's super-block is decoded once into a PreparedSuperblock and then used for every column
// of a tile.
//
// Built with AVX2 intrinsics; include only from *_avx2.cpp / *_avx512.cpp files (anonymous
// namespace: see tile_driver.h).
#pragma once

#include "backends/cpu/dot/simd_intrinsics.h"

#include <cstdint>
#include <cstring>

namespace tessera::backend::cpu {
namespace {

constexpr int kSuperblockElements = 256;
constexpr uint64_t kQ8_KBlockBytes = 292;
constexpr int kQ8_KQuants = 4;   // byte offset of the quants
constexpr int kQ8_KBsums = 260;  // byte offset of the 16 group sums

struct PreparedSuperblock {
    alignas(64) uint8_t levels[kSuperblockElements];
    alignas(16) int8_t scales[16];  // per 16-element group
    alignas(32) int16_t offsets[16];
    alignas(32) int16_t mins[16];
    float d, dmin;
};

inline float half_at(const uint8_t* p) {
    uint16_t bits;
    std::memcpy(&bits, p, sizeof bits);
    return _cvtsh_ss(bits);
}

inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
inline void store256(void* p, __m256i v) {
    _mm256_storeu_si256(static_cast<__m256i*>(p), v);
}

// The 16-bit scales of 32-element chunk j (lanes 0-7: group 2j, lanes 8-15: group 2j + 1) from
// the 16 group scales loaded into both 128-bit halves: a byte shuffle puts each scale in the
// high byte of its lanes, and an arithmetic shift brings it down with its sign. No memory round
// trip and one shuffle per chunk.
inline __m256i chunk_scales(__m256i group_scales, int j) {
    const auto low = static_cast<char>(2 * j);
    const auto high = static_cast<char>(2 * j + 1);
    const char zero = static_cast<char>(0x80);
    const __m256i mask =
        _mm256_setr_epi8(zero, low, zero, low, zero, low, zero, low, zero, low, zero, low, zero,
                         low, zero, low, zero, high, zero, high, zero, high, zero, high, zero, high,
                         zero, high, zero, high, zero, high);
    return _mm256_srai_epi16(_mm256_shuffle_epi8(group_scales, mask), 8);
}

inline __m256i load_group_scales(const PreparedSuperblock& p) {
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(p.scales)));
}

// A 32-element sub-block's scale for both of its groups.
inline void store_scales_per_32(PreparedSuperblock& p, const uint8_t (&scale)[8]) {
    uint64_t bytes;
    std::memcpy(&bytes, scale, 8);
    const __m128i s = _mm_cvtsi64_si128(static_cast<int64_t>(bytes));
    _mm_store_si128(reinterpret_cast<__m128i*>(p.scales), _mm_unpacklo_epi8(s, s));
}

// Bits of each byte of `bits` moved so that bit `from` lands on bit `to`, all others cleared.
// 16-bit shifts are fine: what crosses into the neighbouring byte is masked away.
inline __m256i move_bit(__m256i bits, int from, int to) {
    const __m256i moved =
        from <= to ? _mm256_slli_epi16(bits, to - from) : _mm256_srli_epi16(bits, from - to);
    return _mm256_and_si256(moved, _mm256_set1_epi8(static_cast<char>(1 << to)));
}

// Q4_K's and Q5_K's 8 6-bit scales and mins from their 12 packed bytes.
inline void unpack_scales_mins_k4(const uint8_t* packed, uint8_t (&scale)[8], uint8_t (&min)[8]) {
    uint32_t word[3];
    std::memcpy(word, packed, sizeof word);
    const uint32_t scales_low = word[0] & 0x3f3f3f3fu;
    const uint32_t mins_low = word[1] & 0x3f3f3f3fu;
    const uint32_t scales_high = (word[2] & 0x0f0f0f0fu) | (((word[0] >> 6) & 0x03030303u) << 4);
    const uint32_t mins_high =
        ((word[2] >> 4) & 0x0f0f0f0fu) | (((word[1] >> 6) & 0x03030303u) << 4);
    std::memcpy(scale, &scales_low, 4);
    std::memcpy(scale + 4, &scales_high, 4);
    std::memcpy(min, &mins_low, 4);
    std::memcpy(min + 4, &mins_high, 4);
}

inline void store_mins_per_32(PreparedSuperblock& p, const uint8_t (&min)[8]) {
    uint64_t bytes;
    std::memcpy(&bytes, min, 8);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(bytes)));
    // Each 32-element sub-block's minimum for both of its 16-element groups, stored with one
    // 32-byte store: the kernel reads it back with one 32-byte load, which two 16-byte stores
    // could not forward.
    store256(p.mins, _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16)));
}

// Q2_K: scales[16] (scale low nibble, min high nibble), qs[64], d, dmin.
inline void prepare_q2_k(const uint8_t* w, PreparedSuperblock& p) {
    const __m256i low2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
        const __m256i q = load256(w + 16 + 32 * h);
        for (int s = 0; s < 4; ++s) {
            store256(p.levels + 128 * h + 32 * s,
                     _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), low2));
        }
    }
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
    _mm_store_si128(reinterpret_cast<__m128i*>(p.scales),
                    _mm_and_si128(packed, _mm_set1_epi8(0x0F)));
    store256(p.mins,
             _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F))));
    store256(p.offsets, _mm256_setzero_si256());
    p.d = half_at(w + 80);
    p.dmin = half_at(w + 82);
}

// Q3_K: hmask[32], qs[64], scales[12] (16 6-bit scales offset by 32), d. The level is the low 2
// bits plus 4 when the high bit is set; the element's value is level - 4.
inline void prepare_q3_k(const uint8_t* w, PreparedSuperblock& p) {
    const __m256i low2 = _mm256_set1_epi8(3);
    const __m256i hmask = load256(w);
    for (int h = 0; h < 2; ++h) {
        const __m256i q = load256(w + 32 + 32 * h);
        for (int s = 0; s < 4; ++s) {
            const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), low2);
            const __m256i high = move_bit(hmask, 4 * h + s, 2);
            store256(p.levels + 128 * h + 32 * s, _mm256_or_si256(low, high));
        }
    }
    const uint8_t* packed = w + 96;
    // Gathered in two 64-bit integers and stored at once (byte stores read back as one load
    // would not be forwarded).
    uint64_t halves[2] = {0, 0};
    for (int j = 0; j < 16; ++j) {
        const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
        const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        const auto scale = static_cast<uint8_t>((low | (high << 4)) - 32);
        halves[j / 8] |= static_cast<uint64_t>(scale) << (8 * (j % 8));
    }
    const __m128i packed_scales =
        _mm_set_epi64x(static_cast<int64_t>(halves[1]), static_cast<int64_t>(halves[0]));
    _mm_store_si128(reinterpret_cast<__m128i*>(p.scales), packed_scales);
    const __m256i scales = _mm256_cvtepi8_epi16(packed_scales);
    store256(p.offsets, _mm256_slli_epi16(scales, 2));  // 4 * scale
    store256(p.mins, _mm256_setzero_si256());
    p.d = half_at(w + 108);
    p.dmin = 0.0f;
}

// Q4_K: d, dmin, scales[12], qs[128]: sub-block j in nibble j % 2 of qs[32 (j / 2) + l].
inline void prepare_q4_k(const uint8_t* w, PreparedSuperblock& p) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
        const __m256i q = load256(w + 16 + 32 * j);
        store256(p.levels + 64 * j, _mm256_and_si256(q, nibble));
        store256(p.levels + 64 * j + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble));
    }
    uint8_t scale[8], min[8];
    unpack_scales_mins_k4(w + 4, scale, min);
    store_scales_per_32(p, scale);
    store_mins_per_32(p, min);
    store256(p.offsets, _mm256_setzero_si256());
    p.d = half_at(w);
    p.dmin = half_at(w + 2);
}

// Q5_K: d, dmin, scales[12], qh[32] (bit j of qh[l]: the fifth bit of sub-block j), qs[128].
inline void prepare_q5_k(const uint8_t* w, PreparedSuperblock& p) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i qh = load256(w + 16);
    for (int j = 0; j < 4; ++j) {
        const __m256i q = load256(w + 48 + 32 * j);
        store256(p.levels + 64 * j,
                 _mm256_or_si256(_mm256_and_si256(q, nibble), move_bit(qh, 2 * j, 4)));
        store256(p.levels + 64 * j + 32,
                 _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), nibble),
                                 move_bit(qh, 2 * j + 1, 4)));
    }
    uint8_t scale[8], min[8];
    unpack_scales_mins_k4(w + 4, scale, min);
    store_scales_per_32(p, scale);
    store_mins_per_32(p, min);
    store256(p.offsets, _mm256_setzero_si256());
    p.d = half_at(w);
    p.dmin = half_at(w + 2);
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d. Per 128 elements, element l + 32 k has its low
// nibble in nibble k / 2 of ql[l + 32 (k % 2)] and its high bits in bit pair k of qh[l]; the
// value is level - 32.
inline void prepare_q6_k(const uint8_t* w, PreparedSuperblock& p) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i high2 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load256(w + 64 * h);
        const __m256i ql1 = load256(w + 64 * h + 32);
        const __m256i qh = load256(w + 128 + 32 * h);
        uint8_t* out = p.levels + 128 * h;
        store256(out, _mm256_or_si256(_mm256_and_si256(ql0, nibble),
                                      _mm256_and_si256(_mm256_slli_epi16(qh, 4), high2)));
        store256(out + 32, _mm256_or_si256(_mm256_and_si256(ql1, nibble),
                                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), high2)));
        store256(out + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble),
                                           _mm256_and_si256(qh, high2)));
        store256(out + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble),
                                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), high2)));
    }
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 192));
    _mm_store_si128(reinterpret_cast<__m128i*>(p.scales), packed);
    store256(p.offsets, _mm256_slli_epi16(_mm256_cvtepi8_epi16(packed), 5));  // 32 * scale
    store256(p.mins, _mm256_setzero_si256());
    p.d = half_at(w + 208);
    p.dmin = 0.0f;
}

}  // namespace
}  // namespace tessera::backend::cpu

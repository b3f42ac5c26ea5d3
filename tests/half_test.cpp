// fp16 and bf16 conversions: every 16-bit pattern both ways, and float -> 16-bit on a few hundred
// thousand edge cases (every rounding tie, its neighbours, subnormals, overflow, NaN), checked
// against numpy (fp16) and gguf-py's port of ggml's bf16 conversion.
#include "formats/quant/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "tests/gguf_py.h"

namespace tessera::quant {
namespace {

uint32_t bits_of(float f) {
    return std::bit_cast<uint32_t>(f);
}
float from_bits(uint32_t b) {
    return std::bit_cast<float>(b);
}
bool is_nan_bits(uint32_t b) {
    return (b & 0x7fffffffu) > 0x7f800000u;
}
bool is_nan_half(uint16_t h) {
    return (h & 0x7fffu) > 0x7c00u;
}

std::vector<uint16_t> all_16_bit_patterns() {
    std::vector<uint16_t> patterns(65536);
    for (uint32_t i = 0; i < 65536; ++i) patterns[i] = static_cast<uint16_t>(i);
    return patterns;
}

std::span<const uint8_t> as_bytes(const std::vector<uint16_t>& v) {
    return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(uint16_t)};
}

// Floats around every rounding decision of float -> fp16: each finite half, the midpoint to the
// next one up (a tie), the floats on either side of that midpoint, both signs; then the region
// below the smallest subnormal, float subnormals, overflow, infinities, NaNs and random bits.
std::vector<float> fp16_edge_cases() {
    std::vector<uint32_t> bits;
    for (uint16_t h = 0; h < 0x7c00; ++h) {
        const float lo = fp16_to_fp32(h);
        const float hi = h == 0x7bff ? 65536.0f : fp16_to_fp32(static_cast<uint16_t>(h + 1));
        const auto mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);  // exact
        for (const float f : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
            bits.push_back(bits_of(f));
            bits.push_back(bits_of(f) | 0x80000000u);
        }
    }
    for (uint32_t e = 90; e <= 114; ++e) {  // 2^-37 ... 2^-13, around the subnormal halves
        for (const uint32_t m : {0u, 1u, 0x3fffffu, 0x400000u, 0x400001u, 0x7fffffu}) {
            bits.push_back((e << 23) | m);
        }
    }
    for (const uint32_t b : {0x00000001u, 0x00400000u, 0x007fffffu, 0x7f7fffffu, 0x7f800000u,
                             0x477fefffu, 0x477ff000u, 0x477ff001u, 0x47800000u, 0x4f000000u}) {
        bits.push_back(b);
        bits.push_back(b | 0x80000000u);
    }
    for (const uint32_t nan : {0x7fc00000u, 0x7f800001u, 0x7fbfffffu, 0x7fffffffu, 0x7f802000u,
                               0x7fa00000u, 0xffc00000u, 0xff800001u}) {
        bits.push_back(nan);
    }
    std::mt19937 rng(1234);
    for (int i = 0; i < 20000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
    std::vector<float> floats(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) floats[i] = from_bits(bits[i]);
    return floats;
}

// Every upper half (so every exponent, NaN and infinity included) with the lower halves that
// decide rounding to bf16: exact, just below a tie, the tie, just above it, the most.
std::vector<float> bf16_edge_cases() {
    std::vector<float> floats;
    for (uint32_t upper = 0; upper < 65536; ++upper) {
        for (const uint32_t lower : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
            floats.push_back(from_bits((upper << 16) | lower));
        }
    }
    return floats;
}

TEST(HalfTest, KnownFp16Values) {
    EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
    EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7bff);  // just below the tie with 65536
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);    // the tie goes to the even side: infinity
    EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
    EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
    EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);         // smallest subnormal
    EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);         // tie with zero: even
    EXPECT_EQ(fp32_to_fp16(0x1.000002p-25f), 0x0001);  // just above that tie
    EXPECT_EQ(fp32_to_fp16(0x1.8p-24f), 0x0002);       // 1.5 ulp: tie to even 2
    EXPECT_EQ(fp32_to_fp16(0x1.4p-23f), 0x0002);       // 2.5 ulp: tie to even 2
    EXPECT_EQ(fp32_to_fp16(0x1.ff8p-15f), 0x03ff);     // largest subnormal
    EXPECT_EQ(fp32_to_fp16(0x1.ffcp-15f), 0x0400);     // tie, rounds up into the normals
    EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);  // tie, even stays
    EXPECT_EQ(fp32_to_fp16(1.0f + 0x3p-11f), 0x3c02);  // tie, odd goes up
    EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
    EXPECT_EQ(fp32_to_fp16(from_bits(0xff800001u)), 0xfe00);  // ggml: sign | 0x7e00

    EXPECT_EQ(bits_of(fp16_to_fp32(0x0001)), bits_of(0x1p-24f));
    EXPECT_EQ(bits_of(fp16_to_fp32(0x8000)), 0x80000000u);
    EXPECT_EQ(bits_of(fp16_to_fp32(0x7c00)), 0x7f800000u);
    EXPECT_EQ(bits_of(fp16_to_fp32(0x7c01)), 0x7fc02000u);  // quieted, payload kept
    EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);
}

TEST(HalfTest, KnownBf16Values) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(fp32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, odd goes up
    EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    EXPECT_EQ(fp32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
    EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000u)), 0x0002);  // subnormals are kept
    EXPECT_EQ(fp32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);  // NaN: truncated and quieted
    EXPECT_EQ(fp32_to_bf16(from_bits(0xffffffffu)), 0xffff);
    EXPECT_EQ(bits_of(bf16_to_fp32(0xc049)), 0xc0490000u);
}

// fp16 -> fp32 -> fp16 gives every half back (NaNs come back as ggml's canonical NaN).
TEST(HalfTest, Fp16RoundTripAllPatterns) {
    for (uint32_t i = 0; i < 65536; ++i) {
        const auto h = static_cast<uint16_t>(i);
        const uint16_t expected =
            is_nan_half(h) ? static_cast<uint16_t>((h & 0x8000u) | 0x7e00u) : h;
        ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(h)), expected) << "half 0x" << std::hex << i;
    }
}

// bf16 -> fp32 -> bf16 gives every pattern back (NaNs quieted).
TEST(HalfTest, Bf16RoundTripAllPatterns) {
    for (uint32_t i = 0; i < 65536; ++i) {
        const auto h = static_cast<uint16_t>(i);
        ASSERT_EQ(bits_of(bf16_to_fp32(h)), i << 16);
        const uint16_t expected = is_nan_bits(i << 16) ? static_cast<uint16_t>(h | 0x40u) : h;
        ASSERT_EQ(fp32_to_bf16(bf16_to_fp32(h)), expected) << "bf16 0x" << std::hex << i;
    }
}

// Every half to float against numpy's astype(float32). numpy keeps a signaling NaN signaling;
// ggml converts through float arithmetic (and F16C), which quiets it, and so do we.
TEST(HalfTest, Fp16ToFp32AllPatternsMatchNumpy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    const auto halves = all_16_bit_patterns();
    const auto reference = test::gguf_py_dequantize("f16", as_bytes(halves));
    ASSERT_EQ(reference.size(), halves.size());
    for (size_t i = 0; i < halves.size(); ++i) {
        uint32_t expected = bits_of(reference[i]);
        if (is_nan_bits(expected)) expected |= 0x00400000u;
        ASSERT_EQ(bits_of(fp16_to_fp32(halves[i])), expected) << "half 0x" << std::hex << i;
    }
}

// Float to half against numpy's astype(float16) (IEEE round to nearest even). For NaN numpy keeps
// payload bits while ggml's conversion gives sign | 0x7E00; ggml is the authority for the files.
TEST(HalfTest, Fp32ToFp16EdgeCasesMatchNumpy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    const auto floats = fp16_edge_cases();
    const auto raw = test::gguf_py_quantize("f16", floats);
    ASSERT_EQ(raw.size(), floats.size() * 2);
    for (size_t i = 0; i < floats.size(); ++i) {
        uint16_t expected;
        std::memcpy(&expected, raw.data() + 2 * i, 2);
        const uint32_t input = bits_of(floats[i]);
        if (is_nan_bits(input)) {
            ASSERT_TRUE(is_nan_half(expected));
            expected = static_cast<uint16_t>(((input >> 16) & 0x8000u) | 0x7e00u);
        }
        ASSERT_EQ(fp32_to_fp16(floats[i]), expected) << "float bits 0x" << std::hex << input;
    }
}

// bf16 both ways against gguf-py, whose BF16 codec is a numpy port of ggml's.
TEST(HalfTest, Bf16MatchesGgufPy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    const auto patterns = all_16_bit_patterns();
    const auto widened = test::gguf_py_dequantize("bf16", as_bytes(patterns));
    ASSERT_EQ(widened.size(), patterns.size());
    for (size_t i = 0; i < patterns.size(); ++i) {
        ASSERT_EQ(bits_of(bf16_to_fp32(patterns[i])), bits_of(widened[i])) << i;
    }

    const auto floats = bf16_edge_cases();
    const auto raw = test::gguf_py_quantize("bf16", floats);
    ASSERT_EQ(raw.size(), floats.size() * 2);
    for (size_t i = 0; i < floats.size(); ++i) {
        uint16_t expected;
        std::memcpy(&expected, raw.data() + 2 * i, 2);
        ASSERT_EQ(fp32_to_bf16(floats[i]), expected)
            << "float bits 0x" << std::hex << bits_of(floats[i]);
    }
}

}  // namespace
}  // namespace tessera::quant

// The legacy block codecs (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) and the float formats behind
// quantize_row / dequantize_row, checked byte for byte against the PyPI gguf package on random
// and edge-case blocks, plus the cases where ggml's C reference (the authority) and gguf-py part.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "formats/error.h"
#include "formats/quant/blocks.h"
#include "formats/quant/codec.h"
#include "formats/quant/half.h"
#include "formats/quant/legacy_codec.h"
#include "formats/quant/tensor_type.h"
#include "tests/gguf_py.h"

namespace tessera::quant {
namespace {

struct LegacyType {
    TensorType type;
    std::vector<size_t> half_fields;  // byte offsets of the half scales in a block
};

const std::vector<LegacyType>& legacy_types() {
    static const std::vector<LegacyType> types = {
        {TensorType::Q4_0, {0}},    {TensorType::Q4_1, {0, 2}}, {TensorType::Q5_0, {0}},
        {TensorType::Q5_1, {0, 2}}, {TensorType::Q8_0, {0}},
    };
    return types;
}

std::string name_of(TensorType type) {
    return std::string(type_info(type).name);
}

// Deterministic on every platform: mt19937's output is fixed by the standard, and the mapping to
// floats is ours (the standard distributions are not portable).
class Random {
  public:
    explicit Random(uint32_t seed) : engine_(seed) {}
    uint32_t bits() { return static_cast<uint32_t>(engine_()); }
    float uniform() { return static_cast<float>(bits() >> 8) * 0x1p-24f; }  // [0, 1)
    float symmetric() { return 2.0f * uniform() - 1.0f; }                   // [-1, 1)
    int integer(int lo, int hi) { return lo + static_cast<int>(bits() % (hi - lo + 1)); }
    float normal() {
        const double u1 = (static_cast<double>(bits()) + 1.0) / 4294967297.0;
        const double u2 = static_cast<double>(bits()) / 4294967296.0;
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                                  std::cos(2.0 * std::numbers::pi * u2));
    }

  private:
    std::mt19937 engine_;
};

// Rows of 32-float blocks covering what quantizers get wrong: ordinary distributions at many
// scales, constant and all-zero blocks, outliers, tiny and huge magnitudes (scales that are
// subnormal or infinite as halves), sign patterns, ties for the largest magnitude, and grids of
// half-integers on power-of-two steps that put x * id + offset exactly on rounding boundaries.
// No NaN, no infinity, no float subnormals and no -0 (see the dedicated tests below).
std::vector<float> quantize_inputs() {
    Random rng(20240601);
    std::vector<float> x;
    auto block = [&](auto&& value_at) {
        for (int j = 0; j < kLegacyBlock; ++j) x.push_back(value_at(j));
    };
    for (int rep = 0; rep < 16; ++rep) {
        const float scale = std::ldexp(1.0f, rng.integer(-12, 12));
        const float step = std::ldexp(1.0f, rng.integer(-10, 4));
        block([&](int) { return rng.normal() * scale; });
        block([&](int) { return rng.symmetric() * scale; });
        block([&](int) {
            return std::tan(std::numbers::pi_v<float> * (rng.uniform() - 0.5f) * 0.999f) * scale;
        });
        const float constant = rng.normal() * scale;
        block([&](int) { return constant; });
        block([&](int) { return 0.0f; });
        block([&](int j) { return j == rep % 32 ? 1000.0f * scale : rng.normal() * 0.01f; });
        block([&](int) { return rng.normal() * 1e-6f; });
        block([&](int) { return rng.normal() * 1e-5f; });
        block([&](int) { return rng.normal() * 3e3f; });
        block([&](int) { return rng.normal() * 1e6f; });  // scale overflows the half range
        block([&](int) { return rng.normal() * 1e30f; });
        block([&](int j) { return (j / 16 % 2 == 0 ? 1.0f : -1.0f) * (0.5f + rng.uniform()); });
        block([&](int j) { return (j % 2 == 0 ? 1.0f : -1.0f) * (0.5f + rng.uniform()) * scale; });
        block([&](int) { return (1.0f + rng.uniform()) * scale; });
        block([&](int) { return -(1.0f + rng.uniform()) * scale; });
        // Largest magnitude twice, with both signs: the first one decides the sign of the scale.
        const float peak = (rep % 2 == 0 ? 5.0f : -5.0f) * scale;
        block([&](int j) { return j == 3 ? peak : j == 20 ? -peak : rng.symmetric() * scale; });
        // Half-integer grids, with the extreme element that makes id a power of two.
        auto grid = [&](int lo, int hi) { return static_cast<float>(rng.integer(lo, hi)) + 0.5f; };
        block([&](int j) { return j == 0 ? -8.0f * step : grid(-8, 7) * step; });
        block([&](int j) { return j == 0 ? -16.0f * step : grid(-16, 15) * step; });
        block([&](int j) { return j == 0 ? 127.0f * step : grid(-127, 126) * step; });
        block([&](int j) { return j == 0 ? 0.0f : j == 1 ? 15.0f * step : grid(0, 14) * step; });
        block([&](int j) { return j == 0 ? 0.0f : j == 1 ? 31.0f * step : grid(0, 30) * step; });
        // Near ties with a scale that is not a power of two: elements within two ulps of
        // (k + 1/2) / id, so that x * id rounds onto or next to a rounding boundary. This is
        // where a fused multiply-add would part from ggml, which rounds x * id first.
        const float magnitude = (1.0f + rng.uniform()) * scale;
        auto near_tie = [&](float id, int lo, int hi) {
            float value = (static_cast<float>(rng.integer(lo, hi)) + 0.5f) / id;
            const int ulps = rng.integer(-2, 2);
            for (int u = 0; u < std::abs(ulps); ++u) {
                value = std::nextafter(value, ulps < 0 ? -INFINITY : INFINITY);
            }
            return value;
        };
        for (const float levels : {8.0f, 16.0f}) {  // Q4_0, Q5_0: x * id + levels + 1/2
            const float id = 1.0f / (-magnitude / -levels);
            const int top = static_cast<int>(levels) - 2;
            block([&](int j) { return j == 0 ? -magnitude : near_tie(id, -top - 1, top); });
        }
        for (const float levels : {15.0f, 31.0f}) {  // Q4_1, Q5_1: (x - 0) * id + 1/2
            const float id = 1.0f / (magnitude / levels);
            const int top = static_cast<int>(levels) - 2;
            block([&](int j) { return j == 0 ? 0.0f : j == 1 ? magnitude : near_tie(id, 0, top); });
        }
        const float id_q8 = 1.0f / (magnitude / 127.0f);  // Q8_0: roundf(x * id)
        block([&](int j) { return j == 0 ? magnitude : near_tie(id_q8, -127, 125); });
        // Values that are halves already.
        block([&](int) {
            const auto half = static_cast<uint16_t>(rng.bits() & 0xfbffu);  // finite
            return fp16_to_fp32(half);
        });
    }
    return x;
}

// Blocks of the given type: edge cases first (all bits clear, all bits set, each scale field set
// to 1 with all quants at their minimum, at their maximum, and alternating), then random blocks
// whose scales are drawn from special halves (zero, subnormal, largest, infinite, NaN) half the
// time.
std::vector<uint8_t> dequantize_inputs(const LegacyType& legacy) {
    const size_t size = type_info(legacy.type).block_bytes;
    const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400,
                                0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
                                0x7e00, 0x7c01, 0xfe01, 0x1234, 0x2e66, 0xa8f5};
    Random rng(7);
    std::vector<uint8_t> bytes;
    auto add_block = [&](uint8_t fill, uint16_t scale) {
        std::vector<uint8_t> block(size, fill);
        for (const size_t field : legacy.half_fields) std::memcpy(&block[field], &scale, 2);
        bytes.insert(bytes.end(), block.begin(), block.end());
    };
    add_block(0x00, 0x0000);
    add_block(0xff, 0xffff);
    for (const int fill : {0x00, 0xff, 0x0f, 0xf0, 0x55, 0xaa, 0x80, 0x7f}) {
        add_block(static_cast<uint8_t>(fill), 0x3c00);
        add_block(static_cast<uint8_t>(fill), 0xb800);
    }
    for (int i = 0; i < 600; ++i) {
        std::vector<uint8_t> block(size);
        for (auto& b : block) b = static_cast<uint8_t>(rng.bits());
        for (const size_t field : legacy.half_fields) {
            if (rng.bits() % 2 == 0) {
                const uint16_t scale = special[rng.bits() % std::size(special)];
                std::memcpy(&block[field], &scale, 2);
            }
        }
        bytes.insert(bytes.end(), block.begin(), block.end());
    }
    return bytes;
}

// Bit-for-bit equality, except that any NaN matches any NaN: which operand's payload a NaN
// carries after x * d + m depends on the operand order the compiler picks, and fp16_to_fp32's
// NaNs are pinned down exactly in half_test.cpp.
void expect_same_floats(const std::vector<float>& actual, const std::vector<float>& expected,
                        const std::string& what) {
    ASSERT_EQ(actual.size(), expected.size()) << what;
    for (size_t i = 0; i < actual.size(); ++i) {
        const auto a = std::bit_cast<uint32_t>(actual[i]);
        const auto e = std::bit_cast<uint32_t>(expected[i]);
        if (a == e || (std::isnan(actual[i]) && std::isnan(expected[i]))) continue;
        FAIL() << what << ": element " << i << " (block " << i / kLegacyBlock << ") is "
               << actual[i] << " (0x" << std::hex << a << "), expected " << expected[i] << " (0x"
               << e << ")";
    }
}

std::string hex(const uint8_t* bytes, size_t n) {
    std::ostringstream out;
    for (size_t i = 0; i < n; ++i) {
        out << "0123456789abcdef"[bytes[i] >> 4] << "0123456789abcdef"[bytes[i] & 15];
    }
    return out.str();
}

void expect_same_blocks(const std::vector<uint8_t>& actual, const std::vector<uint8_t>& expected,
                        const std::vector<float>& input, TensorType type) {
    const TypeInfo& info = type_info(type);
    ASSERT_EQ(actual.size(), expected.size()) << info.name;
    for (size_t offset = 0; offset < actual.size(); offset += info.block_bytes) {
        if (std::memcmp(&actual[offset], &expected[offset], info.block_bytes) == 0) continue;
        const size_t block = offset / info.block_bytes;
        std::ostringstream inputs;
        for (size_t j = 0; j < info.block_size; ++j) {
            inputs << ' ' << input[block * info.block_size + j];
        }
        FAIL() << info.name << ": block " << block << " is "
               << hex(&actual[offset], info.block_bytes) << ", expected "
               << hex(&expected[offset], info.block_bytes) << "; inputs:" << inputs.str();
    }
}

std::vector<uint8_t> quantize(TensorType type, const std::vector<float>& x) {
    std::vector<uint8_t> out(row_bytes(type_info(type), x.size()));
    quantize_row(type, x.data(), out.data(), static_cast<int64_t>(x.size()));
    return out;
}

std::vector<float> dequantize(TensorType type, const std::vector<uint8_t>& bytes) {
    const TypeInfo& info = type_info(type);
    std::vector<float> out(bytes.size() / info.block_bytes * info.block_size);
    dequantize_row(type, bytes.data(), out.data(), static_cast<int64_t>(out.size()));
    return out;
}

TEST(QuantLegacyTest, DequantizeMatchesGgufPy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    for (const auto& legacy : legacy_types()) {
        const auto bytes = dequantize_inputs(legacy);
        const auto expected = test::gguf_py_dequantize(name_of(legacy.type), bytes);
        expect_same_floats(dequantize(legacy.type, bytes), expected, name_of(legacy.type));
    }
}

TEST(QuantLegacyTest, DequantizeFloatTypesMatchGgufPy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    std::vector<uint8_t> bytes(65536 * 4);
    Random rng(3);
    for (size_t i = 0; i < bytes.size(); i += 2) {  // every 16-bit pattern, then random bytes
        const auto pattern = static_cast<uint16_t>(i / 2 < 65536 ? i / 2 : rng.bits());
        std::memcpy(&bytes[i], &pattern, 2);
    }
    for (const auto type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        const auto expected = test::gguf_py_dequantize(name_of(type), bytes);
        expect_same_floats(dequantize(type, bytes), expected, name_of(type));
    }
}

// gguf-py implements quantization for all five legacy types and the float types; its numpy code
// does ggml's float operations in ggml's order, so the bytes agree exactly on these inputs. (They
// part on all-zero blocks that start with -0; see AllZeroBlocks.)
TEST(QuantLegacyTest, QuantizeMatchesGgufPy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    const auto x = quantize_inputs();
    for (const auto& legacy : legacy_types()) {
        const auto expected = test::gguf_py_quantize(name_of(legacy.type), x);
        expect_same_blocks(quantize(legacy.type, x), expected, x, legacy.type);
    }
    for (const auto type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        const auto expected = test::gguf_py_quantize(name_of(type), x);
        EXPECT_EQ(quantize(type, x), expected) << name_of(type);
    }
}

// ggml starts the search for the largest magnitude from +0, so an all-zero block of either sign
// gets the scale 0 / -8 = -0 in Q4_0 and Q5_0. gguf-py takes the first element's sign instead and
// writes +0 for a block of -0; ggml's C reference is the authority.
TEST(QuantLegacyTest, AllZeroBlocks) {
    for (const float zero : {0.0f, -0.0f}) {
        const std::vector<float> x(kLegacyBlock, zero);
        SCOPED_TRACE(zero);

        BlockQ4_0 q4_0;
        quantize_row_q4_0(x.data(), &q4_0, kLegacyBlock);
        EXPECT_EQ(q4_0.d, 0x8000);
        for (const uint8_t q : q4_0.qs) EXPECT_EQ(q, 0x88);  // every quant at the middle, 8

        BlockQ5_0 q5_0;
        quantize_row_q5_0(x.data(), &q5_0, kLegacyBlock);
        EXPECT_EQ(q5_0.d, 0x8000);
        for (const uint8_t q : q5_0.qs) EXPECT_EQ(q, 0x00);  // 16: low nibbles 0 ...
        for (const uint8_t h : q5_0.qh) EXPECT_EQ(h, 0xff);  // ... and the fifth bits set

        BlockQ4_1 q4_1;
        quantize_row_q4_1(x.data(), &q4_1, kLegacyBlock);
        EXPECT_EQ(q4_1.d, 0x0000);  // (0 - 0) / 15 is +0 for either sign
        // The minimum is the first element: its sign survives.
        EXPECT_EQ(q4_1.m, std::signbit(zero) ? 0x8000 : 0x0000);
        for (const uint8_t q : q4_1.qs) EXPECT_EQ(q, 0x00);

        BlockQ8_0 q8_0;
        quantize_row_q8_0(x.data(), &q8_0, kLegacyBlock);
        EXPECT_EQ(q8_0.d, 0x0000);
        for (const int8_t q : q8_0.qs) EXPECT_EQ(q, 0);
    }
}

// A block of float subnormals has a scale whose reciprocal overflows to infinity, so every
// x * id is infinite and ggml's (int8_t) casts see values out of range. C leaves that undefined;
// ggml built for x86 produces 0, and so do we (see truncate_like_x86 in legacy_codec.cpp).
TEST(QuantLegacyTest, SubnormalInputsGiveZeroQuants) {
    const std::vector<float> x(kLegacyBlock, 1e-40f);
    BlockQ4_0 q4_0;
    quantize_row_q4_0(x.data(), &q4_0, kLegacyBlock);
    EXPECT_EQ(q4_0.d, 0x8000);  // -1.25e-41 rounds to -0 as a half
    for (const uint8_t q : q4_0.qs) EXPECT_EQ(q, 0x00);

    BlockQ8_0 q8_0;
    quantize_row_q8_0(x.data(), &q8_0, kLegacyBlock);
    EXPECT_EQ(q8_0.d, 0x0000);
    for (const int8_t q : q8_0.qs) EXPECT_EQ(q, 0);
}

// Q8_1 (activations only; gguf-py has no quantizer for it) is Q8_0 plus s = d * sum(quants),
// with d the float scale before it is rounded to a half.
TEST(QuantLegacyTest, Q8_1IsQ8_0WithSum) {
    const auto x = quantize_inputs();
    const int64_t blocks = static_cast<int64_t>(x.size()) / kLegacyBlock;
    std::vector<BlockQ8_0> q8_0(static_cast<size_t>(blocks));
    std::vector<BlockQ8_1> q8_1(static_cast<size_t>(blocks));
    quantize_row_q8_0(x.data(), q8_0.data(), blocks * kLegacyBlock);
    quantize_row_q8_1(x.data(), q8_1.data(), blocks * kLegacyBlock);
    for (size_t i = 0; i < q8_0.size(); ++i) {
        SCOPED_TRACE(i);
        ASSERT_EQ(q8_1[i].d, q8_0[i].d);
        ASSERT_EQ(std::memcmp(q8_1[i].qs, q8_0[i].qs, kLegacyBlock), 0);
        float amax = 0.0f;
        int sum = 0;
        for (int j = 0; j < kLegacyBlock; ++j) {
            amax = std::max(amax, std::fabs(x[i * kLegacyBlock + j]));
            sum += q8_0[i].qs[j];
        }
        ASSERT_EQ(q8_1[i].s, fp32_to_fp16(static_cast<float>(sum) * (amax / 127.0f)));
    }
}

// A hand-checked block: 0..31 in Q8_0 has amax 31, d = 31/127, and quants round(j * 127/31).
TEST(QuantLegacyTest, Q8_0KnownBlock) {
    std::vector<float> x(kLegacyBlock);
    for (int j = 0; j < kLegacyBlock; ++j) x[j] = static_cast<float>(j);
    BlockQ8_0 block;
    quantize_row_q8_0(x.data(), &block, kLegacyBlock);
    EXPECT_EQ(block.d, fp32_to_fp16(31.0f / 127.0f));
    const int8_t expected[kLegacyBlock] = {0,  4,  8,  12,  16,  20,  25,  29,  33,  37, 41,
                                           45, 49, 53, 57,  61,  66,  70,  74,  78,  82, 86,
                                           90, 94, 98, 102, 107, 111, 115, 119, 123, 127};
    for (int j = 0; j < kLegacyBlock; ++j) EXPECT_EQ(block.qs[j], expected[j]) << j;
}

TEST(QuantLegacyTest, DispatchRejectsBadArguments) {
    std::vector<float> x(64, 1.0f);
    std::vector<uint8_t> y(1024);
    EXPECT_THROW(quantize_row(TensorType::Q8_1, x.data(), y.data(), 32), Error);
    EXPECT_THROW(quantize_row(TensorType::IQ2_XXS, x.data(), y.data(), 256), Error);
    EXPECT_THROW(dequantize_row(TensorType::I32, y.data(), x.data(), 1), Error);
    EXPECT_THROW(dequantize_row(static_cast<TensorType>(4), y.data(), x.data(), 32), Error);
    EXPECT_THROW(quantize_row(TensorType::Q4_0, x.data(), y.data(), 48), Error);
    EXPECT_THROW(dequantize_row(TensorType::Q5_1, y.data(), x.data(), 33), Error);
    EXPECT_THROW(quantize_row(TensorType::F16, x.data(), y.data(), -1), Error);
    try {
        quantize_row(TensorType::Q8_0, x.data(), y.data(), 40);
        ADD_FAILURE() << "no exception";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "quantize: n=40 is not a multiple of block size 32 of type q8_0");
    }
    try {
        dequantize_row(TensorType::Q8_1, y.data(), x.data(), 32);
        ADD_FAILURE() << "no exception";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "dequantize: type q8_1 has no codec");
    }
    // An empty row is fine and touches nothing.
    EXPECT_NO_THROW(quantize_row(TensorType::Q4_0, nullptr, nullptr, 0));
    EXPECT_NO_THROW(dequantize_row(TensorType::F32, nullptr, nullptr, 0));
}

// Every type with has_codec goes through the dispatch and comes back close to its input.
TEST(QuantLegacyTest, DispatchCoversEveryCodecType) {
    Random rng(11);
    std::vector<float> x(512);
    for (auto& v : x) v = rng.normal();
    for (uint32_t id = 0; id < 64; ++id) {
        const TypeInfo* info = type_info(id);
        if (info == nullptr || !info->has_codec) continue;
        SCOPED_TRACE(std::string(info->name));
        const auto bytes = quantize(info->type, x);
        const auto back = dequantize(info->type, bytes);
        ASSERT_EQ(back.size(), x.size());
        double error = 0;
        for (size_t i = 0; i < x.size(); ++i) error += std::fabs(double{back[i]} - x[i]);
        EXPECT_LT(error / static_cast<double>(x.size()), 0.5);  // even 2-bit quants get this
    }
}

// Rows need no alignment: the codecs copy blocks in and out.
TEST(QuantLegacyTest, UnalignedRows) {
    const auto x = quantize_inputs();
    const std::vector<float> row(x.begin(), x.begin() + 4 * kLegacyBlock);
    for (const auto& legacy : legacy_types()) {
        const auto aligned = quantize(legacy.type, row);
        std::vector<uint8_t> buffer(aligned.size() + 1);
        quantize_row(legacy.type, row.data(), buffer.data() + 1, std::ssize(row));
        EXPECT_EQ(std::memcmp(buffer.data() + 1, aligned.data(), aligned.size()), 0);
        std::vector<float> back(row.size());
        dequantize_row(legacy.type, buffer.data() + 1, back.data(), std::ssize(row));
        EXPECT_EQ(back, dequantize(legacy.type, aligned)) << name_of(legacy.type);
    }
}

}  // namespace
}  // namespace tessera::quant

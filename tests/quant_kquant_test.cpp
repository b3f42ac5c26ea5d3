// The K-quant codecs (Q2_K ... Q6_K, Q8_K): dequantization bit for bit against the PyPI gguf
// package, quantization error bounds, Q8_K's sums, and the inputs quantizers get wrong.
// Bit-exact quantization against llama.cpp's own files is tests/quant_vectors_test.cpp.
#include "formats/quant/kquant_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "formats/quant/blocks.h"
#include "tests/test_paths.h"

namespace tessera::quant {
namespace {

using QuantizeFn = void (*)(const float*, void*, int64_t);
using DequantizeFn = void (*)(const void*, float*, int64_t);

struct KCodec {
    const char* name;  // as tests/refgen/kquant_dequantize_reference.py takes it
    size_t block_bytes;
    std::optional<size_t> d_offset;     // byte offset of the half scale; none for Q8_K
    std::optional<size_t> dmin_offset;  // byte offset of the half min scale, if any
    QuantizeFn quantize;
    DequantizeFn dequantize;
};

const KCodec kCodecs[] = {
    {"q2_k", sizeof(BlockQ2_K), offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin),
     quantize_row_q2_k, dequantize_row_q2_k},
    {"q3_k", sizeof(BlockQ3_K), offsetof(BlockQ3_K, d), std::nullopt, quantize_row_q3_k,
     dequantize_row_q3_k},
    {"q4_k", sizeof(BlockQ4_K), offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin),
     quantize_row_q4_k, dequantize_row_q4_k},
    {"q5_k", sizeof(BlockQ5_K), offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin),
     quantize_row_q5_k, dequantize_row_q5_k},
    {"q6_k", sizeof(BlockQ6_K), offsetof(BlockQ6_K, d), std::nullopt, quantize_row_q6_k,
     dequantize_row_q6_k},
    {"q8_k", sizeof(BlockQ8_K), std::nullopt, std::nullopt, quantize_row_q8_k, dequantize_row_q8_k},
};

// Portable pseudo-random data: mt19937 is fully specified, the distributions below are ours.
class Random {
  public:
    explicit Random(uint32_t seed) : engine_(seed) {}
    float uniform() { return static_cast<float>(engine_() >> 8) * 0x1p-24f; }  // [0, 1)
    float symmetric() { return 2.0f * uniform() - 1.0f; }                      // [-1, 1)
    float normal() {
        const double u1 = (static_cast<double>(engine_() >> 8) + 0.5) * 0x1p-24;
        const double u2 = static_cast<double>(engine_() >> 8) * 0x1p-24;
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                                  std::cos(2.0 * 3.14159265358979323846 * u2));
    }
    uint8_t byte() { return static_cast<uint8_t>(engine_() >> 24); }

  private:
    std::mt19937 engine_;
};

std::vector<float> quantize_dequantize(const KCodec& codec, const std::vector<float>& x) {
    const auto n = static_cast<int64_t>(x.size());
    std::vector<uint8_t> blocks(x.size() / kSuperBlock * codec.block_bytes);
    codec.quantize(x.data(), blocks.data(), n);
    std::vector<float> y(x.size());
    codec.dequantize(blocks.data(), y.data(), n);
    return y;
}

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
    double error = 0.0;
    double signal = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double diff = static_cast<double>(x[i]) - static_cast<double>(y[i]);
        error += diff * diff;
        signal += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    }
    return std::sqrt(error / signal);
}

void put_u16(std::vector<uint8_t>& blocks, size_t block, size_t offset, size_t block_bytes,
             uint16_t value) {
    std::memcpy(blocks.data() + block * block_bytes + offset, &value, sizeof value);
}

// Random blocks, then blocks whose scales are the halves quantizers and dequantizers get wrong:
// zero and minus zero, subnormals, the largest finite, infinities, quiet and signalling NaNs.
std::vector<uint8_t> dequantize_cases(const KCodec& codec, Random& random) {
    constexpr int kRandomBlocks = 48;
    const uint16_t special_halves[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x8200, 0x0400,
                                       0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
                                       0x7e00, 0xfe00, 0x7c01, 0x7d55, 0x3555, 0x1234};
    const float special_floats[] = {0.0f,
                                    -0.0f,
                                    1.0f,
                                    -3.5e-3f,
                                    std::numeric_limits<float>::denorm_min(),
                                    -1e-40f,
                                    std::numeric_limits<float>::max(),
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN(),
                                    std::bit_cast<float>(0xff800001u),
                                    std::bit_cast<float>(0x7fa00000u)};
    std::vector<uint8_t> blocks;
    auto add_block = [&](uint8_t fill, bool random_body) {
        for (size_t b = 0; b < codec.block_bytes; ++b) {
            blocks.push_back(random_body ? random.byte() : fill);
        }
        return blocks.size() / codec.block_bytes - 1;
    };
    for (int i = 0; i < kRandomBlocks; ++i) add_block(0, true);
    add_block(0x00, false);
    add_block(0xff, false);
    if (codec.d_offset) {
        const size_t n_special = std::size(special_halves);
        for (size_t i = 0; i < n_special; ++i) {
            // Every special d, each with a special dmin (rotated) where the type has one.
            const size_t block = add_block(0, true);
            put_u16(blocks, block, *codec.d_offset, codec.block_bytes, special_halves[i]);
            if (codec.dmin_offset) {
                put_u16(blocks, block, *codec.dmin_offset, codec.block_bytes,
                        special_halves[(i * 7 + 3) % n_special]);
            }
        }
        // Extreme scales: the largest half with every scale and quant bit set.
        const size_t block = add_block(0xff, false);
        put_u16(blocks, block, *codec.d_offset, codec.block_bytes, 0x7bff);
        if (codec.dmin_offset) {
            put_u16(blocks, block, *codec.dmin_offset, codec.block_bytes, 0x7bff);
        }
    } else {
        for (const float d : special_floats) {
            const size_t block = add_block(0, true);
            std::memcpy(blocks.data() + block * codec.block_bytes, &d, sizeof d);
        }
    }
    return blocks;
}

template <typename T>
std::vector<T> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<T> values(bytes.size() / sizeof(T));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
    return values;
}

// A path quoted for the shell. (Appending, not `"'" + string`, which trips GCC 12's -Wrestrict
// false positive at -O3.)
std::string quoted(const std::string& path) {
    std::string text(1, '\'');
    text += path;
    text += '\'';
    return text;
}

std::string hex_bits(float value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", std::bit_cast<uint32_t>(value));
    return text;
}

TEST(KQuantCodec, DequantizationMatchesGgufPyBitForBit) {
    const std::string dir = test::temp_dir();
    Random random(20240611);
    std::vector<std::vector<uint8_t>> inputs;
    std::string command = quoted(test::python());
    command += ' ';
    command += quoted(test::source_dir() + "/tests/refgen/kquant_dequantize_reference.py");
    for (const KCodec& codec : kCodecs) {
        inputs.push_back(dequantize_cases(codec, random));
        const std::string in_path = dir + "/" + codec.name + ".blocks";
        std::ofstream(in_path, std::ios::binary)
            .write(reinterpret_cast<const char*>(inputs.back().data()),
                   static_cast<std::streamsize>(inputs.back().size()));
        command += ' ';
        command += codec.name;
        command += ' ';
        command += quoted(in_path);
        command += ' ';
        command += quoted(dir + "/" + codec.name + ".f32");
    }
    std::string output;
    command += " 2>&1";
    ASSERT_EQ(test::run(command, &output), 0) << command << "\n" << output;

    for (size_t t = 0; t < std::size(kCodecs); ++t) {
        const KCodec& codec = kCodecs[t];
        SCOPED_TRACE(codec.name);
        const size_t n_blocks = inputs[t].size() / codec.block_bytes;
        const auto expected = read_file<float>(dir + "/" + codec.name + ".f32");
        ASSERT_EQ(expected.size(), n_blocks * kSuperBlock);
        std::vector<float> actual(expected.size());
        codec.dequantize(inputs[t].data(), actual.data(), static_cast<int64_t>(actual.size()));
        size_t mismatches = 0;
        for (size_t i = 0; i < actual.size(); ++i) {
            if (std::bit_cast<uint32_t>(actual[i]) == std::bit_cast<uint32_t>(expected[i])) {
                continue;
            }
            if (++mismatches <= 5) {
                ADD_FAILURE() << "block " << i / kSuperBlock << " element " << i % kSuperBlock
                              << ": got " << actual[i] << " (" << hex_bits(actual[i])
                              << "), gguf-py " << expected[i] << " (" << hex_bits(expected[i])
                              << ")";
            }
        }
        EXPECT_EQ(mismatches, 0u) << "of " << actual.size() << " values";
    }
}

// Relative RMSE bounds: measured values (in comments) plus about 20%, so a codec that loses
// precision anywhere fails while the float rounding of other platforms passes.
struct ErrorBound {
    const char* name;
    double normal;    // N(0, 1) data
    double positive;  // uniform [0, 1) data, where the mins matter
};
const ErrorBound kErrorBounds[] = {
    {"q2_k", 0.35, 0.165},     // 0.2938, 0.1366
    {"q3_k", 0.18, 0.13},      // 0.1505, 0.1093
    {"q4_k", 0.086, 0.035},    // 0.0716, 0.0291
    {"q5_k", 0.043, 0.0175},   // 0.0361, 0.0144
    {"q6_k", 0.021, 0.016},    // 0.0177, 0.0132
    {"q8_k", 0.0084, 0.0047},  // 0.0070, 0.0039
};

TEST(KQuantCodec, RoundTripErrorIsWithinBounds) {
    constexpr size_t kElements = kSuperBlock * 64;
    Random random(1234);
    std::vector<float> normal(kElements);
    std::vector<float> positive(kElements);
    for (float& v : normal) v = random.normal();
    for (float& v : positive) v = random.uniform();
    for (size_t t = 0; t < std::size(kCodecs); ++t) {
        const KCodec& codec = kCodecs[t];
        SCOPED_TRACE(codec.name);
        ASSERT_STREQ(kErrorBounds[t].name, codec.name);
        EXPECT_LT(relative_rmse(normal, quantize_dequantize(codec, normal)),
                  kErrorBounds[t].normal);
        EXPECT_LT(relative_rmse(positive, quantize_dequantize(codec, positive)),
                  kErrorBounds[t].positive);
    }
}

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (const uint8_t b : bytes) hash = (hash ^ b) * 0x100000001b3u;
    return hash;
}

// One element of the pinned input: nine shapes of block, from exactly rounded operations only
// (and no multiply-add that a compiler could fuse).
float pinned_element(int shape, int i, Random& random) {
    const float u = random.symmetric();
    const float v = random.uniform();
    const float w = random.symmetric();
    if (shape == 0) return u + v + w - 0.5f;  // near-normal
    if (shape == 1) return v;
    if (shape == 2) return u / (v + 0.01f);  // heavy tails
    if (shape == 3) return i == 77 ? 300.0f : u;
    if (shape == 4) return (i / 16) % 2 ? v : -v;
    if (shape == 5) return u * 1e-6f;
    if (shape == 6) return (u + 1.0f) * 3e3f;  // add then multiply: nothing to fuse
    if (shape == 7) return i % 32 < 8 ? 0.0f : u * static_cast<float>(i % 5);
    return static_cast<float>((i * 5 + shape) % 7 - 3);  // ties between +3 and -3
}

// Quantized bytes pinned by digest. The digests were taken from these codecs while they matched
// llama.cpp's quantizations of ../shared/testdata/quant byte for byte (Q2_K ... Q6_K); the
// inputs use only exactly rounded float operations, so every IEEE platform makes the same ones.
// This catches a change in the scale searches that error bounds cannot see.
TEST(KQuantCodec, QuantizedBytesArePinned) {
    constexpr int kBlocks = 1024;
    constexpr int kShapes = 9;
    Random random(42);
    std::vector<float> x;
    for (int block = 0; block < kBlocks; ++block) {
        for (int i = 0; i < kSuperBlock; ++i)
            x.push_back(pinned_element(block % kShapes, i, random));
    }
    const uint64_t expected[] = {0xa8ae2d8afaef57ec, 0x660f3d45939396d8, 0xf08c357c3f28560f,
                                 0xb698972053d21e59, 0xe0ce3553fef41483, 0x22f745adb5d7728a};
    for (size_t t = 0; t < std::size(kCodecs); ++t) {
        const KCodec& codec = kCodecs[t];
        std::vector<uint8_t> blocks(x.size() / kSuperBlock * codec.block_bytes);
        codec.quantize(x.data(), blocks.data(), static_cast<int64_t>(x.size()));
        char digest[20];
        std::snprintf(digest, sizeof digest, "0x%016llx",
                      static_cast<unsigned long long>(fnv1a(blocks)));
        EXPECT_EQ(fnv1a(blocks), expected[t]) << codec.name << " digest " << digest;
    }
}

TEST(KQuantCodec, Q8KSumsAreTheSumsOfTheQuants) {
    Random random(99);
    std::vector<float> x(kSuperBlock * 8);
    for (size_t i = 0; i < x.size(); ++i) {
        // Blocks of different magnitudes and signs of the largest element.
        const float magnitude = std::pow(10.0f, static_cast<float>(i / kSuperBlock) - 3.0f);
        x[i] = random.normal() * magnitude * ((i / kSuperBlock) % 2 == 0 ? 1.0f : -1.0f);
    }
    std::vector<BlockQ8_K> blocks(x.size() / kSuperBlock);
    quantize_row_q8_k(x.data(), blocks.data(), static_cast<int64_t>(x.size()));
    for (size_t b = 0; b < blocks.size(); ++b) {
        SCOPED_TRACE("block " + std::to_string(b));
        for (int g = 0; g < kSuperBlock / 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += blocks[b].qs[16 * g + l];
            EXPECT_EQ(blocks[b].bsums[g], sum) << "group " << g;
        }
        // The element of largest magnitude takes the extreme quant, ±127.
        const float* block_x = x.data() + b * kSuperBlock;
        const auto largest = std::max_element(block_x, block_x + kSuperBlock, [](float a, float c) {
            return std::fabs(a) < std::fabs(c);
        });
        EXPECT_EQ(std::abs(blocks[b].qs[largest - block_x]), 127);
    }
}

TEST(KQuantCodec, Q8KIsLosslessOnItsOwnGrid) {
    std::vector<float> x(kSuperBlock);
    for (int i = 0; i < kSuperBlock; ++i) x[i] = 0.5f * static_cast<float>(i % 255 - 127);
    EXPECT_EQ(quantize_dequantize(kCodecs[5], x), x);
}

TEST(KQuantCodec, AllZeroBlocksQuantizeToZeroBytes) {
    const std::vector<float> zeros(kSuperBlock * 2, 0.0f);
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        std::vector<uint8_t> blocks(2 * codec.block_bytes, 0xa5);
        codec.quantize(zeros.data(), blocks.data(), static_cast<int64_t>(zeros.size()));
        EXPECT_EQ(blocks, std::vector<uint8_t>(blocks.size(), 0));
        for (const float y : quantize_dequantize(codec, zeros)) ASSERT_EQ(y, 0.0f);
    }
}

TEST(KQuantCodec, ConstantBlocksComeBackClose) {
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        for (const float value : {0.37f, -0.37f, 1000.0f, -3000.0f}) {
            const std::vector<float> x(kSuperBlock, value);
            for (const float y : quantize_dequantize(codec, x)) {
                ASSERT_NEAR(y, value, std::fabs(value) * 1e-3f) << "constant " << value;
            }
        }
    }
}

TEST(KQuantCodec, OneHugeOutlierSurvives) {
    constexpr int kOutlier = 100;
    Random random(7);
    std::vector<float> x(kSuperBlock);
    for (float& v : x) v = random.symmetric();
    x[kOutlier] = 1000.0f;
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        const auto y = quantize_dequantize(codec, x);
        EXPECT_NEAR(y[kOutlier], 1000.0f, 1.0f);
        // The rest of the block may lose its detail to the outlier's scale, but no more than
        // its own range (the 4-bit mins of Q2_K can put a value at the other end of [-1, 1]).
        for (int i = 0; i < kSuperBlock; ++i) {
            if (i == kOutlier) continue;
            ASSERT_NEAR(y[i], x[i], 2.0f) << "element " << i;
        }
    }
}

TEST(KQuantCodec, TinyValuesStayFiniteAndTiny) {
    Random random(11);
    for (const float magnitude : {1e-30f, 1e-38f, 1e-44f}) {
        std::vector<float> x(kSuperBlock);
        for (float& v : x) v = random.symmetric() * magnitude;
        for (const KCodec& codec : kCodecs) {
            SCOPED_TRACE(std::string(codec.name) + " magnitude " + std::to_string(magnitude));
            const auto y = quantize_dequantize(codec, x);
            for (int i = 0; i < kSuperBlock; ++i) {
                ASSERT_TRUE(std::isfinite(y[i])) << "element " << i;
                ASSERT_LE(std::fabs(y[i] - x[i]), 2.0f * magnitude) << "element " << i;
            }
        }
    }
}

TEST(KQuantCodec, FiniteInputGivesFiniteOutput) {
    // The shapes of the quantization test data: mixed magnitudes, sign flips every 16 values,
    // all positive, heavy tails.
    Random random(3);
    std::vector<float> x;
    for (const float magnitude : {1e-6f, 1.0f, 3e3f}) {
        for (int i = 0; i < kSuperBlock; ++i) x.push_back(random.normal() * magnitude);
        for (int i = 0; i < kSuperBlock; ++i) x.push_back((i / 16) % 2 ? magnitude : -magnitude);
        for (int i = 0; i < kSuperBlock; ++i) x.push_back(random.uniform() * magnitude);
        for (int i = 0; i < kSuperBlock; ++i) {
            const float n = random.normal();
            x.push_back(n * n * n * magnitude);
        }
    }
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        const auto y = quantize_dequantize(codec, x);
        for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << "element " << i;
    }
}

// ggml gives no meaning to infinite or NaN inputs, but the codecs must still be safe on them
// (no undefined behaviour: run under TESSERA_SANITIZE) and deterministic.
TEST(KQuantCodec, NonFiniteInputIsSafeAndDeterministic) {
    Random random(13);
    std::vector<float> x(kSuperBlock * 4);
    for (float& v : x) v = random.normal();
    x[3] = std::numeric_limits<float>::infinity();
    x[kSuperBlock + 40] = std::numeric_limits<float>::quiet_NaN();
    x[2 * kSuperBlock + 200] = -std::numeric_limits<float>::infinity();
    std::fill(x.begin() + 3 * kSuperBlock, x.end(), std::numeric_limits<float>::quiet_NaN());
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        std::vector<uint8_t> first(x.size() / kSuperBlock * codec.block_bytes);
        std::vector<uint8_t> second(first.size(), 0xa5);
        codec.quantize(x.data(), first.data(), static_cast<int64_t>(x.size()));
        codec.quantize(x.data(), second.data(), static_cast<int64_t>(x.size()));
        EXPECT_EQ(first, second);
        std::vector<float> y(x.size());
        codec.dequantize(first.data(), y.data(), static_cast<int64_t>(y.size()));
    }
}

TEST(KQuantCodec, RowsNeedNoAlignmentAndStayInBounds) {
    constexpr size_t kBlocks = 3;
    constexpr size_t kGuard = 16;
    Random random(5);
    std::vector<float> x(kSuperBlock * kBlocks);
    for (float& v : x) v = random.normal();
    const auto n = static_cast<int64_t>(x.size());
    for (const KCodec& codec : kCodecs) {
        SCOPED_TRACE(codec.name);
        const size_t row_bytes = kBlocks * codec.block_bytes;
        std::vector<uint8_t> aligned(row_bytes);
        codec.quantize(x.data(), aligned.data(), n);

        std::vector<uint8_t> buffer(row_bytes + 2 * kGuard + 1, 0xa5);
        uint8_t* unaligned = buffer.data() + kGuard + 1;
        codec.quantize(x.data(), unaligned, n);
        EXPECT_TRUE(std::equal(aligned.begin(), aligned.end(), unaligned));
        EXPECT_TRUE(std::all_of(buffer.begin(), buffer.begin() + kGuard + 1,
                                [](uint8_t b) { return b == 0xa5; }));
        EXPECT_TRUE(
            std::all_of(buffer.end() - kGuard, buffer.end(), [](uint8_t b) { return b == 0xa5; }));

        std::vector<float> from_aligned(x.size());
        std::vector<float> from_unaligned(x.size() + 2, -7.0f);
        codec.dequantize(aligned.data(), from_aligned.data(), n);
        codec.dequantize(unaligned, from_unaligned.data() + 1, n);
        EXPECT_TRUE(
            std::equal(from_aligned.begin(), from_aligned.end(), from_unaligned.begin() + 1));
        EXPECT_EQ(from_unaligned.front(), -7.0f);
        EXPECT_EQ(from_unaligned.back(), -7.0f);
    }
}

}  // namespace
}  // namespace tessera::quant

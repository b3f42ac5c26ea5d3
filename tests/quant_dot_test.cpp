// The CPU dot-product kernels of MUL_MAT (backends/cpu/quant_dot.h) and the CPU feature
// detection behind their choice. Every kernel variant this CPU runs (scalar, AVX2, AVX-512) is
// called by name, not only the dispatched one, and checked three ways:
//   - its activation conversion writes exactly formats/quant's quantize_row bytes;
//   - its dot products equal the scalar kernel's to float rounding, and a double-precision dot
//     of the dequantized weights and activations within a bound derived below;
//   - its tile form equals its row form bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numbers>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/quant_dot.h"
#include "formats/quant/blocks.h"
#include "formats/quant/codec.h"
#include "formats/quant/half.h"
#include "formats/quant/legacy_codec.h"
#include "formats/quant/tensor_type.h"

namespace tessera::backend::cpu {
namespace {

using quant::TensorType;

// Deterministic on every platform: mt19937's output is fixed by the standard, the mapping to
// floats is ours.
class Random {
  public:
    explicit Random(uint32_t seed) : engine_(seed) {}
    uint32_t bits() { return static_cast<uint32_t>(engine_()); }
    float uniform() { return static_cast<float>(bits() >> 8) * 0x1p-24f; }  // [0, 1)
    float symmetric() { return 2.0f * uniform() - 1.0f; }                   // [-1, 1)
    float normal() {
        const double u1 = (static_cast<double>(bits()) + 1.0) / 4294967297.0;
        const double u2 = static_cast<double>(bits()) / 4294967296.0;
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                                  std::cos(2.0 * std::numbers::pi * u2));
    }

  private:
    std::mt19937 engine_;
};

struct WeightType {
    TensorType type;
    // Byte offsets of the half-float fields of a block: the scale first, then the minimum (or
    // the K types' dmin) when the type has one. Q8_K's scale is a float (offset 0, size 4).
    std::vector<size_t> scale_fields;
};

const std::vector<WeightType>& weight_types() {
    static const std::vector<WeightType> types = {
        {TensorType::Q4_0, {0}},    {TensorType::Q4_1, {0, 2}}, {TensorType::Q5_0, {0}},
        {TensorType::Q5_1, {0, 2}}, {TensorType::Q8_0, {0}},    {TensorType::Q2_K, {80, 82}},
        {TensorType::Q3_K, {108}},  {TensorType::Q4_K, {0, 2}}, {TensorType::Q5_K, {0, 2}},
        {TensorType::Q6_K, {208}},  {TensorType::Q8_K, {0}},    {TensorType::F16, {}},
        {TensorType::BF16, {}},     {TensorType::F32, {}},
    };
    return types;
}

bool is_float_type(TensorType type) {
    return type == TensorType::F16 || type == TensorType::BF16 || type == TensorType::F32;
}

std::string name_of(TensorType type) {
    return std::string(quant::type_info(type).name);
}

// gtest prints parameters with this (instead of their bytes).
void PrintTo(const WeightType& weight, std::ostream* os) {
    *os << name_of(weight.type);
}

const char* isa_name(DotIsa isa) {
    switch (isa) {
        case DotIsa::Scalar:
            return "scalar";
        case DotIsa::Avx2:
            return "avx2";
        case DotIsa::Avx512:
            return "avx512";
    }
    return "?";
}

// The instruction sets this CPU runs, scalar first.
std::vector<DotIsa> runnable_isas() {
    const CpuFeatures features = detect_cpu_features();
    std::vector<DotIsa> isas;
    for (const DotIsa isa : {DotIsa::Scalar, DotIsa::Avx2, DotIsa::Avx512}) {
        if (cpu_runs(features, isa)) isas.push_back(isa);
    }
    return isas;
}

// Every (isa, kernel) this CPU can run for a type: the scalar kernel and each SIMD one.
struct Variant {
    DotIsa isa;
    const DotKernel* kernel;
};
std::vector<Variant> variants_of(TensorType type) {
    std::vector<Variant> variants;
    for (const DotIsa isa : runnable_isas()) {
        if (const DotKernel* kernel = dot_kernel_for_isa(type, isa))
            variants.push_back({isa, kernel});
    }
    return variants;
}

uint64_t bytes_of(TensorType type, int64_t n) {
    return quant::row_bytes(quant::type_info(type), static_cast<uint64_t>(n));
}

// Floats shaped like activations: mostly normal, a few outliers, some exact zeros.
std::vector<float> activation_floats(Random& random, int64_t n, float scale) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) {
        const uint32_t kind = random.bits() % 64;
        v = kind == 0   ? 0.0f
            : kind == 1 ? 8.0f * scale * random.symmetric()
                        : scale * random.normal();
    }
    return x;
}

// A weight row of `type`: quantized from random floats, or (`random_bits`) random bytes with
// finite scales, which reach every level and every packed sub-block scale, extremes included.
std::vector<uint8_t> weight_row(Random& random, const WeightType& weight, int64_t n,
                                bool random_bits) {
    const auto bytes = static_cast<size_t>(bytes_of(weight.type, n));
    std::vector<uint8_t> row(bytes);
    if (!random_bits || is_float_type(weight.type)) {
        const std::vector<float> x = activation_floats(random, n, 0.05f);
        quant::quantize_row(weight.type, x.data(), row.data(), n);
        return row;
    }
    for (auto& byte : row) byte = static_cast<uint8_t>(random.bits());
    const size_t block_bytes = quant::type_info(weight.type).block_bytes;
    for (size_t block = 0; block < bytes; block += block_bytes) {
        for (size_t field = 0; field < weight.scale_fields.size(); ++field) {
            const float magnitude = 0.001f + 0.01f * random.uniform();
            const float value = random.bits() % 4 == 0 ? -magnitude : magnitude;
            if (weight.type == TensorType::Q8_K) {
                std::memcpy(&row[block + weight.scale_fields[field]], &value, sizeof value);
            } else {
                const uint16_t half = quant::fp32_to_fp16(value);
                std::memcpy(&row[block + weight.scale_fields[field]], &half, sizeof half);
            }
        }
    }
    return row;
}

std::vector<float> dequantized(TensorType type, const void* data, int64_t n) {
    std::vector<float> x(static_cast<size_t>(n));
    if (type == TensorType::Q8_1) {
        // No codec of its own: the scale and quants, as Q8_0 reads them (s is not an element).
        for (int64_t b = 0; b < n / quant::kLegacyBlock; ++b) {
            quant::BlockQ8_1 block;
            std::memcpy(&block, static_cast<const uint8_t*>(data) + b * sizeof block, sizeof block);
            for (int j = 0; j < quant::kLegacyBlock; ++j) {
                x[static_cast<size_t>(b * quant::kLegacyBlock + j)] =
                    static_cast<float>(block.qs[j]) * quant::fp16_to_fp32(block.d);
            }
        }
        return x;
    }
    quant::dequantize_row(type, data, x.data(), n);
    return x;
}

// A weight row with one of its half scale fields zeroed in every block: dequantizing it gives
// the scaled levels alone (the minimum zeroed) or the minimum's share alone (the scale zeroed).
std::vector<uint8_t> with_field_zeroed(const WeightType& weight, std::vector<uint8_t> row,
                                       size_t field) {
    const size_t block_bytes = quant::type_info(weight.type).block_bytes;
    for (size_t block = 0; block < row.size(); block += block_bytes) {
        std::memset(&row[block + weight.scale_fields[field]], 0, 2);
    }
    return row;
}

// What the kernel must come close to: the dequantized weights times the dequantized activations,
// summed in double; and `magnitude`, the same sum with every product made non-negative and, for
// types with a minimum, the scaled levels and the minimum's share counted separately — the size
// of everything a kernel adds, whatever its order.
//
// `slack` is the one difference of the scheme itself: Q8_1 carries the sum of a block's
// activations as s = d * sum(quants) rounded to half precision (as ggml does), and the kernels of
// Q4_1 and Q5_1 multiply the weights' minimum by that s rather than by the sum of the dequantized
// activations. slack is the sum over blocks of |minimum * (s - sum of dequantized activations)|.
struct Reference {
    double dot = 0.0;
    double magnitude = 0.0;
    double slack = 0.0;
};
Reference reference_dot(const WeightType& weight, const std::vector<uint8_t>& row,
                        TensorType activation_type, const std::vector<uint8_t>& activations,
                        int64_t n) {
    const std::vector<float> w = dequantized(weight.type, row.data(), n);
    const std::vector<float> a = dequantized(activation_type, activations.data(), n);
    Reference ref;
    for (size_t i = 0; i < w.size(); ++i) ref.dot += double{w[i]} * double{a[i]};
    if (weight.scale_fields.size() != 2) {
        for (size_t i = 0; i < w.size(); ++i)
            ref.magnitude += std::fabs(double{w[i]} * double{a[i]});
        return ref;
    }
    const std::vector<uint8_t> levels_only = with_field_zeroed(weight, row, 1);
    const std::vector<uint8_t> min_only = with_field_zeroed(weight, row, 0);
    const std::vector<float> s = dequantized(weight.type, levels_only.data(), n);
    const std::vector<float> m = dequantized(weight.type, min_only.data(), n);
    for (size_t i = 0; i < w.size(); ++i) {
        ref.magnitude +=
            (std::fabs(double{s[i]}) + std::fabs(double{m[i]})) * std::fabs(double{a[i]});
    }
    if (activation_type == TensorType::Q8_1) {
        for (int64_t b = 0; b < n / quant::kLegacyBlock; ++b) {
            quant::BlockQ8_1 block;
            std::memcpy(&block, activations.data() + b * int64_t{sizeof block}, sizeof block);
            double sum = 0.0;
            for (int j = 0; j < quant::kLegacyBlock; ++j)
                sum += a[static_cast<size_t>(b * quant::kLegacyBlock + j)];
            const double minimum = m[static_cast<size_t>(b * quant::kLegacyBlock)];
            ref.slack += std::fabs(minimum * (double{quant::fp16_to_fp32(block.s)} - sum));
        }
    }
    return ref;
}

// Every kernel computes products that are exact (integer dots) or rounded once, and adds them
// with float additions, each rounding by at most 2^-24 of the running sum, which is at most
// `magnitude`. No kernel adds more than `chain` partial results in sequence into one float: for
// the quantized types one per block of 32 (n / 32), for float rows one per vector lane (n / 8),
// plus the final reductions, so a kernel is within (chain + 16 + 1) * 2^-24 * magnitude of the
// exact dot of its inputs; the double reference's dequantized inputs are themselves rounded up to
// three times per element (scale times level minus minimum, times the activation's scale),
// another 4 * 2^-24 * magnitude. Two of them differ by less than twice the larger bound, which is
// the tolerance: about 2^-18 of the magnitude for quants at n = 4096, while one level off in one
// block moves the result by about 1 / n of it.
double tolerance(int64_t n, const Reference& ref, bool float_rows = false) {
    const double chain = static_cast<double>(n) / (float_rows ? 8.0 : 32.0);
    return 2.0 * (chain + 24.0) * 0x1p-24 * ref.magnitude + ref.slack;
}

// ---------------------------------------------------------------------------------------------
// CPU features.

std::set<std::string> proc_cpuinfo_flags() {
    std::set<std::string> flags;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        std::istringstream words(line.substr(line.find(':') + 1));
        std::string word;
        while (words >> word) flags.insert(word);
        break;
    }
    return flags;
}

TEST(CpuFeatures, FlagsAreConsistent) {
    const CpuFeatures features = detect_cpu_features();
    if (features.avx512) {
        EXPECT_TRUE(features.avx2);
    }
    if (features.avx512_vnni) {
        EXPECT_TRUE(features.avx512);
    }
    if (features.avx_vnni) {
        EXPECT_TRUE(features.avx2);
    }
    // Detection is repeatable (the AMX request is idempotent).
    const CpuFeatures again = detect_cpu_features();
    EXPECT_EQ(features.describe(), again.describe());
    std::cout << "detected: " << features.describe() << "\n";
}

TEST(CpuFeatures, AgreesWithTheKernelsCpuinfo) {
    const std::set<std::string> flags = proc_cpuinfo_flags();
    if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags on this system";
    const CpuFeatures features = detect_cpu_features();
    if (features.scalar_only) GTEST_SKIP() << "scalar kernels forced by TESSERA_CPU_SCALAR";
    // Linux lists a flag only when the CPU has it and (for AVX and AVX-512) the OS enabled its
    // state, so each detected feature must be listed; the reverse holds for AVX2, whose state
    // every x86-64 Linux enables.
    if (features.avx2) {
        EXPECT_TRUE(flags.count("avx2") && flags.count("fma") && flags.count("f16c"));
    }
    if (features.avx512) {
        EXPECT_TRUE(flags.count("avx512f") && flags.count("avx512bw") && flags.count("avx512vl") &&
                    flags.count("avx512dq"));
    }
    if (features.avx512_vnni) {
        EXPECT_TRUE(flags.count("avx512_vnni"));
    }
    if (features.avx_vnni) {
        EXPECT_TRUE(flags.count("avx_vnni"));
    }
    if (features.amx_int8) {
        EXPECT_TRUE(flags.count("amx_int8") && flags.count("amx_tile"));
    }
    const bool listed_avx2 =
        flags.count("avx2") > 0 && flags.count("fma") > 0 && flags.count("f16c") > 0;
    EXPECT_EQ(features.avx2, listed_avx2);
}

TEST(CpuFeatures, ScalarSetAndEnvironmentOverride) {
    const CpuFeatures scalar = scalar_cpu_features();
    EXPECT_TRUE(scalar.scalar_only);
    EXPECT_FALSE(scalar.avx2 || scalar.avx512 || scalar.avx512_vnni || scalar.avx_vnni ||
                 scalar.amx_int8);
    EXPECT_EQ(scalar.describe(), "scalar");
    EXPECT_FALSE(cpu_runs(scalar, DotIsa::Avx2));
    EXPECT_FALSE(cpu_runs(scalar, DotIsa::Avx512));
    EXPECT_TRUE(cpu_runs(scalar, DotIsa::Scalar));

    // The variable is put back as it was, for the tests that run after this one in the process.
    const char* outer = std::getenv("TESSERA_CPU_SCALAR");
    const std::string saved = outer != nullptr ? outer : "";
    ASSERT_EQ(setenv("TESSERA_CPU_SCALAR", "1", 1), 0);
    const CpuFeatures forced = detect_cpu_features();
    EXPECT_TRUE(forced.scalar_only);
    EXPECT_EQ(forced.describe(), "scalar");
    for (const WeightType& weight : weight_types()) {
        EXPECT_EQ(dot_kernel(weight.type, forced), dot_kernel_for_isa(weight.type, DotIsa::Scalar));
    }
    ASSERT_EQ(setenv("TESSERA_CPU_SCALAR", "0", 1), 0);
    EXPECT_FALSE(detect_cpu_features().scalar_only);
    if (outer != nullptr) {
        ASSERT_EQ(setenv("TESSERA_CPU_SCALAR", saved.c_str(), 1), 0);
    } else {
        ASSERT_EQ(unsetenv("TESSERA_CPU_SCALAR"), 0);
    }
}

#if defined(__linux__) && defined(__x86_64__)
// The proof that amx_int8 is reported only when usable: a child process configures the tiles,
// zeroes one and releases them. Where the OS did not grant the state this is the instruction
// that dies with SIGILL (llama.cpp's failure); a fork keeps such a death out of this process.
TEST(CpuFeatures, ReportedAmxRunsTileInstructions) {
    const CpuFeatures features = detect_cpu_features();
    if (!features.amx_int8) GTEST_SKIP() << "no AMX granted here (" << features.describe() << ")";
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        alignas(64) uint8_t config[64] = {};
        config[0] = 1;    // palette 1
        config[16] = 64;  // tile 0: 64 bytes per row
        config[48] = 16;  // tile 0: 16 rows
        // Permission is per process and inherited across fork; asking again is harmless.
        __asm__ volatile("ldtilecfg %0" ::"m"(config));
        __asm__ volatile("tilezero %%tmm0" ::);
        __asm__ volatile("tilerelease" ::);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "tile instructions failed, signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
#endif

// ---------------------------------------------------------------------------------------------
// Kernel selection.

TEST(QuantDot, EveryTypeWithACodecHasAScalarKernel) {
    for (uint32_t id = 0; id < 64; ++id) {
        const quant::TypeInfo* info = quant::type_info(id);
        if (info == nullptr) continue;
        const DotKernel* kernel = dot_kernel_for_isa(info->type, DotIsa::Scalar);
        EXPECT_EQ(kernel != nullptr, info->has_codec) << info->name;
        EXPECT_EQ(dot_kernel(info->type, scalar_cpu_features()), kernel) << info->name;
        if (kernel == nullptr) continue;
        EXPECT_NE(kernel->convert_activations, nullptr);
        EXPECT_NE(kernel->dot_rows, nullptr);
        EXPECT_NE(kernel->dot_tile, nullptr);
    }
}

TEST(QuantDot, DispatchPicksTheBestVariantTheCpuRuns) {
    const CpuFeatures features = detect_cpu_features();
    for (const WeightType& weight : weight_types()) {
        const DotKernel* expected = dot_kernel_for_isa(weight.type, DotIsa::Scalar);
        for (const DotIsa isa : {DotIsa::Avx2, DotIsa::Avx512}) {
            const DotKernel* kernel = dot_kernel_for_isa(weight.type, isa);
            if (kernel != nullptr && cpu_runs(features, isa)) expected = kernel;
        }
        EXPECT_EQ(dot_kernel(weight.type, features), expected) << name_of(weight.type);
        // All variants agree on the activation type: the backend converts once per column.
        for (const Variant& variant : variants_of(weight.type)) {
            EXPECT_EQ(variant.kernel->activation_type, expected->activation_type);
        }
    }
    std::cout << "tested variants:";
    for (const DotIsa isa : runnable_isas()) std::cout << " " << isa_name(isa);
    std::cout << "\n";
}

// ---------------------------------------------------------------------------------------------
// Activation conversion.

// Rows that reach the conversions' corners: ties of the rounding (x * id landing on k + 1/2),
// the signed maximum appearing with both signs, all-zero blocks, blocks so small that the
// inverse scale overflows, and large values.
std::vector<float> conversion_row(Random& random, int64_t n, int pattern) {
    std::vector<float> x = activation_floats(random, n, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
        const auto k = static_cast<size_t>(i);
        switch (pattern) {
            case 0:
                break;
            case 1: {  // the block maximum is 127, so Q8_0 rounds x itself: half-integer ties,
                       // and values a hair below or above a half (0.49999997 must become 0)
                const float half =
                    static_cast<float>(static_cast<int>(random.bits() % 200) - 100) + 0.5f;
                const float nudged[4] = {half, std::nextafter(half, 0.0f),
                                         std::nextafter(half, 1000.0f),
                                         (random.bits() % 2 == 0 ? 1.0f : -1.0f) * 0.49999997f};
                x[k] = i % 32 == 0 ? 127.0f : nudged[random.bits() % 4];
                break;
            }
            case 2:  // same for Q8_K (max -127: iscale = 1)
                x[k] = i % 256 == 3
                           ? -127.0f
                           : static_cast<float>(static_cast<int>(random.bits() % 200) - 100) + 0.5f;
                break;
            case 3:  // the maximum magnitude with both signs, positive first or negative first
                x[k] = (i % 7 == 0) ? ((i / 7) % 2 == 0 ? 3.0f : -3.0f) : random.symmetric();
                break;
            case 4:  // zero blocks and subnormal blocks, whose inverse scale is infinite
                x[k] = (i / 256) % 2 == 0 ? 0.0f : 1e-41f * random.symmetric();
                break;
            case 5:
                x[k] = 1e30f * random.symmetric();
                break;
            case 6:  // single-block spikes among small values
                x[k] = i % 97 == 5 ? 1000.0f : 1e-3f * random.normal();
                break;
            default:
                break;
        }
    }
    return x;
}

void expect_conversion_matches_reference(const DotKernel& kernel, DotIsa isa, int64_t n,
                                         const std::vector<float>& x, int pattern) {
    const TensorType type = kernel.activation_type;
    const auto bytes = static_cast<size_t>(bytes_of(type, n));
    // One spare byte before and after, to catch writes out of bounds, and an odd address.
    std::vector<uint8_t> got(bytes + 2, 0xA5);
    std::vector<uint8_t> want(bytes);
    kernel.convert_activations(x.data(), got.data() + 1, n);
    if (type == TensorType::Q8_1) {
        quant::quantize_row_q8_1(x.data(), want.data(), n);
    } else {
        quant::quantize_row(type, x.data(), want.data(), n);
    }
    EXPECT_EQ(got.front(), 0xA5);
    EXPECT_EQ(got.back(), 0xA5);
    const bool same = std::memcmp(got.data() + 1, want.data(), bytes) == 0;
    if (!same) {
        size_t first = 0;
        while (got[first + 1] == want[first]) ++first;
        ADD_FAILURE() << isa_name(isa) << " " << name_of(type) << " n=" << n << " pattern "
                      << pattern << ": first differing byte " << first << " of " << bytes
                      << " (got " << int{got[first + 1]} << ", want " << int{want[first]} << ")";
    }
}

TEST(QuantDot, ActivationConversionIsBitExact) {
    Random random(11);
    std::set<const DotKernel*> seen;
    for (const WeightType& weight : weight_types()) {
        for (const Variant& variant : variants_of(weight.type)) {
            if (!seen.insert(variant.kernel).second) continue;
            const int64_t block = quant::type_info(variant.kernel->activation_type).block_size;
            const int64_t unit = std::max<int64_t>(block, 256);
            for (const int64_t n : {block, unit, 3 * unit, 2048 + unit}) {
                for (int pattern = 0; pattern < 7; ++pattern) {
                    const std::vector<float> x = conversion_row(random, n, pattern);
                    expect_conversion_matches_reference(*variant.kernel, variant.isa, n, x,
                                                        pattern);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products.

struct Matrix {
    std::vector<uint8_t> storage;  // rows at `row_stride`, starting one byte in (unaligned)
    uint64_t row_stride = 0;
    std::vector<std::vector<uint8_t>> rows;
    const uint8_t* data() const { return storage.data() + 1; }
};

Matrix weight_matrix(Random& random, const WeightType& weight, int64_t n, int64_t n_rows,
                     bool random_bits, uint64_t padding) {
    Matrix m;
    m.row_stride = bytes_of(weight.type, n) + padding;
    m.storage.assign(static_cast<size_t>(m.row_stride * static_cast<uint64_t>(n_rows) + 1), 0xCC);
    for (int64_t r = 0; r < n_rows; ++r) {
        m.rows.push_back(weight_row(random, weight, n, random_bits));
        std::memcpy(m.storage.data() + 1 + static_cast<uint64_t>(r) * m.row_stride,
                    m.rows.back().data(), m.rows.back().size());
    }
    return m;
}

void check_dots(const WeightType& weight, int64_t n, int64_t n_rows, bool random_bits,
                uint32_t seed) {
    Random random(seed);
    const Matrix w = weight_matrix(random, weight, n, n_rows, random_bits, (seed % 3) * 8);
    const DotKernel* scalar = dot_kernel_for_isa(weight.type, DotIsa::Scalar);
    ASSERT_NE(scalar, nullptr);
    const TensorType activation_type = scalar->activation_type;
    const std::vector<float> x = activation_floats(random, n, 1.0f);
    std::vector<uint8_t> activations(static_cast<size_t>(bytes_of(activation_type, n)));
    scalar->convert_activations(x.data(), activations.data(), n);

    std::vector<float> scalar_out(static_cast<size_t>(n_rows));
    scalar->dot_rows(n, w.data(), w.row_stride, n_rows, activations.data(), scalar_out.data());
    std::vector<Reference> refs;
    for (const auto& row : w.rows)
        refs.push_back(reference_dot(weight, row, activation_type, activations, n));

    for (const Variant& variant : variants_of(weight.type)) {
        SCOPED_TRACE(std::string(isa_name(variant.isa)) + " " + name_of(weight.type) +
                     " n=" + std::to_string(n) + " rows=" + std::to_string(n_rows) +
                     (random_bits ? " random bits" : " quantized"));
        // Output guard: one float past the rows must stay untouched.
        std::vector<float> out(static_cast<size_t>(n_rows) + 1, -12345.0f);
        variant.kernel->dot_rows(n, w.data(), w.row_stride, n_rows, activations.data(), out.data());
        EXPECT_EQ(out.back(), -12345.0f);
        for (int64_t r = 0; r < n_rows; ++r) {
            const auto k = static_cast<size_t>(r);
            const double tol = tolerance(n, refs[k], is_float_type(weight.type));
            EXPECT_NEAR(out[k], scalar_out[k], tol) << "row " << r << " vs scalar";
            EXPECT_NEAR(out[k], refs[k].dot, tol) << "row " << r << " vs double reference";
            if (variant.isa == DotIsa::Scalar) {
                EXPECT_EQ(out[k], scalar_out[k]);
            }
        }
    }
}

class QuantDotTypes : public testing::TestWithParam<WeightType> {};

TEST_P(QuantDotTypes, EveryVariantMatchesScalarAndReference) {
    const WeightType& weight = GetParam();
    const int64_t block = quant::type_info(weight.type).block_size;
    const int64_t unit = is_float_type(weight.type) ? 32 : block;
    uint32_t seed = 100;
    for (const int64_t n : {unit, 2 * unit, 7 * unit, std::max<int64_t>(4096, 16 * unit)}) {
        for (const int64_t n_rows : {1, 2, 3, 4, 5, 7, 8, 13, 16}) {
            for (const bool random_bits : {false, true}) {
                check_dots(weight, n, n_rows, random_bits, ++seed);
            }
        }
    }
    // Odd float lengths that are not a multiple of any vector width.
    if (is_float_type(weight.type)) {
        for (const int64_t n : {1, 3, 17, 33, 255, 1001}) check_dots(weight, n, 5, false, ++seed);
    }
}

// A bug in a kernel must be able to fail the test: the same checks reject a result that is off
// by one level in one element among 4096.
TEST(QuantDot, ToleranceRejectsASingleWrongLevel) {
    Random random(5);
    const WeightType weight{TensorType::Q4_0, {0}};
    const int64_t n = 4096;
    const std::vector<uint8_t> row = weight_row(random, weight, n, false);
    const std::vector<float> x = activation_floats(random, n, 1.0f);
    std::vector<uint8_t> activations(static_cast<size_t>(bytes_of(TensorType::Q8_0, n)));
    quant::quantize_row(TensorType::Q8_0, x.data(), activations.data(), n);
    const Reference ref = reference_dot(weight, row, TensorType::Q8_0, activations, n);
    // Element 40 * 32 + 5 (low nibble of byte 5 of block 40) one level up or down.
    std::vector<uint8_t> broken = row;
    uint8_t& byte = broken[18 * 40 + 2 + 5];
    byte = static_cast<uint8_t>((byte & 0x0f) == 15 ? byte - 1 : byte + 1);
    const Reference wrong = reference_dot(weight, broken, TensorType::Q8_0, activations, n);
    EXPECT_GT(std::fabs(wrong.dot - ref.dot), tolerance(n, ref));
}

// The tile form equals the row form bit for bit, for every variant, so that a prompt and the
// same tokens decoded one by one see the same numbers.
TEST_P(QuantDotTypes, TileEqualsRowsBitForBit) {
    const WeightType& weight = GetParam();
    Random random(77);
    const int64_t block = quant::type_info(weight.type).block_size;
    const int64_t n = std::max<int64_t>(4 * block, 512);
    for (const Variant& variant : variants_of(weight.type)) {
        for (const int64_t n_rows : {1, 3, 4, 9}) {
            for (const int64_t n_columns : {1, 2, 3, 4, 5, 8, 11}) {
                SCOPED_TRACE(std::string(isa_name(variant.isa)) + " " + name_of(weight.type) +
                             " rows=" + std::to_string(n_rows) +
                             " cols=" + std::to_string(n_columns));
                const Matrix w = weight_matrix(random, weight, n, n_rows, false, 0);
                const uint64_t act_bytes = bytes_of(variant.kernel->activation_type, n);
                const uint64_t act_stride = act_bytes + 4;
                std::vector<uint8_t> columns(
                    static_cast<size_t>(act_stride * static_cast<uint64_t>(n_columns)));
                for (int64_t c = 0; c < n_columns; ++c) {
                    const std::vector<float> x = activation_floats(random, n, 1.0f);
                    variant.kernel->convert_activations(
                        x.data(), columns.data() + static_cast<uint64_t>(c) * act_stride, n);
                }
                const int64_t out_stride = n_rows + 2;
                std::vector<float> tile(static_cast<size_t>(out_stride * n_columns), -1.0f);
                variant.kernel->dot_tile(n, w.data(), w.row_stride, n_rows, columns.data(),
                                         act_stride, n_columns, tile.data(), out_stride);
                for (int64_t c = 0; c < n_columns; ++c) {
                    std::vector<float> rows(static_cast<size_t>(n_rows));
                    variant.kernel->dot_rows(n, w.data(), w.row_stride, n_rows,
                                             columns.data() + static_cast<uint64_t>(c) * act_stride,
                                             rows.data());
                    for (int64_t r = 0; r < n_rows; ++r) {
                        EXPECT_EQ(
                            std::bit_cast<uint32_t>(tile[static_cast<size_t>(c * out_stride + r)]),
                            std::bit_cast<uint32_t>(rows[static_cast<size_t>(r)]))
                            << "row " << r << " column " << c;
                    }
                    // The padding between columns of the output is not written.
                    EXPECT_EQ(tile[static_cast<size_t>(c * out_stride + n_rows)], -1.0f);
                }
            }
        }
    }
}

// A row's result does not depend on the other rows of the call (how many, or where the row sits
// in a kernel's group of rows), so any split of the rows among threads gives the same bits.
TEST_P(QuantDotTypes, RowsAreIndependentOfTheirCall) {
    const WeightType& weight = GetParam();
    Random random(91);
    const int64_t block = quant::type_info(weight.type).block_size;
    const int64_t n = std::max<int64_t>(8 * block, 512);
    const int64_t n_rows = 11;
    const Matrix w = weight_matrix(random, weight, n, n_rows, true, 4);
    for (const Variant& variant : variants_of(weight.type)) {
        SCOPED_TRACE(std::string(isa_name(variant.isa)) + " " + name_of(weight.type));
        const std::vector<float> x = activation_floats(random, n, 1.0f);
        std::vector<uint8_t> activations(
            static_cast<size_t>(bytes_of(variant.kernel->activation_type, n)));
        variant.kernel->convert_activations(x.data(), activations.data(), n);
        std::vector<float> all(static_cast<size_t>(n_rows));
        variant.kernel->dot_rows(n, w.data(), w.row_stride, n_rows, activations.data(), all.data());
        for (int64_t first = 0; first < n_rows; ++first) {
            for (const int64_t count : {int64_t{1}, int64_t{2}, int64_t{3}, n_rows - first}) {
                if (first + count > n_rows) continue;
                std::vector<float> part(static_cast<size_t>(count));
                variant.kernel->dot_rows(n, w.data() + static_cast<uint64_t>(first) * w.row_stride,
                                         w.row_stride, count, activations.data(), part.data());
                for (int64_t r = 0; r < count; ++r) {
                    EXPECT_EQ(std::bit_cast<uint32_t>(part[static_cast<size_t>(r)]),
                              std::bit_cast<uint32_t>(all[static_cast<size_t>(first + r)]))
                        << "row " << first + r << " in a call of " << count << " rows";
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantDotTypes, testing::ValuesIn(weight_types()),
                         [](const testing::TestParamInfo<WeightType>& param_info) {
                             return name_of(param_info.param.type);
                         });

}  // namespace
}  // namespace tessera::backend::cpu

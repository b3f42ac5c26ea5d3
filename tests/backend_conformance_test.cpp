// The conformance suite of the backend interface: every device of every backend built in
// (backend::list_devices) runs every op on random shapes, odd sizes included, and is compared
// with the double-precision reference of tests/op_reference.h. The tolerances are bounds on the
// float rounding a correct implementation may add, each derived next to its check; none is an
// empirical fudge. Beside the ops: thread counts 1, 2 and 3 give the same bits, compile errors
// name the node, a cache overrun fails at wait(), buffers and transfers behave, and (CPU only)
// the scalar kernels agree with the SIMD ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <numbers>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/ops/cache_rows.h"
#include "backends/cpu/quant_dot.h"
#include "backends/cpu/thread_pool.h"
#ifdef TESSERA_BUILD_VULKAN
#include "backends/vulkan/vulkan_backend.h"
#endif
#include "formats/error.h"
#include "formats/quant/codec.h"
#include "formats/quant/half.h"
#include "formats/quant/tensor_type.h"
#include "tests/op_reference.h"

namespace tessera::backend {
namespace {

using quant::TensorType;
using Shape = std::array<int64_t, kMaxDims>;

// One unit in the last place of a float at 1.0, halved: the relative rounding error of one
// float operation.
constexpr double kFloatEpsilon = 0x1p-24;

// ---------------------------------------------------------------------------------------------
// Random data, the same on every platform: mt19937 is fixed by the standard and the mapping to
// floats is ours.

class Random {
  public:
    explicit Random(uint32_t seed) : engine_(seed) {}
    uint32_t bits() { return static_cast<uint32_t>(engine_()); }
    double uniform() { return static_cast<double>(bits() >> 8) * 0x1p-24; }  // [0, 1)
    float symmetric(float scale = 1.0f) {
        return scale * static_cast<float>(2.0 * uniform() - 1.0);
    }
    int64_t integer(int64_t lo, int64_t hi) {  // inclusive
        return lo + static_cast<int64_t>(bits() % static_cast<uint32_t>(hi - lo + 1));
    }
    std::vector<float> floats(int64_t n, float scale = 1.0f) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = symmetric(scale);
        return x;
    }

  private:
    std::mt19937 engine_;
};

std::vector<uint8_t> bytes_of(const std::vector<float>& x) {
    std::vector<uint8_t> bytes(x.size() * sizeof(float));
    std::memcpy(bytes.data(), x.data(), bytes.size());
    return bytes;
}
std::vector<uint8_t> bytes_of(const std::vector<int32_t>& x) {
    std::vector<uint8_t> bytes(x.size() * sizeof(int32_t));
    std::memcpy(bytes.data(), x.data(), bytes.size());
    return bytes;
}
std::vector<float> floats_of(const std::vector<uint8_t>& bytes) {
    std::vector<float> x(bytes.size() / sizeof(float));
    std::memcpy(x.data(), bytes.data(), x.size() * sizeof(float));
    return x;
}
std::vector<int32_t> ints_of(const std::vector<uint8_t>& bytes) {
    std::vector<int32_t> x(bytes.size() / sizeof(int32_t));
    std::memcpy(x.data(), bytes.data(), x.size() * sizeof(int32_t));
    return x;
}

// Rows of `row_length` floats quantized to `type` with the reference codecs.
std::vector<uint8_t> quantized(TensorType type, const std::vector<float>& x, int64_t row_length) {
    const quant::TypeInfo& info = quant::type_info(type);
    const uint64_t row_bytes = quant::row_bytes(info, static_cast<uint64_t>(row_length));
    const auto n_rows = static_cast<int64_t>(x.size()) / row_length;
    std::vector<uint8_t> bytes(row_bytes * static_cast<uint64_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
        quant::quantize_row(type, x.data() + r * row_length, bytes.data() + r * row_bytes,
                            row_length);
    }
    return bytes;
}

std::string type_name(TensorType type) {
    return std::string(quant::type_info(type).name);
}

// ---------------------------------------------------------------------------------------------
// Graphs with one buffer per tensor, and running them on a device.

struct TestGraph {
    Graph graph;
    std::vector<std::vector<uint8_t>> bytes;  // initial contents, one per tensor

    int32_t tensor(const std::string& name, TensorType type, Shape shape,
                   std::vector<uint8_t> contents = {}) {
        Tensor t;
        t.type = type;
        t.shape = shape;
        t.name = name;
        t.buffer = static_cast<uint32_t>(graph.tensors.size());
        if (contents.empty()) contents.assign(t.n_bytes(), 0);
        EXPECT_EQ(contents.size(), t.n_bytes()) << name;
        graph.tensors.push_back(t);
        bytes.push_back(std::move(contents));
        return static_cast<int32_t>(graph.tensors.size() - 1);
    }
    int32_t f32(const std::string& name, Shape shape, const std::vector<float>& values) {
        return tensor(name, TensorType::F32, shape, bytes_of(values));
    }
    int32_t i32(const std::string& name, Shape shape, const std::vector<int32_t>& values) {
        return tensor(name, TensorType::I32, shape, bytes_of(values));
    }
    const Node& node(Op op, std::array<int32_t, kMaxSources> src, int32_t dst,
                     OpParams params = {}) {
        graph.nodes.push_back(Node{op, src, dst, params});
        return graph.nodes.back();
    }
};

// Buffers for a graph's tensors on a device, filled with their initial contents.
struct DeviceGraph {
    std::vector<std::unique_ptr<Buffer>> buffers;
    std::vector<Buffer*> pointers;

    DeviceGraph(Device& device, const TestGraph& test) {
        for (const std::vector<uint8_t>& contents : test.bytes) {
            buffers.push_back(device.allocate(contents.size(), MemoryKind::DeviceLocal));
            device.upload(*buffers.back(), 0, contents);
            pointers.push_back(buffers.back().get());
        }
    }
    std::vector<uint8_t> read(Device& device, int32_t tensor) {
        Buffer& buffer = *buffers[static_cast<size_t>(tensor)];
        std::vector<uint8_t> bytes(buffer.size());
        device.download(buffer, 0, bytes);
        return bytes;
    }
};

// Runs a graph once and returns every tensor's contents afterwards.
std::vector<std::vector<uint8_t>> run_graph(Device& device, const TestGraph& test,
                                            const StepValues& step, int n_threads = 2) {
    DeviceGraph on_device(device, test);
    const auto executable = device.compile(test.graph, on_device.pointers);
    const auto queue = device.create_queue(QueueOptions{n_threads});
    queue->submit(*executable, step);
    queue->wait();
    std::vector<std::vector<uint8_t>> out;
    for (size_t i = 0; i < test.bytes.size(); ++i) {
        out.push_back(on_device.read(device, static_cast<int32_t>(i)));
    }
    return out;
}

// Compares a float result with the reference under a per-element tolerance; reports the worst
// elements and how close to its bound the worst one came.
void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::function<double(size_t)>& tolerance, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    size_t failures = 0;
    double worst_ratio = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double error = std::abs(static_cast<double>(got[i]) - want[i]);
        const double bound = tolerance(i);
        const bool ok = error <= bound;  // false for NaN
        if (bound > 0) worst_ratio = std::max(worst_ratio, error / bound);
        if (!ok && ++failures <= 5) {
            ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", reference "
                          << want[i] << " (error " << error << ", bound " << bound << ")";
        }
    }
    // TESSERA_PRINT_BOUNDS=1 shows how close each comparison came to its bound.
    if (std::getenv("TESSERA_PRINT_BOUNDS") != nullptr) {
        std::printf("[ bound ] %.4f of the bound: %s\n", worst_ratio, what.c_str());
    }
    EXPECT_EQ(failures, 0u) << what << ": " << failures << " of " << got.size()
                            << " elements outside the bound (worst error/bound " << worst_ratio
                            << ")";
}

void expect_exact(const std::vector<double>& got, const std::vector<double>& want,
                  const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    size_t failures = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (got[i] != want[i] && ++failures <= 5) {
            ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected "
                          << want[i];
        }
    }
    EXPECT_EQ(failures, 0u) << what;
}

std::vector<double> as_doubles(const std::vector<int32_t>& x) {
    return {x.begin(), x.end()};
}

// ---------------------------------------------------------------------------------------------
// The devices under test.

struct DeviceUnderTest {
    DeviceInfo info;
    int index;           // within its backend
    bool plain = false;  // Vulkan: opened without its optional features (use_optional_features)
};

// gtest prints parameters with this: "cpu0 (Intel(R) Xeon(R) ...)".
void PrintTo(const DeviceUnderTest& device, std::ostream* out) {
    *out << device.info.backend << device.index << (device.plain ? "_plain" : "") << " ("
         << device.info.name << ")";
}

// Every device; each Vulkan device a second time without its optional features, so that the
// shader variants for the plainest device run too.
std::vector<DeviceUnderTest> devices_under_test() {
    std::vector<DeviceUnderTest> devices;
    for (const DeviceInfo& info : list_devices()) {
        int index = 0;
        for (const DeviceUnderTest& seen : devices) {
            index += seen.info.backend == info.backend && !seen.plain;
        }
        devices.push_back({info, index});
        if (info.backend == "vulkan") devices.push_back({info, index, true});
    }
    return devices;
}

std::string device_test_name(const testing::TestParamInfo<DeviceUnderTest>& param) {
    return param.param.info.backend + std::to_string(param.param.index) +
           (param.param.plain ? "_plain" : "");
}

std::shared_ptr<Device> open_device_under_test(const DeviceUnderTest& device) {
#ifdef TESSERA_BUILD_VULKAN
    if (device.plain) {
        backend::vulkan::DeviceOptions options;
        options.use_optional_features = false;
        return backend::vulkan::open_device(device.index, options);
    }
#endif
    return open_device(device.info.backend, device.index);
}

class Conformance : public testing::TestWithParam<DeviceUnderTest> {
  protected:
    void SetUp() override { device_ = open_device_under_test(GetParam()); }

    bool is_cpu() const { return GetParam().info.backend == "cpu"; }

    // The single node's output of a one-node graph.
    std::vector<uint8_t> run_node(const TestGraph& test, const StepValues& step = {}) {
        return run_graph(*device_, test, step)[static_cast<size_t>(test.graph.nodes[0].dst)];
    }
    std::vector<double> reference(const TestGraph& test, const StepValues& step = {},
                                  const test::ReferenceOptions& options = {}) {
        return test::reference_output(test.graph, test.graph.nodes[0], test.bytes, step, options);
    }

    std::shared_ptr<Device> device_;
};

// ---------------------------------------------------------------------------------------------
// Device basics.

TEST_P(Conformance, DeviceInfoDescribesTheDevice) {
    const DeviceInfo& info = device_->info();
    EXPECT_EQ(info.backend, GetParam().info.backend);
    EXPECT_FALSE(info.name.empty());
    EXPECT_GT(info.memory_bytes, 0u);
    if (is_cpu()) {
        EXPECT_EQ(info.kind, DeviceKind::Cpu);
        EXPECT_TRUE(info.unified_memory);
    }
}

TEST_P(Conformance, TransfersRoundTripAndCheckBounds) {
    Random random(1);
    std::vector<uint8_t> data(1000);
    for (uint8_t& byte : data) byte = static_cast<uint8_t>(random.bits());
    for (const MemoryKind kind : {MemoryKind::DeviceLocal, MemoryKind::HostVisible}) {
        const auto a = device_->allocate(1000, kind);
        const auto b = device_->allocate(1500, kind);
        EXPECT_EQ(a->size(), 1000u);
        device_->upload(*a, 0, data);
        device_->copy(*a, 100, *b, 700, 800);
        std::vector<uint8_t> back(800);
        device_->download(*b, 700, back);
        EXPECT_TRUE(std::equal(back.begin(), back.end(), data.begin() + 100));

        EXPECT_THROW(device_->upload(*a, 1, data), Error);
        EXPECT_THROW(device_->download(*a, 999, std::span<uint8_t>(back.data(), 2)), Error);
        EXPECT_THROW(device_->copy(*a, 500, *b, 0, 501), Error);
        EXPECT_THROW(device_->copy(*a, 0, *b, 1400, 101), Error);
        EXPECT_THROW(device_->upload(*a, std::numeric_limits<uint64_t>::max(),
                                     std::span<const uint8_t>(data.data(), 2)),
                     Error);
    }
    const auto empty = device_->allocate(0, MemoryKind::DeviceLocal);
    EXPECT_EQ(empty->size(), 0u);
}

TEST_P(Conformance, ImpossibleAllocationThrowsSayingHowMuch) {
    const uint64_t absurd = uint64_t{1} << 62;  // 4 EiB
    try {
        (void)device_->allocate(absurd, MemoryKind::DeviceLocal);
        FAIL() << "allocating 4 EiB succeeded";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(std::to_string(absurd)), std::string::npos) << message;
    }
}

TEST_P(Conformance, WrapHostIsZeroCopyOnTheCpu) {
    std::vector<float> host(64, 1.5f);
    const auto wrapped = device_->wrap_host(host.data(), host.size() * sizeof(float));
    if (!is_cpu()) {
        std::printf("[ note ] %s: wrap_host may return nullptr on a GPU; not checked\n",
                    GetParam().info.backend.c_str());
        return;
    }
    ASSERT_NE(wrapped, nullptr);
    EXPECT_EQ(wrapped->host_data(), host.data());
    EXPECT_EQ(wrapped->size(), host.size() * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// GET_ROWS: every type with a codec. The reference dequantizes with the same codecs, so a device
// that decodes blocks as defined returns the same floats; the bound allows one rounding of the
// scale products (a GPU may fuse d * q - m into one FMA).

const std::vector<TensorType>& codec_types() {
    static const std::vector<TensorType> types = {
        TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
        TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K,
        TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K,
    };
    return types;
}

TEST_P(Conformance, GetRowsDequantizesEveryType) {
    Random random(2);
    for (const TensorType type : codec_types()) {
        const int64_t block = quant::type_info(type).block_size;
        const int64_t k = block == 1 ? random.integer(1, 300) : block * random.integer(1, 3);
        const int64_t n_rows = random.integer(3, 40);
        const int64_t m = random.integer(1, 9);
        TestGraph test;
        const int32_t table = test.tensor("table", type, {k, n_rows, 1, 1},
                                          quantized(type, random.floats(k * n_rows, 2.0f), k));
        std::vector<int32_t> ids(static_cast<size_t>(m));
        for (int32_t& id : ids) id = static_cast<int32_t>(random.integer(0, n_rows - 1));
        const int32_t id_tensor = test.i32("ids", {m, 1, 1, 1}, ids);
        const int32_t out = test.tensor("rows", TensorType::F32, {k, m, 1, 1});
        test.node(Op::GET_ROWS, {table, id_tensor, -1, -1}, out);
        ASSERT_TRUE(device_->supports(test.graph, test.graph.nodes[0])) << type_name(type);
        const std::vector<double> want = reference(test);
        const std::vector<float> got = floats_of(run_node(test));
        expect_close(
            got, want, [&](size_t i) { return 2 * kFloatEpsilon * std::abs(want[i]); },
            "GET_ROWS " + type_name(type));
    }
}

TEST_P(Conformance, GetRowsRejectsAnIdOutOfRangeAtWait) {
    TestGraph test;
    const int32_t table = test.f32("table", {4, 3, 1, 1}, std::vector<float>(12, 1.0f));
    const int32_t ids = test.i32("ids", {2, 1, 1, 1}, {1, 3});
    const int32_t out = test.tensor("rows", TensorType::F32, {4, 2, 1, 1});
    test.node(Op::GET_ROWS, {table, ids, -1, -1}, out);
    EXPECT_THROW(run_graph(*device_, test, {}), Error);
}

// ---------------------------------------------------------------------------------------------
// MUL_MAT: every weight type, m = 1 (decoding) and m > 1 (prompts, odd sizes that cross the
// kernels' tiles).
//
// A backend may convert the activations to its dot kernels' type first (ggml's vec_dot_type:
// Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, whose values are Q8_0's, Q8_K for the K-quants,
// F16 and BF16 for those weights). The reference is run on that round trip, so what is left is
// float rounding: products of a block are exact integers (or exact float products of 11- or
// 8-bit significands), and each block's sum meets at most a few float operations (scale
// products, the min term of Q4_1/Q5_1/Q2_K/Q4_K/Q5_K, the addition to the total). Every such
// operation errs by at most kFloatEpsilon times a partial sum bounded by
// S = sum_l |w_l * x_l|, and the min terms' parts by at most 3 S (a block's minimum and range are
// bounded by its largest weight times 2). So |error| <= (4 * 4 * n_blocks + 16) * eps * S, where
// the 16 covers a SIMD kernel's final horizontal reduction. For float weights a block is one
// element.

TensorType activation_type_for(TensorType weight_type) {
    switch (weight_type) {
        case TensorType::Q4_0:
        case TensorType::Q5_0:
        case TensorType::Q8_0:
            return TensorType::Q8_0;
        case TensorType::Q4_1:
        case TensorType::Q5_1:
            return TensorType::Q8_1;
        case TensorType::F16:
            return TensorType::F16;
        case TensorType::BF16:
            return TensorType::BF16;
        case TensorType::F32:
            return TensorType::F32;
        default:
            return TensorType::Q8_K;
    }
}

struct MulMatCase {
    TestGraph test;
    std::vector<double> sum_abs;  // S per output element
    int64_t n_blocks = 0;
};

MulMatCase mul_mat_case(Random& random, TensorType type, int64_t k, int64_t n, int64_t m) {
    MulMatCase c;
    const std::vector<float> weights = random.floats(k * n);
    const std::vector<float> activations = random.floats(k * m, 3.0f);
    const std::vector<uint8_t> weight_bytes = quantized(type, weights, k);
    const int32_t w = c.test.tensor("blk.0.ffn_up", type, {k, n, 1, 1}, weight_bytes);
    const int32_t x = c.test.f32("x", {k, m, 1, 1}, activations);
    const int32_t out = c.test.tensor("up", TensorType::F32, {n, m, 1, 1});
    c.test.node(Op::MUL_MAT, {w, x, -1, -1}, out);

    std::vector<float> w_values(static_cast<size_t>(k * n));
    for (int64_t i = 0; i < n; ++i) {
        quant::dequantize_row(type, weight_bytes.data() + i * c.test.graph.tensors[0].row_bytes(),
                              w_values.data() + i * k, k);
    }
    const std::vector<float> x_values = test::round_trip(activation_type_for(type), activations, k);
    c.sum_abs.resize(static_cast<size_t>(n * m));
    for (int64_t j = 0; j < m; ++j) {
        for (int64_t i = 0; i < n; ++i) {
            double sum = 0.0;
            for (int64_t l = 0; l < k; ++l) {
                sum += std::abs(static_cast<double>(w_values[static_cast<size_t>(i * k + l)]) *
                                x_values[static_cast<size_t>(j * k + l)]);
            }
            c.sum_abs[static_cast<size_t>(j * n + i)] = sum;
        }
    }
    c.n_blocks = k / quant::type_info(activation_type_for(type)).block_size;
    return c;
}

double mul_mat_bound(const MulMatCase& c, size_t i) {
    return (16.0 * static_cast<double>(c.n_blocks) + 16.0) * kFloatEpsilon * c.sum_abs[i];
}

// Every weight type against the reference on `device`.
void check_mul_mat_every_type(Device& device) {
    Random random(3);
    for (const TensorType type : codec_types()) {
        const int64_t block = quant::type_info(type).block_size;
        // Legacy blocks: an odd number of them; floats: an odd length.
        const int64_t k = block == 1 ? 75 : block == 32 ? 32 * 5 : 256 * 2;
        for (const int64_t m : {int64_t{1}, int64_t{3}, int64_t{37}}) {
            const int64_t n = m == 1 ? 67 : 35;
            MulMatCase c = mul_mat_case(random, type, k, n, m);
            ASSERT_TRUE(device.supports(c.test.graph, c.test.graph.nodes[0])) << type_name(type);
            test::ReferenceOptions options;
            options.mul_mat_activation_type = activation_type_for(type);
            const std::vector<double> want = test::reference_output(
                c.test.graph, c.test.graph.nodes[0], c.test.bytes, {}, options);
            const int32_t out = c.test.graph.nodes[0].dst;
            const std::vector<float> got =
                floats_of(run_graph(device, c.test, {})[static_cast<size_t>(out)]);
            expect_close(
                got, want, [&](size_t i) { return mul_mat_bound(c, i); },
                "MUL_MAT " + type_name(type) + " k=" + std::to_string(k) +
                    " n=" + std::to_string(n) + " m=" + std::to_string(m));
        }
    }
}

TEST_P(Conformance, MulMatMatchesTheReferenceForEveryWeightType) {
    check_mul_mat_every_type(*device_);
}

// The activation types above are the CPU kernels' own: if a kernel changes its type, the
// reference above would be run on the wrong round trip.
TEST_P(Conformance, CpuDotKernelsUseGgmlActivationTypes) {
    if (!is_cpu()) {
        std::printf("[ note ] not a CPU device: the kernel table is the CPU's\n");
        return;
    }
    for (const bool scalar : {false, true}) {
        const cpu::CpuFeatures features =
            scalar ? cpu::scalar_cpu_features() : cpu::detect_cpu_features();
        for (const TensorType type : codec_types()) {
            const cpu::DotKernel* kernel = cpu::dot_kernel(type, features);
            ASSERT_NE(kernel, nullptr) << type_name(type);
            EXPECT_EQ(kernel->activation_type, activation_type_for(type)) << type_name(type);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Element-wise ops.
//
// Bounds: each result is a handful of float operations (at most 6 roundings) plus one libm call
// (expf, erff or tanhf: within 2 ulps in glibc). Relative to the result that gives 16 eps; the
// GELU forms compute 1 + erf or 1 + tanh, which cancels for large negative x: the error of that
// sum is eps relative to 1, i.e. eps * |x| / 2 after the multiplication by x / 2, hence the
// |x| term.

struct UnaryCase {
    Op op;
    OpParams params;
};

TEST_P(Conformance, UnaryOpsMatchTheReference) {
    Random random(4);
    OpParams scale_params;
    scale_params.scale = -1.75f;
    OpParams softcap_params;
    softcap_params.softcap = 30.0f;
    const std::vector<UnaryCase> cases = {{Op::SCALE, scale_params},
                                          {Op::SILU, {}},
                                          {Op::GELU, {}},
                                          {Op::GELU_TANH, {}},
                                          {Op::SOFTCAP, softcap_params}};
    for (const UnaryCase& unary : cases) {
        for (const Shape shape : {Shape{1, 1, 1, 1}, Shape{37, 3, 1, 1}, Shape{4099, 5, 2, 1}}) {
            const int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
            std::vector<float> x = random.floats(n, 12.0f);
            if (unary.op == Op::SOFTCAP) x = random.floats(n, 100.0f);
            TestGraph test;
            const int32_t in = test.f32("x", shape, x);
            const int32_t out = test.tensor("y", TensorType::F32, shape);
            test.node(unary.op, {in, -1, -1, -1}, out, unary.params);
            const std::vector<double> want = reference(test);
            const std::vector<float> got = floats_of(run_node(test));
            expect_close(
                got, want,
                [&](size_t i) { return 16 * kFloatEpsilon * (std::abs(want[i]) + std::abs(x[i])); },
                std::string(op_name(unary.op)) + " n=" + std::to_string(n));
        }
    }
}

TEST_P(Conformance, GatedUnitsMatchTheReference) {
    Random random(5);
    for (const Op op : {Op::SWIGLU, Op::GEGLU}) {
        for (const Shape shape : {Shape{1, 1, 1, 1}, Shape{173, 7, 1, 1}}) {
            const int64_t n = shape[0] * shape[1];
            const std::vector<float> gate = random.floats(n, 8.0f);
            const std::vector<float> up = random.floats(n, 4.0f);
            TestGraph test;
            const int32_t g = test.f32("gate", shape, gate);
            const int32_t u = test.f32("up", shape, up);
            const int32_t out = test.tensor("y", TensorType::F32, shape);
            test.node(op, {g, u, -1, -1}, out);
            const std::vector<double> want = reference(test);
            const std::vector<float> got = floats_of(run_node(test));
            // The activation's bound (above) carried through one more multiplication.
            expect_close(
                got, want,
                [&](size_t i) {
                    return 17 * kFloatEpsilon * (std::abs(want[i]) + std::abs(gate[i] * up[i]));
                },
                std::string(op_name(op)) + " n=" + std::to_string(n));
        }
    }
}

// ADD is one rounding of the exact sum; MUL one rounding of the exact product.
TEST_P(Conformance, AddAndMulBroadcast) {
    Random random(6);
    const Shape a_shape{13, 5, 3, 2};
    const std::vector<Shape> b_shapes = {a_shape,      {13, 1, 1, 1}, {1, 5, 1, 1}, {13, 5, 1, 1},
                                         {1, 1, 3, 2}, {13, 1, 3, 1}, {1, 1, 1, 1}};
    for (const Op op : {Op::ADD, Op::MUL}) {
        for (const Shape& b_shape : b_shapes) {
            const int64_t n_b = b_shape[0] * b_shape[1] * b_shape[2] * b_shape[3];
            TestGraph test;
            const int32_t a = test.f32("a", a_shape, random.floats(13 * 5 * 3 * 2, 5.0f));
            const int32_t b = test.f32("b", b_shape, random.floats(n_b, 5.0f));
            const int32_t out = test.tensor("c", TensorType::F32, a_shape);
            test.node(op, {a, b, -1, -1}, out);
            const std::vector<double> want = reference(test);
            const std::vector<float> got = floats_of(run_node(test));
            expect_close(
                got, want, [&](size_t i) { return kFloatEpsilon * std::abs(want[i]); },
                std::string(op_name(op)) + " b=[" + std::to_string(b_shape[0]) + "," +
                    std::to_string(b_shape[1]) + "," + std::to_string(b_shape[2]) + "," +
                    std::to_string(b_shape[3]) + "]");
        }
    }
}

// In place (dst is src0) is allowed for element-wise ops and gives the same result.
TEST_P(Conformance, ElementWiseOpsRunInPlace) {
    Random random(7);
    const std::vector<float> a = random.floats(300);
    const std::vector<float> b = random.floats(300);
    TestGraph test;
    const int32_t x = test.f32("x", {300, 1, 1, 1}, a);
    const int32_t y = test.f32("y", {300, 1, 1, 1}, b);
    test.node(Op::ADD, {x, y, -1, -1}, x);
    const std::vector<float> got = floats_of(run_graph(*device_, test, {})[static_cast<size_t>(x)]);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(got[i], a[i] + b[i]) << i;
}

// RMS_NORM: the sum of squares in double (or float pairwise on a GPU: 2 log2(n) eps relative),
// then a handful of float operations: 8 eps + 2 log2(n) eps relative to the result.
TEST_P(Conformance, RmsNormMatchesTheReference) {
    Random random(8);
    for (const int64_t length : {int64_t{1}, int64_t{7}, int64_t{4096}, int64_t{5003}}) {
        const int64_t n_rows = random.integer(1, 6);
        TestGraph test;
        const int32_t in =
            test.f32("x", {length, n_rows, 1, 1}, random.floats(length * n_rows, 3.0f));
        const int32_t out = test.tensor("norm", TensorType::F32, {length, n_rows, 1, 1});
        OpParams params;
        params.eps = 1e-6f;
        test.node(Op::RMS_NORM, {in, -1, -1, -1}, out, params);
        const std::vector<double> want = reference(test);
        const std::vector<float> got = floats_of(run_node(test));
        const double relative = (8 + 2 * std::log2(static_cast<double>(length))) * kFloatEpsilon;
        expect_close(
            got, want, [&](size_t i) { return relative * std::abs(want[i]); },
            "RMS_NORM length=" + std::to_string(length));
    }
}

// SOFTMAX: expf(s - max) with s = x * scale: s and the difference are each rounded, an
// absolute error of 2 eps |s - max| in the exponent, i.e. that much relative error of the
// exponential; plus expf's 2 ulps, the sum's rounding (n eps at worst in float) and the final
// multiplication.
TEST_P(Conformance, SoftmaxMatchesTheReference) {
    Random random(9);
    for (const int64_t length : {int64_t{1}, int64_t{33}, int64_t{1000}}) {
        const int64_t n_rows = random.integer(1, 5);
        const std::vector<float> x = random.floats(length * n_rows, 8.0f);
        TestGraph test;
        const int32_t in = test.f32("x", {length, n_rows, 1, 1}, x);
        const int32_t out = test.tensor("p", TensorType::F32, {length, n_rows, 1, 1});
        OpParams params;
        params.scale = 0.7f;
        test.node(Op::SOFTMAX, {in, -1, -1, -1}, out, params);
        const std::vector<double> want = reference(test);
        const std::vector<float> got = floats_of(run_node(test));
        expect_close(
            got, want,
            [&](size_t i) {
                const double spread = 2 * 8.0 * 0.7;  // |s - max| <= max - min of s
                return (8 + 2 * spread + static_cast<double>(length)) * kFloatEpsilon *
                       std::abs(want[i]);
            },
            "SOFTMAX length=" + std::to_string(length));
    }
}

// ---------------------------------------------------------------------------------------------
// ROPE. ggml computes theta in float, multiplying by freq_base^(-2/n_rot) once per pair: the
// angle of pair i carries up to (2 i + 4) roundings relative to itself (the power, i
// multiplications, the position conversion, freq_scale), so its absolute error is
// |angle| (2 i + 4) eps, and cosf/sinf add 2 ulps. The rotated pair is off by at most
// (|x0| + |x1|) times that, plus 4 eps for the products and the sum.

TEST_P(Conformance, RopeMatchesTheReferenceInBothStyles) {
    Random random(10);
    struct RopeShape {
        int64_t head_dim, n_rot;
    };
    for (const RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
        for (const RopeShape shape :
             {RopeShape{64, 64}, RopeShape{128, 64}, RopeShape{96, 32}, RopeShape{10, 6}}) {
            for (const float freq_scale : {1.0f, 0.25f}) {
                const int64_t n_heads = random.integer(1, 5);
                const int64_t m = random.integer(1, 6);
                std::vector<int32_t> positions(static_cast<size_t>(m));
                for (int32_t& p : positions) p = static_cast<int32_t>(random.integer(0, 5000));
                const std::vector<float> x = random.floats(shape.head_dim * n_heads * m, 2.0f);
                TestGraph test;
                const Shape tensor_shape{shape.head_dim, n_heads, m, 1};
                const int32_t in = test.f32("q", tensor_shape, x);
                const int32_t pos = test.i32("positions", {m, 1, 1, 1}, positions);
                const int32_t out = test.tensor("q_rope", TensorType::F32, tensor_shape);
                OpParams params;
                params.rope_style = style;
                params.n_rot = static_cast<int32_t>(shape.n_rot);
                params.freq_base = style == RopeStyle::NeoX ? 1000000.0f : 10000.0f;
                params.freq_scale = freq_scale;
                test.node(Op::ROPE, {in, pos, -1, -1}, out, params);
                const std::vector<double> want = reference(test);
                const std::vector<float> got = floats_of(run_node(test));

                std::vector<double> bound(got.size());
                for (size_t e = 0; e < got.size(); ++e) {
                    const auto d = static_cast<int64_t>(e % static_cast<size_t>(shape.head_dim));
                    const auto token = static_cast<int64_t>(e) / (shape.head_dim * n_heads);
                    const int64_t row_start = static_cast<int64_t>(e) - d;
                    if (d >= shape.n_rot) {
                        bound[e] = 0;  // passes through unchanged
                        continue;
                    }
                    const int64_t half = shape.n_rot / 2;
                    const bool neox = style == RopeStyle::NeoX;
                    const int64_t pair = neox ? d % half : d / 2;
                    const int64_t first = neox ? pair : 2 * pair;
                    const int64_t second = neox ? pair + half : 2 * pair + 1;
                    const double angle =
                        static_cast<double>(positions[static_cast<size_t>(token)]) *
                        static_cast<double>(freq_scale) *
                        std::pow(
                            static_cast<double>(params.freq_base),
                            -2.0 * static_cast<double>(pair) / static_cast<double>(shape.n_rot));
                    const double magnitude = std::abs(x[static_cast<size_t>(row_start + first)]) +
                                             std::abs(x[static_cast<size_t>(row_start + second)]);
                    bound[e] = magnitude * kFloatEpsilon *
                               (std::abs(angle) * static_cast<double>(2 * pair + 4) + 8);
                }
                expect_close(
                    got, want, [&](size_t e) { return bound[e]; },
                    std::string("ROPE ") + (style == RopeStyle::NeoX ? "neox" : "normal") +
                        " head_dim=" + std::to_string(shape.head_dim) +
                        " n_rot=" + std::to_string(shape.n_rot));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KV_STORE: the stored columns are the codecs' bytes exactly; the others are untouched.

TEST_P(Conformance, KvStoreWritesTheColumnsAtThePosition) {
    Random random(11);
    for (const TensorType type : {TensorType::F16, TensorType::Q8_0}) {
        const int64_t row = 64 * 3;
        const int64_t n_ctx = 40;
        const int64_t m = random.integer(1, 9);
        const int32_t position = static_cast<int32_t>(random.integer(0, n_ctx - m));
        TestGraph test;
        const int32_t in = test.f32("k", {row, m, 1, 1}, random.floats(row * m, 4.0f));
        const int32_t cache = test.tensor("cache_k", type, {row, n_ctx, 1, 1},
                                          quantized(type, random.floats(row * n_ctx), row));
        test.node(Op::KV_STORE, {in, -1, -1, -1}, cache);
        StepValues step;
        step.position = position;
        const std::vector<double> want = reference(test, step);
        const std::vector<uint8_t> got_bytes = run_node(test, step);
        const std::vector<double> got =
            test::dequantize_to_double(type, got_bytes.data(), row * n_ctx);
        expect_exact(got, want, "KV_STORE " + type_name(type));
    }
}

TEST_P(Conformance, KvStorePastTheCacheThrowsAtWait) {
    TestGraph test;
    const int32_t in = test.f32("k", {32, 3, 1, 1}, std::vector<float>(96, 1.0f));
    const int32_t cache = test.tensor("cache_k", TensorType::F16, {32, 8, 1, 1});
    test.node(Op::KV_STORE, {in, -1, -1, -1}, cache);
    DeviceGraph on_device(*device_, test);
    const auto executable = device_->compile(test.graph, on_device.pointers);
    const auto queue = device_->create_queue(QueueOptions{2});
    StepValues step;
    step.position = 6;  // columns 6, 7, 8: one past the end
    ASSERT_NO_THROW(queue->submit(*executable, step));
    try {
        queue->wait();
        FAIL() << "a store past the cache did not fail";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("KV_STORE"), std::string::npos) << message;
        EXPECT_NE(message.find("node 0"), std::string::npos) << message;
    }
    // Nothing was written, and the queue works again after reporting the error.
    const std::vector<uint8_t> untouched = on_device.read(*device_, cache);
    EXPECT_TRUE(std::all_of(untouched.begin(), untouched.end(), [](uint8_t b) { return b == 0; }));
    step.position = 5;
    queue->submit(*executable, step);
    EXPECT_NO_THROW(queue->wait());
    const std::vector<uint8_t> written = on_device.read(*device_, cache);
    EXPECT_EQ(
        quant::fp16_to_fp32(static_cast<uint16_t>(written[5 * 64] | written[5 * 64 + 1] << 8)),
        1.0f);
}

// Runs submitted back to back execute in order, without waits in between: two executables
// over the same buffer, x = 2 x and x = x + 1, whose composition depends on the order.
TEST_P(Conformance, QueueRunsSubmissionsInOrder) {
    TestGraph doubling;
    const int32_t x = doubling.f32("x", {5, 1, 1, 1}, std::vector<float>(5, 1.0f));
    OpParams two;
    two.scale = 2.0f;
    doubling.node(Op::SCALE, {x, -1, -1, -1}, x, two);
    TestGraph incrementing = doubling;
    incrementing.graph.nodes.clear();
    const int32_t one = incrementing.f32("one", {1, 1, 1, 1}, {1.0f});
    incrementing.node(Op::ADD, {x, one, -1, -1}, x);

    DeviceGraph on_device(*device_, incrementing);  // holds x and one
    const auto double_x = device_->compile(doubling.graph, on_device.pointers);
    const auto increment_x = device_->compile(incrementing.graph, on_device.pointers);
    const auto queue = device_->create_queue(QueueOptions{3});
    // 1 -> 2 -> 3 -> 6 -> 7 -> 14 -> 15 -> 30
    for (int i = 0; i < 7; ++i) queue->submit(i % 2 == 0 ? *double_x : *increment_x, {});
    queue->wait();
    for (const float value : floats_of(on_device.read(*device_, x))) EXPECT_EQ(value, 30.0f);
}

// ---------------------------------------------------------------------------------------------
// FLASH_ATTN over every combination of cache type, GQA ratio, causality, window, mask and
// softcap, with n_kv crossing tile boundaries and a position that leaves part of the cache
// invisible to causal queries.
//
// Bound. Q is converted to the K cache's type first, as ggml does (the reference does the
// same), so the scores differ from the reference's by float rounding only: at most
// (head_dim + 16) eps * sum_d |q_d k_d| * scale (the float sums of the dot products, as for
// MUL_MAT), softcapping only shrinks that. A score error e changes every softmax weight by a
// factor within exp(+-2e) and the output, a weighted mean of V rows, by at most
// 4 e max|V|. The online softmax adds (n_kv + 32) eps * max|V| more: the float sums of weights and
// of weighted rows, and the rescaling.

struct AttentionCase {
    TensorType cache_type;
    int64_t group;  // query heads per KV head
    bool causal;
    int32_t window;
    bool mask;
    float softcap;
};

// Every combination on `device`.
void check_flash_attention_grid(Device& device) {
    Random random(12);
    int case_index = 0;
    for (const TensorType cache_type : {TensorType::F16, TensorType::Q8_0}) {
        for (const int64_t group : {1, 2, 4, 8}) {
            for (const bool causal : {true, false}) {
                for (const int32_t window : {0, 37}) {
                    for (const bool mask : {false, true}) {
                        for (const float softcap : {0.0f, 20.0f}) {
                            ++case_index;
                            const int64_t head_dim =
                                cache_type == TensorType::Q8_0 ? 64 : (case_index % 2 ? 40 : 128);
                            const int64_t n_kv_heads = random.integer(1, 2);
                            const int64_t n_heads = n_kv_heads * group;
                            const int64_t m = random.integer(1, 6);
                            const int64_t n_ctx = 160;
                            const int32_t n_kv = static_cast<int32_t>(random.integer(40, 150));
                            const auto position =
                                static_cast<int32_t>(n_kv - m - random.integer(0, 20));
                            const int64_t row = head_dim * n_kv_heads;

                            TestGraph test;
                            const std::vector<float> q =
                                random.floats(head_dim * n_heads * m, 1.5f);
                            const int32_t q_tensor = test.f32("q", {head_dim, n_heads, m, 1}, q);
                            const std::vector<float> k = random.floats(row * n_ctx, 1.5f);
                            const std::vector<float> v = random.floats(row * n_ctx, 2.0f);
                            const int32_t k_tensor =
                                test.tensor("cache_k", cache_type, {row, n_ctx, 1, 1},
                                            quantized(cache_type, k, row));
                            const int32_t v_tensor =
                                test.tensor("cache_v", cache_type, {row, n_ctx, 1, 1},
                                            quantized(cache_type, v, row));
                            int32_t mask_tensor = -1;
                            const int64_t mask_length =
                                n_kv + 3;  // longer than n_kv: only n_kv read
                            if (mask) {
                                std::vector<float> mask_values(
                                    static_cast<size_t>(mask_length * m));
                                for (float& value : mask_values) {
                                    value = random.integer(0, 5) == 0
                                                ? -std::numeric_limits<float>::infinity()
                                                : random.symmetric(2.0f);
                                }
                                mask_tensor = test.f32("mask", {mask_length, m, 1, 1}, mask_values);
                            }
                            const int32_t out =
                                test.tensor("kqv", TensorType::F32, {head_dim, n_heads, m, 1});
                            OpParams params;
                            params.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
                            params.softcap = softcap;
                            params.causal = causal;
                            params.window = window;
                            test.node(Op::FLASH_ATTN, {q_tensor, k_tensor, v_tensor, mask_tensor},
                                      out, params);
                            ASSERT_TRUE(device.supports(test.graph, test.graph.nodes[0]));

                            StepValues step;
                            step.position = position;
                            step.n_kv = n_kv;
                            test::ReferenceOptions options;
                            options.attention_query_type = cache_type;
                            const std::vector<double> want = test::reference_output(
                                test.graph, test.graph.nodes[0], test.bytes, step, options);
                            const std::vector<float> got =
                                floats_of(run_graph(device, test, step)[static_cast<size_t>(out)]);

                            // The bound's ingredients from the data the device saw.
                            const std::vector<float> q_used =
                                test::round_trip(cache_type, q, head_dim);
                            std::vector<float> k_used(k.size()), v_used(v.size());
                            quant::dequantize_row(cache_type, test.bytes[1].data(), k_used.data(),
                                                  row * n_ctx);
                            quant::dequantize_row(cache_type, test.bytes[2].data(), v_used.data(),
                                                  row * n_ctx);
                            double max_v = 0.0, max_qk = 0.0;
                            for (int64_t c = 0; c < n_kv; ++c) {
                                for (int64_t e = 0; e < row; ++e) {
                                    max_v = std::max(
                                        max_v, std::abs(static_cast<double>(
                                                   v_used[static_cast<size_t>(c * row + e)])));
                                }
                            }
                            for (int64_t j = 0; j < m; ++j) {
                                for (int64_t h = 0; h < n_heads; ++h) {
                                    const int64_t kv_head = h / group;
                                    for (int64_t c = 0; c < n_kv; ++c) {
                                        double sum = 0.0;
                                        for (int64_t d = 0; d < head_dim; ++d) {
                                            sum += std::abs(
                                                static_cast<double>(q_used[static_cast<size_t>(
                                                    (j * n_heads + h) * head_dim + d)]) *
                                                k_used[static_cast<size_t>(
                                                    c * row + kv_head * head_dim + d)]);
                                        }
                                        max_qk = std::max(max_qk, sum);
                                    }
                                }
                            }
                            const double score_error = static_cast<double>(head_dim + 16) *
                                                       kFloatEpsilon * max_qk * params.scale;
                            const double bound =
                                max_v *
                                (4 * score_error + static_cast<double>(n_kv + 32) * kFloatEpsilon);
                            expect_close(
                                got, want, [&](size_t) { return bound; },
                                "FLASH_ATTN " + type_name(cache_type) + " group=" +
                                    std::to_string(group) + " causal=" + std::to_string(causal) +
                                    " window=" + std::to_string(window) + " mask=" +
                                    std::to_string(mask) + " softcap=" + std::to_string(softcap) +
                                    " m=" + std::to_string(m) + " n_kv=" + std::to_string(n_kv) +
                                    " head_dim=" + std::to_string(head_dim));
                        }
                    }
                }
            }
        }
    }
}

TEST_P(Conformance, FlashAttentionMatchesTheReference) {
    check_flash_attention_grid(*device_);
}

// A query that sees no column (everything masked) gets zeros, not NaN.
TEST_P(Conformance, FlashAttentionWithNothingVisibleGivesZeros) {
    const int64_t head_dim = 32;
    TestGraph test;
    const int32_t q = test.f32("q", {head_dim, 2, 1, 1}, std::vector<float>(head_dim * 2, 1.0f));
    const int32_t k = test.tensor("cache_k", TensorType::F16, {head_dim, 8, 1, 1});
    const int32_t v = test.tensor("cache_v", TensorType::F16, {head_dim, 8, 1, 1});
    const int32_t mask = test.f32("mask", {8, 1, 1, 1},
                                  std::vector<float>(8, -std::numeric_limits<float>::infinity()));
    const int32_t out = test.tensor("kqv", TensorType::F32, {head_dim, 2, 1, 1});
    test.node(Op::FLASH_ATTN, {q, k, v, mask}, out);
    const std::vector<float> got = floats_of(run_node(test, StepValues{3, 4}));
    for (const float value : got) EXPECT_EQ(value, 0.0f);
}

// ---------------------------------------------------------------------------------------------
// ARGMAX and TOP_K: exact. Values come from a small set so that ties are everywhere, and rows
// are long enough to be split across threads.

TEST_P(Conformance, ArgmaxTakesTheFirstMaximum) {
    Random random(13);
    for (const int64_t length : {int64_t{1}, int64_t{17}, int64_t{70001}}) {
        const int64_t n_rows = 3;
        std::vector<float> x(static_cast<size_t>(length * n_rows));
        for (float& value : x) value = static_cast<float>(random.integer(-50, 50)) * 0.5f;
        TestGraph test;
        const int32_t in = test.f32("logits", {length, n_rows, 1, 1}, x);
        const int32_t out = test.tensor("token", TensorType::I32, {n_rows, 1, 1, 1});
        test.node(Op::ARGMAX, {in, -1, -1, -1}, out);
        expect_exact(as_doubles(ints_of(run_node(test))), reference(test),
                     "ARGMAX length=" + std::to_string(length));
    }
}

TEST_P(Conformance, TopKOrdersByValueThenIndex) {
    Random random(14);
    for (const int64_t length : {int64_t{5}, int64_t{300}, int64_t{50000}}) {
        for (const int32_t k : {1, 5, 40}) {
            if (k > length) continue;
            const int64_t n_rows = 2;
            std::vector<float> x(static_cast<size_t>(length * n_rows));
            for (float& value : x) value = static_cast<float>(random.integer(-30, 30));
            TestGraph test;
            const int32_t in = test.f32("logits", {length, n_rows, 1, 1}, x);
            const int32_t out = test.tensor("candidates", TensorType::I32, {k, n_rows, 1, 1});
            OpParams params;
            params.k = k;
            test.node(Op::TOP_K, {in, -1, -1, -1}, out, params);
            expect_exact(as_doubles(ints_of(run_node(test))), reference(test),
                         "TOP_K length=" + std::to_string(length) + " k=" + std::to_string(k));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A whole decoder layer, run with 1, 2 and 3 threads: every tensor must come out bit for bit the
// same, since no op may let scheduling decide the order of a float sum.

TestGraph decoder_layer(Random& random, int64_t m) {
    const int64_t embedding = 256, head_dim = 64, n_heads = 4, n_kv_heads = 2, ffn = 512;
    const int64_t n_ctx = 96, vocab = 1000;
    TestGraph t;
    const int32_t x = t.f32("x", {embedding, m, 1, 1}, random.floats(embedding * m));
    const int32_t norm_weight = t.f32("attn_norm", {embedding, 1, 1, 1}, random.floats(embedding));
    const auto weight = [&](const std::string& name, TensorType type, int64_t k, int64_t n) {
        return t.tensor(name, type, {k, n, 1, 1}, quantized(type, random.floats(k * n, 0.1f), k));
    };
    const int32_t wq = weight("attn_q", TensorType::Q4_K, embedding, head_dim * n_heads);
    const int32_t wk = weight("attn_k", TensorType::Q5_0, embedding, head_dim * n_kv_heads);
    const int32_t wv = weight("attn_v", TensorType::Q8_0, embedding, head_dim * n_kv_heads);
    const int32_t wo = weight("attn_o", TensorType::Q6_K, head_dim * n_heads, embedding);
    const int32_t w_gate = weight("ffn_gate", TensorType::Q4_1, embedding, ffn);
    const int32_t w_up = weight("ffn_up", TensorType::F16, embedding, ffn);
    const int32_t w_down = weight("ffn_down", TensorType::Q3_K, ffn, embedding);
    const int32_t w_out = weight("output", TensorType::Q2_K, embedding, vocab);
    std::vector<int32_t> positions(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j)
        positions[static_cast<size_t>(j)] = static_cast<int32_t>(10 + j);
    const int32_t pos = t.i32("positions", {m, 1, 1, 1}, positions);
    const int32_t cache_k =
        t.tensor("cache_k", TensorType::F16, {head_dim * n_kv_heads, n_ctx, 1, 1},
                 quantized(TensorType::F16, random.floats(head_dim * n_kv_heads * n_ctx),
                           head_dim * n_kv_heads));
    const int32_t cache_v =
        t.tensor("cache_v", TensorType::Q8_0, {head_dim * n_kv_heads, n_ctx, 1, 1},
                 quantized(TensorType::Q8_0, random.floats(head_dim * n_kv_heads * n_ctx),
                           head_dim * n_kv_heads));
    const auto f32 = [&](const std::string& name, Shape shape) {
        return t.tensor(name, TensorType::F32, shape);
    };
    const int32_t normed = f32("normed", {embedding, m, 1, 1});
    const int32_t scaled = f32("scaled", {embedding, m, 1, 1});
    const int32_t q = f32("q", {head_dim * n_heads, m, 1, 1});
    const int32_t k = f32("k", {head_dim * n_kv_heads, m, 1, 1});
    const int32_t v = f32("v", {head_dim * n_kv_heads, m, 1, 1});
    // Views of q and k as [head_dim, heads, m]: the same bytes, another shape.
    Tensor q_heads = t.graph.tensors[static_cast<size_t>(q)];
    q_heads.shape = {head_dim, n_heads, m, 1};
    q_heads.name = "q_heads";
    t.graph.tensors.push_back(q_heads);
    t.bytes.push_back({});
    const auto q_view = static_cast<int32_t>(t.graph.tensors.size() - 1);
    Tensor k_heads = t.graph.tensors[static_cast<size_t>(k)];
    k_heads.shape = {head_dim, n_kv_heads, m, 1};
    k_heads.name = "k_heads";
    t.graph.tensors.push_back(k_heads);
    t.bytes.push_back({});
    const auto k_view = static_cast<int32_t>(t.graph.tensors.size() - 1);
    const int32_t attention = f32("kqv", {head_dim, n_heads, m, 1});
    Tensor attention_flat = t.graph.tensors[static_cast<size_t>(attention)];
    attention_flat.shape = {head_dim * n_heads, m, 1, 1};
    attention_flat.name = "kqv_flat";
    t.graph.tensors.push_back(attention_flat);
    t.bytes.push_back({});
    const auto attention_view = static_cast<int32_t>(t.graph.tensors.size() - 1);
    const int32_t projected = f32("attn_out", {embedding, m, 1, 1});
    const int32_t residual = f32("residual", {embedding, m, 1, 1});
    const int32_t gate = f32("gate", {ffn, m, 1, 1});
    const int32_t up = f32("up", {ffn, m, 1, 1});
    const int32_t act = f32("act", {ffn, m, 1, 1});
    const int32_t down = f32("down", {embedding, m, 1, 1});
    const int32_t logits = f32("logits", {vocab, m, 1, 1});
    const int32_t capped = f32("capped", {vocab, m, 1, 1});
    const int32_t probs = f32("probs", {vocab, m, 1, 1});
    const int32_t token = t.tensor("token", TensorType::I32, {m, 1, 1, 1});
    const int32_t top = t.tensor("top", TensorType::I32, {8, m, 1, 1});

    OpParams norm;
    norm.eps = 1e-5f;
    OpParams rope;
    rope.n_rot = 32;
    rope.rope_style = RopeStyle::NeoX;
    OpParams attn;
    attn.scale = 0.125f;
    attn.window = 50;
    OpParams cap;
    cap.softcap = 15.0f;
    OpParams top_k;
    top_k.k = 8;
    t.node(Op::RMS_NORM, {x, -1, -1, -1}, normed, norm);
    t.node(Op::MUL, {normed, norm_weight, -1, -1}, scaled);
    t.node(Op::MUL_MAT, {wq, scaled, -1, -1}, q);
    t.node(Op::MUL_MAT, {wk, scaled, -1, -1}, k);
    t.node(Op::MUL_MAT, {wv, scaled, -1, -1}, v);
    t.node(Op::ROPE, {q_view, pos, -1, -1}, q_view, rope);
    t.node(Op::ROPE, {k_view, pos, -1, -1}, k_view, rope);
    t.node(Op::KV_STORE, {k, -1, -1, -1}, cache_k);
    t.node(Op::KV_STORE, {v, -1, -1, -1}, cache_v);
    t.node(Op::FLASH_ATTN, {q_view, cache_k, cache_v, -1}, attention, attn);
    t.node(Op::MUL_MAT, {wo, attention_view, -1, -1}, projected);
    t.node(Op::ADD, {projected, x, -1, -1}, residual);
    t.node(Op::MUL_MAT, {w_gate, residual, -1, -1}, gate);
    t.node(Op::MUL_MAT, {w_up, residual, -1, -1}, up);
    t.node(Op::SWIGLU, {gate, up, -1, -1}, act);
    t.node(Op::MUL_MAT, {w_down, act, -1, -1}, down);
    t.node(Op::ADD, {down, residual, -1, -1}, down);
    t.node(Op::MUL_MAT, {w_out, down, -1, -1}, logits);
    t.node(Op::SOFTCAP, {logits, -1, -1, -1}, capped, cap);
    t.node(Op::SOFTMAX, {capped, -1, -1, -1}, probs);
    t.node(Op::ARGMAX, {probs, -1, -1, -1}, token);
    t.node(Op::TOP_K, {capped, -1, -1, -1}, top, top_k);
    return t;
}

// Views share their base tensor's buffer; this runner maps them so.
std::vector<std::vector<uint8_t>> run_layer(Device& device, const TestGraph& test,
                                            const StepValues& step, int n_threads) {
    TestGraph shared = test;
    std::vector<std::unique_ptr<Buffer>> buffers;
    std::vector<Buffer*> pointers;
    for (size_t i = 0; i < shared.graph.tensors.size(); ++i) {
        if (shared.bytes[i].empty()) continue;  // a view: keeps its base's buffer index
        buffers.push_back(device.allocate(shared.bytes[i].size(), MemoryKind::DeviceLocal));
        device.upload(*buffers.back(), 0, shared.bytes[i]);
    }
    // Buffer indices: the i-th tensor with contents owns buffer i-th in `buffers`.
    std::vector<uint32_t> buffer_of(shared.graph.tensors.size());
    uint32_t next = 0;
    for (size_t i = 0; i < shared.graph.tensors.size(); ++i) {
        if (!shared.bytes[i].empty()) buffer_of[i] = next++;
    }
    for (size_t i = 0; i < shared.graph.tensors.size(); ++i) {
        Tensor& t = shared.graph.tensors[i];
        t.buffer = shared.bytes[i].empty() ? buffer_of[t.buffer] : buffer_of[i];
    }
    for (const auto& buffer : buffers) pointers.push_back(buffer.get());
    const auto executable = device.compile(shared.graph, pointers);
    const auto queue = device.create_queue(QueueOptions{n_threads});
    queue->submit(*executable, step);
    queue->wait();
    std::vector<std::vector<uint8_t>> out;
    for (const auto& buffer : buffers) {
        std::vector<uint8_t> bytes(buffer->size());
        device.download(*buffer, 0, bytes);
        out.push_back(std::move(bytes));
    }
    return out;
}

TEST_P(Conformance, ThreadCountsGiveIdenticalBits) {
    for (const int64_t m : {int64_t{1}, int64_t{11}}) {
        Random random(15);
        const TestGraph layer = decoder_layer(random, m);
        const StepValues step{10, static_cast<int32_t>(10 + m)};
        const auto one = run_layer(*device_, layer, step, 1);
        for (const int n_threads : {2, 3}) {
            const auto many = run_layer(*device_, layer, step, n_threads);
            ASSERT_EQ(one.size(), many.size());
            for (size_t i = 0; i < one.size(); ++i) {
                EXPECT_TRUE(one[i] == many[i]) << "buffer " << i << " differs between 1 and "
                                               << n_threads << " threads (m=" << m << ")";
            }
        }
        // The layer's result is not trivially zero.
        const std::vector<float> logits = floats_of(one[one.size() - 5]);
        EXPECT_TRUE(std::any_of(logits.begin(), logits.end(), [](float v) { return v != 0.0f; }));
    }
}

// ---------------------------------------------------------------------------------------------
// Compile errors name the node, its op and its tensors.

TEST_P(Conformance, CompileErrorsNameTheNode) {
    Random random(16);
    TestGraph test;
    const int32_t x = test.f32("x", {64, 2, 1, 1}, random.floats(128));
    const int32_t normed = test.tensor("normed", TensorType::F32, {64, 2, 1, 1});
    const int32_t w = test.tensor("blk.3.attn_q", TensorType::Q8_0, {96, 32, 1, 1},
                                  quantized(TensorType::Q8_0, random.floats(96 * 32), 96));
    const int32_t q = test.tensor("q", TensorType::F32, {32, 2, 1, 1});
    OpParams norm;
    norm.eps = 1e-6f;
    test.node(Op::RMS_NORM, {x, -1, -1, -1}, normed, norm);
    test.node(Op::SCALE, {normed, -1, -1, -1}, normed);
    test.node(Op::MUL_MAT, {w, normed, -1, -1}, q);  // k: 96 against 64
    EXPECT_FALSE(device_->supports(test.graph, test.graph.nodes[2]));
    EXPECT_TRUE(device_->supports(test.graph, test.graph.nodes[0]));
    DeviceGraph on_device(*device_, test);
    try {
        (void)device_->compile(test.graph, on_device.pointers);
        FAIL() << "a MUL_MAT with mismatched rows compiled";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("node 2"), std::string::npos) << message;
        EXPECT_NE(message.find("MUL_MAT"), std::string::npos) << message;
        EXPECT_NE(message.find("blk.3.attn_q"), std::string::npos) << message;
        EXPECT_NE(message.find("normed"), std::string::npos) << message;
    }
}

TEST_P(Conformance, CompileChecksBufferRanges) {
    TestGraph test;
    const int32_t x = test.f32("x", {64, 1, 1, 1}, std::vector<float>(64, 1.0f));
    const int32_t y = test.tensor("y", TensorType::F32, {64, 1, 1, 1});
    test.node(Op::SILU, {x, -1, -1, -1}, y);
    DeviceGraph on_device(*device_, test);
    test.graph.tensors[static_cast<size_t>(y)].offset = 4;  // one float past the buffer's end
    try {
        (void)device_->compile(test.graph, on_device.pointers);
        FAIL() << "a tensor past its buffer compiled";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("node 0"), std::string::npos) << message;
        EXPECT_NE(message.find("'y'"), std::string::npos) << message;
    }
    test.graph.tensors[static_cast<size_t>(y)].offset = 0;
    test.graph.tensors[static_cast<size_t>(y)].buffer = 7;  // no such buffer
    EXPECT_THROW((void)device_->compile(test.graph, on_device.pointers), Error);
}

// ---------------------------------------------------------------------------------------------
// DRAFT_VERIFY: exact against the reference (integers out), on chains and trees, greedy and
// sampled, with and without draft distributions. Logits are random floats, so that ties and
// probabilities within rounding of a uniform are vanishingly rare.

struct VerifyCase {
    int64_t n_vocab = 0;
    std::vector<float> logits;       // [n_vocab, k+1]
    std::vector<int32_t> drafts;     // [k]
    std::vector<float> draft_probs;  // [n_vocab, k] or empty
    std::vector<int32_t> parents;    // [k] or empty
    VerifyParams params;
    int32_t k() const { return static_cast<int32_t>(drafts.size()); }

    TestGraph graph() const {
        TestGraph test;
        const int32_t logits_id = test.f32("target_logits", {n_vocab, k() + 1, 1, 1}, logits);
        const int32_t drafts_id = test.i32("drafts", {k(), 1, 1, 1}, drafts);
        const int32_t q_id =
            draft_probs.empty() ? -1 : test.f32("draft_probs", {n_vocab, k(), 1, 1}, draft_probs);
        const int32_t parents_id =
            parents.empty() ? -1 : test.i32("parents", {k(), 1, 1, 1}, parents);
        const int32_t out = test.tensor("verdict", TensorType::I32, {k() + 2, 1, 1, 1});
        OpParams op_params;
        op_params.verify = params;
        test.node(Op::DRAFT_VERIFY, {logits_id, drafts_id, q_id, parents_id}, out, op_params);
        return test;
    }
};

int32_t row_argmax(const std::vector<float>& logits, int64_t n_vocab, int64_t row) {
    const auto begin = logits.begin() + row * n_vocab;
    return static_cast<int32_t>(std::max_element(begin, begin + n_vocab) - begin);
}

// A probability distribution over n tokens, random and with full support.
std::vector<float> random_distribution(Random& random, int64_t n) {
    std::vector<float> q(static_cast<size_t>(n));
    double total = 0.0;
    for (float& v : q) {
        v = static_cast<float>(0.05 + random.uniform());
        total += v;
    }
    for (float& v : q) v = static_cast<float>(v / total);
    return q;
}

TEST_P(Conformance, DraftVerifyGreedyAcceptsTheArgmaxPrefix) {
    Random random(61);
    for (const int64_t n_vocab : {int64_t{7}, int64_t{300}, int64_t{70001}}) {
        for (const int32_t k : {1, 4}) {
            VerifyCase base;
            base.n_vocab = n_vocab;
            base.logits = random.floats(n_vocab * (k + 1), 4.0f);
            std::vector<int32_t> argmaxes;
            for (int32_t r = 0; r <= k; ++r)
                argmaxes.push_back(row_argmax(base.logits, n_vocab, r));
            // Every number of matching drafts, from none to all.
            for (int32_t matching = 0; matching <= k; ++matching) {
                VerifyCase c = base;
                for (int32_t j = 0; j < k; ++j) {
                    c.drafts.push_back(j < matching ? argmaxes[static_cast<size_t>(j)]
                                                    : (argmaxes[static_cast<size_t>(j)] + 1) %
                                                          static_cast<int32_t>(n_vocab));
                }
                const TestGraph test = c.graph();
                const std::vector<int32_t> got = ints_of(run_node(test));
                const std::string what = "greedy n_vocab=" + std::to_string(n_vocab) +
                                         " k=" + std::to_string(k) +
                                         " matching=" + std::to_string(matching);
                expect_exact(as_doubles(got), reference(test), what);
                std::vector<int32_t> want(static_cast<size_t>(k + 2), -1);
                want[0] = matching;
                want[1] = argmaxes[static_cast<size_t>(matching)];
                for (int32_t j = 0; j < matching; ++j) want[static_cast<size_t>(j + 2)] = j;
                EXPECT_EQ(got, want) << what;
            }
        }
    }
}

TEST_P(Conformance, DraftVerifyGreedyWalksATree) {
    // Root children 0, 1, 2; node 1's children 3, 4; node 4's child 5; node 6 names a parent
    // after itself and is never reachable.
    const int64_t n_vocab = 40;
    Random random(62);
    VerifyCase c;
    c.n_vocab = n_vocab;
    c.parents = {-1, -1, -1, 1, 1, 4, 7};
    c.logits = random.floats(n_vocab * 8, 4.0f);
    const auto argmax_after = [&](int32_t node) { return row_argmax(c.logits, n_vocab, node + 1); };
    const auto other = [&](int32_t token) { return (token + 1) % static_cast<int32_t>(n_vocab); };
    const int32_t root_best = argmax_after(-1);
    // Node 0 wrong, node 1 right (node 2 duplicates it but comes later), node 3 wrong, node 4
    // right, node 5 right: the path is 1, 4, 5 and the next token node 5's argmax.
    c.drafts = {other(root_best), root_best,       root_best,      other(argmax_after(1)),
                argmax_after(1),  argmax_after(4), argmax_after(6)};
    const TestGraph test = c.graph();
    const std::vector<int32_t> got = ints_of(run_node(test));
    expect_exact(as_doubles(got), reference(test), "greedy tree");
    EXPECT_EQ(got, (std::vector<int32_t>{3, argmax_after(5), 1, 4, 5, -1, -1, -1, -1}));
}

TEST_P(Conformance, DraftVerifySamplingMatchesTheReference) {
    Random random(63);
    struct Config {
        int64_t n_vocab;
        int32_t top_k;
        float top_p, min_p, temperature;
        bool with_q, tree;
        Acceptance acceptance;
    };
    const Config configs[] = {
        {16, 0, 1.0f, 0.0f, 1.0f, false, false, Acceptance::Exact},
        {16, 0, 1.0f, 0.0f, 0.7f, true, false, Acceptance::Exact},
        {300, 40, 0.95f, 0.05f, 0.8f, false, false, Acceptance::Exact},
        {300, 40, 0.9f, 0.02f, 1.3f, true, true, Acceptance::Exact},
        {70001, 40, 0.95f, 0.05f, 0.8f, true, false, Acceptance::Exact},
        {70001, 40, 0.95f, 0.05f, 0.8f, false, false, Acceptance::Exact},
        {50, 8, 1.0f, 0.0f, 1.0f, false, true, Acceptance::Exact},
        {300, 40, 0.95f, 0.05f, 0.8f, false, true, Acceptance::Typical},
        {300, 0, 0.9f, 0.0f, 0.9f, false, false, Acceptance::Exact},
    };
    for (const Config& config : configs) {
        VerifyCase c;
        c.n_vocab = config.n_vocab;
        const int32_t k = 5;
        c.logits = random.floats(config.n_vocab * (k + 1), 3.0f);
        c.params.temperature = config.temperature;
        c.params.top_k = config.top_k;
        c.params.top_p = config.top_p;
        c.params.min_p = config.min_p;
        c.params.acceptance = config.acceptance;
        if (config.tree) c.parents = {-1, -1, 0, 0, 2};
        for (int32_t j = 0; j < k; ++j) {
            // Drafts mostly among the likely tokens of their row, so that both outcomes occur.
            const int32_t parent = config.tree ? c.parents[static_cast<size_t>(j)] : j - 1;
            const int32_t best = row_argmax(c.logits, config.n_vocab, parent + 1);
            c.drafts.push_back(random.integer(0, 2) == 0
                                   ? static_cast<int32_t>(random.integer(0, config.n_vocab - 1))
                                   : best);
            if (config.with_q) {
                const std::vector<float> q = random_distribution(random, config.n_vocab);
                c.draft_probs.insert(c.draft_probs.end(), q.begin(), q.end());
            }
        }
        const TestGraph test = c.graph();
        if (!device_->supports(test.graph, test.graph.nodes[0])) {
            EXPECT_FALSE(is_cpu()) << "the CPU runs every DRAFT_VERIFY";
            // Vulkan's documented limit: at most 256 candidates kept per sampled row.
            const int64_t kept =
                config.top_k > 0 ? std::min<int64_t>(config.top_k, config.n_vocab) : config.n_vocab;
            EXPECT_GT(kept, 256) << "refused with top_k " << config.top_k;
            std::printf(
                "[ note ] %s does not run this DRAFT_VERIFY (top_k %d, %s), as documented\n",
                GetParam().info.backend.c_str(), config.top_k,
                config.with_q ? "draft distributions" : "deterministic drafts");
            continue;
        }
        DeviceGraph on_device(*device_, test);
        const auto executable = device_->compile(test.graph, on_device.pointers);
        const auto queue = device_->create_queue(QueueOptions{2});
        std::array<int, 3> outcomes = {0, 0, 0};  // none, some, all accepted
        // Fewer runs on the large vocabulary: each scans it once per candidate kept.
        const uint64_t n_seeds = config.n_vocab > 1000 ? 8 : 40;
        for (uint64_t seed = 1; seed <= n_seeds; ++seed) {
            StepValues step;
            step.seed = seed * 0x5851f42d4c957f2dull;
            queue->submit(*executable, step);
            queue->wait();
            const std::vector<int32_t> got =
                ints_of(on_device.read(*device_, test.graph.nodes[0].dst));
            expect_exact(as_doubles(got), reference(test, step),
                         "sampled n_vocab=" + std::to_string(config.n_vocab) + " top_k=" +
                             std::to_string(config.top_k) + " seed=" + std::to_string(seed));
            ++outcomes[got[0] == 0 ? 0 : (got[0] == k || config.tree) ? 2 : 1];
        }
        EXPECT_GT(outcomes[0] + outcomes[1] + outcomes[2], 0);
    }
}

TEST_P(Conformance, DraftVerifyEdgeCases) {
    Random random(64);
    const int64_t n_vocab = 64;
    VerifyCase c;
    c.n_vocab = n_vocab;
    c.logits = random.floats(n_vocab * 4, 3.0f);
    c.params.temperature = 1.0f;
    c.params.top_k = 10;
    // q equal to p: every draft is accepted whatever the uniform (u * p < p for u < 1).
    for (int32_t j = 0; j < 3; ++j) {
        const std::vector<float> row(c.logits.begin() + j * n_vocab,
                                     c.logits.begin() + (j + 1) * n_vocab);
        const std::vector<double> p = test::verify_distribution(row, c.params);
        const auto best = static_cast<int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
        c.drafts.push_back(best);
        for (double v : p) c.draft_probs.push_back(static_cast<float>(v));
    }
    const TestGraph with_q = c.graph();
    ASSERT_TRUE(device_->supports(with_q.graph, with_q.graph.nodes[0]));
    for (uint64_t seed = 0; seed < 10; ++seed) {
        StepValues step;
        step.seed = seed;
        const std::vector<int32_t> got = ints_of(run_node(c.graph(), step));
        EXPECT_EQ(got[0], 3) << "q = p accepts everything, seed " << seed;
        EXPECT_EQ((std::vector<int32_t>(got.begin() + 2, got.end())),
                  (std::vector<int32_t>{0, 1, 2}));
        expect_exact(as_doubles(got), reference(c.graph(), step), "q = p");
    }
    // A draft outside the top-k set (probability 0) or outside the vocabulary is never accepted,
    // and the next token then lies in the top-k set.
    for (const int32_t bad : {-1, static_cast<int32_t>(n_vocab), -7}) {
        VerifyCase d = c;
        d.draft_probs.clear();
        const std::vector<float> row(d.logits.begin(), d.logits.begin() + n_vocab);
        const std::vector<double> p = test::verify_distribution(row, d.params);
        int32_t outside = 0;
        while (p[static_cast<size_t>(outside)] > 0.0) ++outside;
        d.drafts[0] = bad == -7 ? outside : bad;
        for (uint64_t seed = 0; seed < 10; ++seed) {
            StepValues step;
            step.seed = seed;
            const std::vector<int32_t> got = ints_of(run_node(d.graph(), step));
            EXPECT_EQ(got[0], 0) << "draft " << d.drafts[0];
            ASSERT_GE(got[1], 0);
            EXPECT_GT(p[static_cast<size_t>(got[1])], 0.0);
            expect_exact(as_doubles(got), reference(d.graph(), step), "bad draft");
        }
    }
}

TEST_P(Conformance, DraftVerifyRejectsShapesThatDoNotFit) {
    TestGraph test;
    const int32_t logits = test.f32("target_logits", {8, 3, 1, 1}, std::vector<float>(24, 0.0f));
    const int32_t drafts = test.i32("drafts", {3, 1, 1, 1}, {0, 1, 2});  // k+1 = 4 != 3 rows
    const int32_t out = test.tensor("verdict", TensorType::I32, {5, 1, 1, 1});
    test.node(Op::DRAFT_VERIFY, {logits, drafts, -1, -1}, out);
    EXPECT_FALSE(device_->supports(test.graph, test.graph.nodes[0]));
    DeviceGraph on_device(*device_, test);
    try {
        (void)device_->compile(test.graph, on_device.pointers);
        FAIL() << "compiled";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("k+1 = 4 rows"), std::string::npos)
            << error.what();
    }
}

// MTP_HEAD, NextN: each half is RMS_NORM's computation (its bound) and one more product.
TEST_P(Conformance, MtpHeadNextNMatchesTheReference) {
    Random random(31);
    for (const int64_t n_embd : {int64_t{1}, int64_t{64}, int64_t{4096}, int64_t{1000}}) {
        for (const int64_t m : {int64_t{1}, int64_t{5}}) {
            TestGraph test;
            const int32_t e = test.f32("embd", {n_embd, m, 1, 1}, random.floats(n_embd * m, 3.0f));
            const int32_t h =
                test.f32("hidden", {n_embd, m, 1, 1}, random.floats(n_embd * m, 40.0f));
            const int32_t enorm = test.f32("enorm", {n_embd, 1, 1, 1}, random.floats(n_embd, 2.0f));
            const int32_t hnorm = test.f32("hnorm", {n_embd, 1, 1, 1}, random.floats(n_embd, 2.0f));
            const int32_t out = test.tensor("eh", TensorType::F32, {2 * n_embd, m, 1, 1});
            OpParams params;
            params.eps = 1e-5f;
            params.mtp_style = MtpStyle::NextN;
            test.node(Op::MTP_HEAD, {e, h, enorm, hnorm}, out, params);
            const std::vector<double> want = reference(test);
            const std::vector<float> got = floats_of(run_node(test));
            const double relative =
                (9 + 2 * std::log2(static_cast<double>(n_embd))) * kFloatEpsilon;
            expect_close(
                got, want, [&](size_t i) { return relative * std::abs(want[i]); },
                "MTP_HEAD NextN n_embd=" + std::to_string(n_embd) + " m=" + std::to_string(m));
        }
    }
}

// MTP_HEAD, Medusa: SILU's bound on z + b (rounded once) and one more addition.
TEST_P(Conformance, MtpHeadMedusaMatchesTheReference) {
    Random random(32);
    for (const bool with_bias : {true, false}) {
        for (const int64_t n_embd : {int64_t{1}, int64_t{96}, int64_t{4099}}) {
            const int64_t m = 3;
            const std::vector<float> hidden = random.floats(n_embd * m, 6.0f);
            const std::vector<float> projected = random.floats(n_embd * m, 12.0f);
            const std::vector<float> bias = random.floats(n_embd, 4.0f);
            TestGraph test;
            const int32_t h = test.f32("hidden", {n_embd, m, 1, 1}, hidden);
            const int32_t z = test.f32("projected", {n_embd, m, 1, 1}, projected);
            const int32_t b = with_bias ? test.f32("bias", {n_embd, 1, 1, 1}, bias) : -1;
            const int32_t out = test.tensor("head", TensorType::F32, {n_embd, m, 1, 1});
            OpParams params;
            params.mtp_style = MtpStyle::Medusa;
            test.node(Op::MTP_HEAD, {h, z, b, -1}, out, params);
            const std::vector<double> want = reference(test);
            const std::vector<float> got = floats_of(run_node(test));
            expect_close(
                got, want,
                [&](size_t i) {
                    const double b_i =
                        with_bias ? std::abs(bias[i % static_cast<size_t>(n_embd)]) : 0.0;
                    return 20 * kFloatEpsilon *
                           (std::abs(want[i]) + std::abs(hidden[i]) + std::abs(projected[i]) + b_i);
                },
                std::string("MTP_HEAD Medusa n_embd=") + std::to_string(n_embd) +
                    (with_bias ? " with bias" : " without bias"));
        }
    }
}

// Ill-formed MTP_HEAD nodes are refused at compile time with what is wrong.
TEST_P(Conformance, MtpHeadRefusesMismatchedOperands) {
    TestGraph test;
    const int32_t e = test.f32("embd", {64, 2, 1, 1}, std::vector<float>(128, 1.0f));
    const int32_t h = test.f32("hidden", {64, 2, 1, 1}, std::vector<float>(128, 1.0f));
    const int32_t enorm = test.f32("enorm", {64, 1, 1, 1}, std::vector<float>(64, 1.0f));
    const int32_t short_norm = test.f32("hnorm", {32, 1, 1, 1}, std::vector<float>(32, 1.0f));
    const int32_t narrow = test.tensor("eh", TensorType::F32, {64, 2, 1, 1});
    const int32_t wide = test.tensor("eh_wide", TensorType::F32, {128, 2, 1, 1});
    OpParams next_n;
    next_n.mtp_style = MtpStyle::NextN;
    OpParams medusa;
    medusa.mtp_style = MtpStyle::Medusa;
    struct BadCase {
        Node node;
        std::string expected;
    };
    const std::vector<BadCase> cases = {
        {{Op::MTP_HEAD, {e, h, enorm, short_norm}, wide, next_n}, "hnorm"},
        {{Op::MTP_HEAD, {e, h, enorm, enorm}, narrow, next_n}, "both halves"},
        {{Op::MTP_HEAD, {e, h, enorm, -1}, wide, next_n}, "src3 is missing"},
        {{Op::MTP_HEAD, {h, e, short_norm, -1}, narrow, medusa}, "bias"},
        {{Op::MTP_HEAD, {h, e, -1, -1}, wide, medusa}, "same shape"},
    };
    for (const BadCase& bad : cases) {
        TestGraph one = test;
        one.graph.nodes = {bad.node};
        EXPECT_FALSE(device_->supports(one.graph, one.graph.nodes[0])) << bad.expected;
        DeviceGraph on_device(*device_, one);
        try {
            (void)device_->compile(one.graph, on_device.pointers);
            ADD_FAILURE() << "compiled a node that should fail with '" << bad.expected << "'";
        } catch (const Error& error) {
            const std::string message = error.what();
            EXPECT_NE(message.find(bad.expected), std::string::npos) << message;
            EXPECT_NE(message.find("MTP_HEAD"), std::string::npos) << message;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Devices, Conformance, testing::ValuesIn(devices_under_test()),
                         device_test_name);

// ---------------------------------------------------------------------------------------------
// CPU only: the scalar kernels against the SIMD ones, through whole ops. They sum the same exact
// integer block products and differ only in the order of the float additions, so each output is
// within twice the MUL_MAT bound of the other (both are within the bound of the reference).

TEST(CpuBackend, ScalarKernelsAgreeWithSimdKernels) {
    const cpu::CpuFeatures detected = cpu::detect_cpu_features();
    if (detected.describe() == "scalar") {
        std::printf(
            "[ SKIPPED ] this CPU (or TESSERA_CPU_SCALAR) runs the scalar kernels only: "
            "nothing to compare\n");
        GTEST_SKIP() << "no SIMD kernels on this CPU";
    }
    const auto simd = cpu::open_device_with_features(detected);
    const auto scalar = cpu::open_device_with_features(cpu::scalar_cpu_features());
    Random random(17);
    for (const TensorType type : codec_types()) {
        const int64_t block = quant::type_info(type).block_size;
        const int64_t k = block == 1 ? 203 : block == 32 ? 32 * 9 : 256 * 3;
        for (const int64_t m : {int64_t{1}, int64_t{33}}) {
            MulMatCase c = mul_mat_case(random, type, k, 45, m);
            const int32_t out = c.test.graph.nodes[0].dst;
            const std::vector<float> a =
                floats_of(run_graph(*simd, c.test, {})[static_cast<size_t>(out)]);
            const std::vector<float> b =
                floats_of(run_graph(*scalar, c.test, {})[static_cast<size_t>(out)]);
            std::vector<double> b_double(b.begin(), b.end());
            expect_close(
                a, b_double, [&](size_t i) { return 2 * mul_mat_bound(c, i); },
                "scalar vs " + detected.describe() + " MUL_MAT " + type_name(type) +
                    " m=" + std::to_string(m));
        }
    }
}

// The thread pool: every task runs exactly once on a thread in range, for any thread count and
// task count (including fewer tasks than threads), and an exception thrown by a task comes out
// of parallel_for after the other tasks ran, leaving the pool usable.
TEST(CpuBackend, ThreadPoolRunsEveryTaskOnce) {
    for (const int n_threads : {1, 2, 3, 5}) {
        cpu::ThreadPool pool(n_threads);
        EXPECT_EQ(pool.n_threads(), n_threads);
        for (const int64_t n_tasks :
             {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}}) {
            for (int repeat = 0; repeat < 20; ++repeat) {
                std::vector<std::atomic<int>> runs(static_cast<size_t>(n_tasks));
                std::atomic<bool> thread_in_range{true};
                pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
                    runs[static_cast<size_t>(task)].fetch_add(1);
                    if (thread < 0 || thread >= n_threads) thread_in_range = false;
                });
                for (const auto& count : runs) ASSERT_EQ(count.load(), 1);
                EXPECT_TRUE(thread_in_range.load());
            }
        }
        std::atomic<int> ran{0};
        EXPECT_THROW(pool.parallel_for(50,
                                       [&](int64_t task, int) {
                                           ran.fetch_add(1);
                                           if (task == 17) throw Error("task 17 failed");
                                       }),
                     Error);
        EXPECT_EQ(ran.load(), 50);
        int64_t sum = 0;
        std::mutex sum_mutex;
        pool.parallel_for(100, [&](int64_t task, int) {
            const std::lock_guard lock(sum_mutex);
            sum += task;
        });
        EXPECT_EQ(sum, 4950);
    }
    EXPECT_EQ(cpu::ThreadPool(0).n_threads(),
              static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

// The portable kernels (dot products and attention loops) on their own against the reference:
// a CPU with SIMD never runs them in the tests above.
TEST(CpuBackend, ScalarKernelsMatchTheReference) {
    const auto scalar = cpu::open_device_with_features(cpu::scalar_cpu_features());
    check_mul_mat_every_type(*scalar);
    check_flash_attention_grid(*scalar);
}

// The attention kernel's branch-free F16 decoding equals the reference conversion for all 65536
// halves (NaN payloads included).
TEST(CpuBackend, BranchFreeHalfConversionIsExact) {
    for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
        const auto half = static_cast<uint16_t>(bits);
        const float want = quant::fp16_to_fp32(half);
        const float got = cpu::fp16_to_fp32_branchless(half);
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << std::hex << bits;
    }
}

}  // namespace
}  // namespace tessera::backend

// Single-threaded throughput of the MUL_MAT dot kernels, for each weight type and each variant
// this CPU runs: GB/s of weight bytes for a matrix-vector product (decode) at 640x2048 and
// 2048x2048, to compare with the memory bandwidth, and for a 64-column matrix-matrix product
// (prompt processing) through dot_tile and through one dot_rows call per column. Not a test:
// built as its own executable and run by hand.
//
//   dot_bench [type ...]     (default: every type with a kernel)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/quant_dot.h"
#include "formats/quant/codec.h"
#include "formats/quant/tensor_type.h"

namespace {

using tessera::backend::cpu::CpuFeatures;
using tessera::backend::cpu::DotIsa;
using tessera::backend::cpu::DotKernel;
using tessera::quant::TensorType;

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

std::vector<float> random_floats(std::mt19937& engine, int64_t n) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = normal(engine);
    return x;
}

// This thread's CPU time: on a machine shared with other work, time spent descheduled does not
// count against the kernel.
double thread_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Runs `body` until at least `min_seconds` of CPU time have passed, in rounds, and returns the
// CPU seconds per run of the fastest round (the one least disturbed by other processes).
template <typename Body>
double seconds_per_run(Body body, double min_seconds = 0.3) {
    body();  // warm the caches
    double best = 1e30;
    double total = 0.0;
    while (total < min_seconds) {
        int64_t runs = 0;
        const double start = thread_seconds();
        double elapsed = 0.0;
        do {
            body();
            ++runs;
            elapsed = thread_seconds() - start;
        } while (elapsed < min_seconds / 8);
        best = std::min(best, elapsed / static_cast<double>(runs));
        total += elapsed;
    }
    return best;
}

struct Matrix {
    int64_t rows, n;
    std::vector<uint8_t> weights;
    uint64_t row_bytes;
};

Matrix make_matrix(std::mt19937& engine, TensorType type, int64_t rows, int64_t n) {
    Matrix m{rows,
             n,
             {},
             tessera::quant::row_bytes(tessera::quant::type_info(type), static_cast<uint64_t>(n))};
    m.weights.resize(static_cast<size_t>(m.row_bytes * static_cast<uint64_t>(rows)));
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<float> x = random_floats(engine, n);
        tessera::quant::quantize_row(type, x.data(),
                                     m.weights.data() + static_cast<uint64_t>(r) * m.row_bytes, n);
    }
    return m;
}

// Bytes per second one thread reads from a buffer of `bytes` (summing it as 64-bit words): the
// ceiling a matrix-vector product of that size approaches.
double read_bandwidth(size_t bytes) {
    std::vector<uint64_t> buffer(bytes / sizeof(uint64_t), 1);
    uint64_t total = 0;
    const double s = seconds_per_run([&] {
        uint64_t sum[4] = {};
        for (size_t i = 0; i + 4 <= buffer.size(); i += 4) {
            for (int k = 0; k < 4; ++k) sum[k] += buffer[i + static_cast<size_t>(k)];
        }
        total += sum[0] + sum[1] + sum[2] + sum[3];
    });
    if (total == 0) std::printf("(unreachable)\n");
    return static_cast<double>(bytes) / s * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    const CpuFeatures features = tessera::backend::cpu::detect_cpu_features();
    std::printf("cpu: %s\n", features.describe().c_str());
    std::vector<TensorType> types;
    for (int i = 1; i < argc; ++i) {
        const auto type = tessera::quant::type_from_name(argv[i]);
        if (!type) {
            std::fprintf(stderr, "unknown type %s\n", argv[i]);
            return 2;
        }
        types.push_back(*type);
    }
    if (types.empty()) {
        types = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                 TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                 TensorType::Q5_K, TensorType::Q6_K, TensorType::F16,  TensorType::BF16,
                 TensorType::F32};
    }
    std::printf(
        "read bandwidth, one thread: %.1f GB/s from a 1 MB buffer (L2), %.1f GB/s from 512 MB\n",
        read_bandwidth(size_t{1} << 20), read_bandwidth(size_t{512} << 20));
    std::mt19937 engine(1);
    constexpr int64_t kColumns = 64;
    std::printf("%-6s %-7s %14s %14s %16s %16s\n", "type", "kernel", "640x2048 GB/s",
                "2048x2048 GB/s", "tile x64 GB/s", "rows x64 GB/s");
    for (const TensorType type : types) {
        const std::string name(tessera::quant::type_info(type).name);
        const Matrix small = make_matrix(engine, type, 640, 2048);
        const Matrix large = make_matrix(engine, type, 2048, 2048);
        for (const DotIsa isa : {DotIsa::Scalar, DotIsa::Avx2, DotIsa::Avx512}) {
            if (!tessera::backend::cpu::cpu_runs(features, isa)) continue;
            const DotKernel* kernel = tessera::backend::cpu::dot_kernel_for_isa(type, isa);
            if (kernel == nullptr) continue;
            const uint64_t act_bytes =
                tessera::quant::row_bytes(tessera::quant::type_info(kernel->activation_type), 2048);
            std::vector<uint8_t> activations(static_cast<size_t>(act_bytes * kColumns));
            for (int64_t c = 0; c < kColumns; ++c) {
                const std::vector<float> x = random_floats(engine, 2048);
                kernel->convert_activations(
                    x.data(), activations.data() + static_cast<uint64_t>(c) * act_bytes, 2048);
            }
            std::vector<float> out(static_cast<size_t>(2048 * kColumns));
            double gbps[4];
            const Matrix* matrices[2] = {&small, &large};
            for (int k = 0; k < 2; ++k) {
                const Matrix& m = *matrices[k];
                const double s = seconds_per_run([&] {
                    kernel->dot_rows(m.n, m.weights.data(), m.row_bytes, m.rows, activations.data(),
                                     out.data());
                });
                gbps[k] = static_cast<double>(m.weights.size()) / s * 1e-9;
            }
            // Prompt processing on the small matrix: its weights stay in L2 across columns.
            const double tile_s = seconds_per_run([&] {
                kernel->dot_tile(small.n, small.weights.data(), small.row_bytes, small.rows,
                                 activations.data(), act_bytes, kColumns, out.data(), small.rows);
            });
            const double rows_s = seconds_per_run([&] {
                for (int64_t c = 0; c < kColumns; ++c) {
                    kernel->dot_rows(small.n, small.weights.data(), small.row_bytes, small.rows,
                                     activations.data() + static_cast<uint64_t>(c) * act_bytes,
                                     out.data() + c * small.rows);
                }
            });
            gbps[2] = static_cast<double>(small.weights.size() * kColumns) / tile_s * 1e-9;
            gbps[3] = static_cast<double>(small.weights.size() * kColumns) / rows_s * 1e-9;
            std::printf("%-6s %-7s %14.2f %14.2f %16.2f %16.2f\n", name.c_str(), isa_name(isa),
                        gbps[0], gbps[1], gbps[2], gbps[3]);
            std::fflush(stdout);
        }
    }
    return 0;
}

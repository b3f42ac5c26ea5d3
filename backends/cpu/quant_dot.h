// Row dot products for MUL_MAT on the CPU: one row of weights (in their stored type) with one
// row of activations converted to the weight type's partner type, the scheme ggml uses, so that
// results are in ggml's numerical family (the integer dot of the quants times the block scales):
//   Q4_0, Q5_0, Q8_0          with Q8_0 activations (32-element blocks)
//   Q4_1, Q5_1                with Q8_1 activations (Q8_0 plus d * sum of the quants, which
//                             carries the weights' minimum; ggml's vec_dot_type for them)
//   Q2_K ... Q6_K, Q8_K       with Q8_K activations (256-element super-blocks)
//   F16                       with F16 activations (ggml's vec_dot_type; products in F32)
//   BF16                      with BF16 activations (likewise)
//   F32                       with F32 activations
// Activations are quantized on the fly, once per column, so that the inner loop is an integer
// dot product. The activation conversion is bit-exact with formats/quant's quantize_row (for
// Q8_1 with quant::quantize_row_q8_1) for finite inputs.
//
// Each kernel exists for several instruction sets: the portable scalar code, always built and
// tested, and AVX2 (with FMA and F16C) and AVX-512 (F/BW/VL/DQ with VNNI) versions of the hot
// types. dot_kernel() picks the best one the CPU runs; dot_kernel_for_isa() names one, for tests
// and benchmarks. SIMD kernels sum the same exact integer block dots as the scalar ones but add
// the scaled block results in a different order, so they agree with the scalar kernels to float
// rounding, not bit for bit.
#pragma once

#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "formats/quant/tensor_type.h"

namespace tessera::backend::cpu {

struct DotKernel {
    // The type activations are converted to before the dot products.
    quant::TensorType activation_type;
    // Converts n activations (a multiple of the activation type's block size) to that type.
    void (*convert_activations)(const float* x, void* y, int64_t n);
    // out[r] = dot(weight row r, activations) for r < n_rows, each weight row `weight_row_bytes`
    // after the previous; n elements per row. Several rows per call let a kernel reuse the
    // activations from registers.
    void (*dot_rows)(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                     const void* activations, float* out);
    // The block form for prompt processing: out[c * out_column_stride + r] = dot(weight row r,
    // activation column c) for r < n_rows and c < n_columns, activation column c being
    // `activation_row_bytes` after the previous. Kernels that decode a weight block once for
    // several columns do so here; the results equal n_columns calls of dot_rows bit for bit.
    void (*dot_tile)(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                     const void* activations, uint64_t activation_row_bytes, int64_t n_columns,
                     float* out, int64_t out_column_stride);
};

// The kernel for weights of `weight_type` on a CPU with `features`, or nullptr for a type
// MUL_MAT does not support (one without a codec).
const DotKernel* dot_kernel(quant::TensorType weight_type, const CpuFeatures& features);

// The instruction sets kernels are written for. Avx512 means F/BW/VL/DQ and VNNI: a CPU with
// AVX-512 but no VNNI (Skylake-SP) runs the AVX2 kernels.
enum class DotIsa : uint8_t { Scalar, Avx2, Avx512 };

// Whether a CPU with `features` runs kernels written for `isa` (Scalar: always).
bool cpu_runs(const CpuFeatures& features, DotIsa isa);

// The kernel written for `isa` itself, or nullptr when that instruction set has no kernel of its
// own for the type (dot_kernel then falls back to the next one down). The caller checks that the
// CPU runs `isa`.
const DotKernel* dot_kernel_for_isa(quant::TensorType weight_type, DotIsa isa);

}  // namespace tessera::backend::cpu

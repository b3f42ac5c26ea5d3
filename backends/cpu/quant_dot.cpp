#include "backends/cpu/quant_dot.h"

#include "backends/cpu/dot/avx2_kernels.h"
#include "backends/cpu/dot/avx512_kernels.h"
#include "backends/cpu/dot/scalar_kernels.h"

// The kernel tables, one per instruction set. Each entry is a constant: a kernel is a choice
// made from the CPU's features, never state.

namespace tessera::backend::cpu {

namespace {

using quant::TensorType;
using DotRowsFn = void (*)(int64_t, const void*, uint64_t, int64_t, const void*, float*);

// The tile form for kernels without one of their own: one dot_rows call per column, which makes
// dot_tile equal to dot_rows by construction.
template <DotRowsFn dot_rows>
void dot_tile_by_columns(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                         const void* activations, uint64_t activation_row_bytes, int64_t n_columns,
                         float* out, int64_t out_column_stride) {
    for (int64_t c = 0; c < n_columns; ++c) {
        dot_rows(n, weights, weight_row_bytes, n_rows,
                 static_cast<const uint8_t*>(activations) + c * activation_row_bytes,
                 out + c * out_column_stride);
    }
}

template <DotRowsFn dot_rows>
constexpr DotKernel columns_kernel(TensorType activation_type,
                                   void (*convert)(const float*, void*, int64_t)) {
    return {activation_type, convert, dot_rows, dot_tile_by_columns<dot_rows>};
}

namespace s = scalar;

constexpr DotKernel kScalarQ4_0 =
    columns_kernel<s::dot_rows_q4_0>(TensorType::Q8_0, s::convert_q8_0);
constexpr DotKernel kScalarQ4_1 =
    columns_kernel<s::dot_rows_q4_1>(TensorType::Q8_1, s::convert_q8_1);
constexpr DotKernel kScalarQ5_0 =
    columns_kernel<s::dot_rows_q5_0>(TensorType::Q8_0, s::convert_q8_0);
constexpr DotKernel kScalarQ5_1 =
    columns_kernel<s::dot_rows_q5_1>(TensorType::Q8_1, s::convert_q8_1);
constexpr DotKernel kScalarQ8_0 =
    columns_kernel<s::dot_rows_q8_0>(TensorType::Q8_0, s::convert_q8_0);
constexpr DotKernel kScalarQ2_K =
    columns_kernel<s::dot_rows_q2_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarQ3_K =
    columns_kernel<s::dot_rows_q3_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarQ4_K =
    columns_kernel<s::dot_rows_q4_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarQ5_K =
    columns_kernel<s::dot_rows_q5_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarQ6_K =
    columns_kernel<s::dot_rows_q6_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarQ8_K =
    columns_kernel<s::dot_rows_q8_k>(TensorType::Q8_K, s::convert_q8_k);
constexpr DotKernel kScalarF16 = columns_kernel<s::dot_rows_f16>(TensorType::F16, s::convert_f16);
constexpr DotKernel kScalarBF16 =
    columns_kernel<s::dot_rows_bf16>(TensorType::BF16, s::convert_bf16);
constexpr DotKernel kScalarF32 = columns_kernel<s::dot_rows_f32>(TensorType::F32, s::convert_f32);

const DotKernel* scalar_kernel(TensorType type) {
    switch (type) {
        case TensorType::Q4_0:
            return &kScalarQ4_0;
        case TensorType::Q4_1:
            return &kScalarQ4_1;
        case TensorType::Q5_0:
            return &kScalarQ5_0;
        case TensorType::Q5_1:
            return &kScalarQ5_1;
        case TensorType::Q8_0:
            return &kScalarQ8_0;
        case TensorType::Q2_K:
            return &kScalarQ2_K;
        case TensorType::Q3_K:
            return &kScalarQ3_K;
        case TensorType::Q4_K:
            return &kScalarQ4_K;
        case TensorType::Q5_K:
            return &kScalarQ5_K;
        case TensorType::Q6_K:
            return &kScalarQ6_K;
        case TensorType::Q8_K:
            return &kScalarQ8_K;
        case TensorType::F16:
            return &kScalarF16;
        case TensorType::BF16:
            return &kScalarBF16;
        case TensorType::F32:
            return &kScalarF32;
        default:
            return nullptr;
    }
}

// The SIMD kernels: the AVX2 and AVX-512 dot products with their own activation conversions.
// F32 activations need no conversion beyond a copy, so the scalar one serves everywhere; Q4_1
// and Q5_1 (and Q8_K weights) are rare enough in real models to stay scalar.
#define TESSERA_SIMD_KERNEL(isa, name, activation, convert)                                        \
    constexpr DotKernel k_##isa##_##name = {TensorType::activation, convert, isa::dot_rows_##name, \
                                            isa::dot_tile_##name};

TESSERA_SIMD_KERNEL(avx2, q4_0, Q8_0, avx2::convert_q8_0)
TESSERA_SIMD_KERNEL(avx2, q5_0, Q8_0, avx2::convert_q8_0)
TESSERA_SIMD_KERNEL(avx2, q8_0, Q8_0, avx2::convert_q8_0)
TESSERA_SIMD_KERNEL(avx2, q2_k, Q8_K, avx2::convert_q8_k)
TESSERA_SIMD_KERNEL(avx2, q3_k, Q8_K, avx2::convert_q8_k)
TESSERA_SIMD_KERNEL(avx2, q4_k, Q8_K, avx2::convert_q8_k)
TESSERA_SIMD_KERNEL(avx2, q5_k, Q8_K, avx2::convert_q8_k)
TESSERA_SIMD_KERNEL(avx2, q6_k, Q8_K, avx2::convert_q8_k)
TESSERA_SIMD_KERNEL(avx2, f16, F16, avx2::convert_f16)
TESSERA_SIMD_KERNEL(avx2, f32, F32, scalar::convert_f32)

TESSERA_SIMD_KERNEL(avx512, q4_0, Q8_0, avx512::convert_q8_0)
TESSERA_SIMD_KERNEL(avx512, q5_0, Q8_0, avx512::convert_q8_0)
TESSERA_SIMD_KERNEL(avx512, q8_0, Q8_0, avx512::convert_q8_0)
TESSERA_SIMD_KERNEL(avx512, q2_k, Q8_K, avx512::convert_q8_k)
TESSERA_SIMD_KERNEL(avx512, q3_k, Q8_K, avx512::convert_q8_k)
TESSERA_SIMD_KERNEL(avx512, q4_k, Q8_K, avx512::convert_q8_k)
TESSERA_SIMD_KERNEL(avx512, q5_k, Q8_K, avx512::convert_q8_k)
TESSERA_SIMD_KERNEL(avx512, q6_k, Q8_K, avx512::convert_q8_k)
TESSERA_SIMD_KERNEL(avx512, f16, F16, avx512::convert_f16)
TESSERA_SIMD_KERNEL(avx512, bf16, BF16, avx512::convert_bf16)
TESSERA_SIMD_KERNEL(avx512, f32, F32, scalar::convert_f32)

#undef TESSERA_SIMD_KERNEL

const DotKernel* avx2_kernel(TensorType type) {
    switch (type) {
        case TensorType::Q4_0:
            return &k_avx2_q4_0;
        case TensorType::Q5_0:
            return &k_avx2_q5_0;
        case TensorType::Q8_0:
            return &k_avx2_q8_0;
        case TensorType::Q2_K:
            return &k_avx2_q2_k;
        case TensorType::Q3_K:
            return &k_avx2_q3_k;
        case TensorType::Q4_K:
            return &k_avx2_q4_k;
        case TensorType::Q5_K:
            return &k_avx2_q5_k;
        case TensorType::Q6_K:
            return &k_avx2_q6_k;
        case TensorType::F16:
            return &k_avx2_f16;
        case TensorType::F32:
            return &k_avx2_f32;
        default:
            return nullptr;
    }
}

const DotKernel* avx512_kernel(TensorType type) {
    switch (type) {
        case TensorType::Q4_0:
            return &k_avx512_q4_0;
        case TensorType::Q5_0:
            return &k_avx512_q5_0;
        case TensorType::Q8_0:
            return &k_avx512_q8_0;
        case TensorType::Q2_K:
            return &k_avx512_q2_k;
        case TensorType::Q3_K:
            return &k_avx512_q3_k;
        case TensorType::Q4_K:
            return &k_avx512_q4_k;
        case TensorType::Q5_K:
            return &k_avx512_q5_k;
        case TensorType::Q6_K:
            return &k_avx512_q6_k;
        case TensorType::F16:
            return &k_avx512_f16;
        case TensorType::BF16:
            return &k_avx512_bf16;
        case TensorType::F32:
            return &k_avx512_f32;
        default:
            return nullptr;
    }
}

}  // namespace

bool cpu_runs(const CpuFeatures& features, DotIsa isa) {
    switch (isa) {
        case DotIsa::Scalar:
            return true;
        case DotIsa::Avx2:
            return !features.scalar_only && features.avx2;
        case DotIsa::Avx512:
            return !features.scalar_only && features.avx512 && features.avx512_vnni;
    }
    return false;
}

const DotKernel* dot_kernel_for_isa(TensorType weight_type, DotIsa isa) {
    switch (isa) {
        case DotIsa::Scalar:
            return scalar_kernel(weight_type);
        case DotIsa::Avx2:
            return avx2_kernel(weight_type);
        case DotIsa::Avx512:
            return avx512_kernel(weight_type);
    }
    return nullptr;
}

const DotKernel* dot_kernel(TensorType weight_type, const CpuFeatures& features) {
    for (const DotIsa isa : {DotIsa::Avx512, DotIsa::Avx2}) {
        if (!cpu_runs(features, isa)) continue;
        if (const DotKernel* kernel = dot_kernel_for_isa(weight_type, isa)) return kernel;
    }
    return scalar_kernel(weight_type);
}

}  // namespace tessera::backend::cpu

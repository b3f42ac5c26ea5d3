// The AVX2 (with FMA and F16C) kernels of quant_dot.h, defined in the *_avx2.cpp files of this
// folder, which are compiled for that instruction set: call them only when
// cpu_runs(features, DotIsa::Avx2). Signatures are DotKernel's.
#pragma once

#include <cstdint>

namespace tessera::backend::cpu::avx2 {

// Activation conversions, bit-exact with the scalar ones for finite inputs.
void convert_q8_0(const float* x, void* y, int64_t n);
void convert_q8_k(const float* x, void* y, int64_t n);
void convert_f16(const float* x, void* y, int64_t n);

#define TESSERA_DECLARE_DOT_KERNEL(type)                                                         \
    void dot_rows_##type(int64_t n, const void* weights, uint64_t weight_row_bytes,              \
                         int64_t n_rows, const void* activations, float* out);                   \
    void dot_tile_##type(int64_t n, const void* weights, uint64_t weight_row_bytes,              \
                         int64_t n_rows, const void* activations, uint64_t activation_row_bytes, \
                         int64_t n_columns, float* out, int64_t out_column_stride);

TESSERA_DECLARE_DOT_KERNEL(q4_0)
TESSERA_DECLARE_DOT_KERNEL(q5_0)
TESSERA_DECLARE_DOT_KERNEL(q8_0)
TESSERA_DECLARE_DOT_KERNEL(q2_k)
TESSERA_DECLARE_DOT_KERNEL(q3_k)
TESSERA_DECLARE_DOT_KERNEL(q4_k)
TESSERA_DECLARE_DOT_KERNEL(q5_k)
TESSERA_DECLARE_DOT_KERNEL(q6_k)
TESSERA_DECLARE_DOT_KERNEL(f16)
TESSERA_DECLARE_DOT_KERNEL(f32)

#undef TESSERA_DECLARE_DOT_KERNEL

}  // namespace tessera::backend::cpu::avx2

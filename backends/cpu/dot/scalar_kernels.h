// The portable scalar kernels of quant_dot.h, one per weight type, and the activation
// conversions; the reference every SIMD kernel is tested against and the fallback on any CPU.
//
// Every dot_rows_* has DotKernel::dot_rows's signature; weights and activations need no
// alignment. Integer types sum the products of the quants per block (or per super-block, with
// the sub-block scales) exactly in 32-bit integers and add each block's sum times its scales in
// float, block after block; float types sum in double and round once.
#pragma once

#include <cstdint>

namespace tessera::backend::cpu::scalar {

// Activation conversions, bit-exact with formats/quant's quantizers.
void convert_q8_0(const float* x, void* y, int64_t n);
void convert_q8_1(const float* x, void* y, int64_t n);
void convert_q8_k(const float* x, void* y, int64_t n);
void convert_f16(const float* x, void* y, int64_t n);
void convert_bf16(const float* x, void* y, int64_t n);
void convert_f32(const float* x, void* y, int64_t n);

// Weights Q4_0, Q5_0, Q8_0 with Q8_0 activations; Q4_1, Q5_1 with Q8_1.
void dot_rows_q4_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q4_1(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q5_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q5_1(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q8_0(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);

// K-quant (and Q8_K) weights with Q8_K activations.
void dot_rows_q2_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q3_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q4_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q5_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q6_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_q8_k(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);

// Float weights with activations of the same type.
void dot_rows_f16(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  const void* activations, float* out);
void dot_rows_bf16(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                   const void* activations, float* out);
void dot_rows_f32(int64_t n, const void* weights, uint64_t weight_row_bytes, int64_t n_rows,
                  const void* activations, float* out);

}  // namespace tessera::backend::cpu::scalar

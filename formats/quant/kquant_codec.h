// Reference codecs of the K-quants (Q2_K ... Q6_K) and of Q8_K, the intermediate type the
// K-quant dot products pair with: bit-exact with ggml's quantize_row_*_K_ref and
// dequantize_row_*_K. Rows are n floats; n is a multiple of kSuperBlock (the caller checks).
#pragma once

#include <cstdint>

namespace tessera::quant {

void quantize_row_q2_k(const float* x, void* y, int64_t n);
void quantize_row_q3_k(const float* x, void* y, int64_t n);
void quantize_row_q4_k(const float* x, void* y, int64_t n);
void quantize_row_q5_k(const float* x, void* y, int64_t n);
void quantize_row_q6_k(const float* x, void* y, int64_t n);
void quantize_row_q8_k(const float* x, void* y, int64_t n);

void dequantize_row_q2_k(const void* x, float* y, int64_t n);
void dequantize_row_q3_k(const void* x, float* y, int64_t n);
void dequantize_row_q4_k(const void* x, float* y, int64_t n);
void dequantize_row_q5_k(const void* x, float* y, int64_t n);
void dequantize_row_q6_k(const void* x, float* y, int64_t n);
void dequantize_row_q8_k(const void* x, float* y, int64_t n);

}  // namespace tessera::quant

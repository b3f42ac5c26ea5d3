// Reference codecs of the legacy 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, and the
// Q8_1 quantizer used for activations): bit-exact with ggml's quantize_row_*_ref and
// dequantize_row_*. Rows are n floats; n is a multiple of kLegacyBlock (the caller checks).
#pragma once

#include <cstdint>

namespace tessera::quant {

void quantize_row_q4_0(const float* x, void* y, int64_t n);
void quantize_row_q4_1(const float* x, void* y, int64_t n);
void quantize_row_q5_0(const float* x, void* y, int64_t n);
void quantize_row_q5_1(const float* x, void* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);

void dequantize_row_q4_0(const void* x, float* y, int64_t n);
void dequantize_row_q4_1(const void* x, float* y, int64_t n);
void dequantize_row_q5_0(const void* x, float* y, int64_t n);
void dequantize_row_q5_1(const void* x, float* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);

}  // namespace tessera::quant

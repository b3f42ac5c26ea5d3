// Reference (portable, scalar) quantization and dequantization of rows, bit-exact with ggml's
// reference codecs: the same bytes from the same floats, the same floats from the same bytes.
#pragma once

#include <cstdint>

#include "formats/quant/tensor_type.h"

namespace tessera::quant {

// Quantizes n floats into blocks of `type`. n must be a multiple of the type's block size and
// type_info(type).has_codec must be true; otherwise throws tessera::Error.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

// Dequantizes n elements of `type` into floats, with the same preconditions.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

}  // namespace tessera::quant

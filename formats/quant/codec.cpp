#include "formats/quant/codec.h"

#include <cstring>
#include <string>

#include "formats/error.h"
#include "formats/quant/half.h"
#include "formats/quant/kquant_codec.h"
#include "formats/quant/legacy_codec.h"

namespace tessera::quant {

namespace {

using QuantizeFn = void (*)(const float*, void*, int64_t);
using DequantizeFn = void (*)(const void*, float*, int64_t);

struct Codec {
    QuantizeFn quantize;
    DequantizeFn dequantize;
};

// The plain float formats, element by element. Bytes go through memcpy: rows need not be
// aligned.
void quantize_row_f32(const float* x, void* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}
void dequantize_row_f32(const void* x, float* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

template <uint16_t (*encode)(float)>
void quantize_row_16(const float* x, void* y, int64_t n) {
    auto* out = static_cast<uint8_t*>(y);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t bits = encode(x[i]);
        std::memcpy(out + i * 2, &bits, sizeof bits);
    }
}

template <float (*decode)(uint16_t)>
void dequantize_row_16(const void* x, float* y, int64_t n) {
    const auto* in = static_cast<const uint8_t*>(x);
    for (int64_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, in + i * 2, sizeof bits);
        y[i] = decode(bits);
    }
}

// The codec of a type, or nothing for the types without one (has_codec false).
Codec find_codec(TensorType type) {
    switch (type) {
        case TensorType::F32:
            return {quantize_row_f32, dequantize_row_f32};
        case TensorType::F16:
            return {quantize_row_16<fp32_to_fp16>, dequantize_row_16<fp16_to_fp32>};
        case TensorType::BF16:
            return {quantize_row_16<fp32_to_bf16>, dequantize_row_16<bf16_to_fp32>};
        case TensorType::Q4_0:
            return {quantize_row_q4_0, dequantize_row_q4_0};
        case TensorType::Q4_1:
            return {quantize_row_q4_1, dequantize_row_q4_1};
        case TensorType::Q5_0:
            return {quantize_row_q5_0, dequantize_row_q5_0};
        case TensorType::Q5_1:
            return {quantize_row_q5_1, dequantize_row_q5_1};
        case TensorType::Q8_0:
            return {quantize_row_q8_0, dequantize_row_q8_0};
        case TensorType::Q2_K:
            return {quantize_row_q2_k, dequantize_row_q2_k};
        case TensorType::Q3_K:
            return {quantize_row_q3_k, dequantize_row_q3_k};
        case TensorType::Q4_K:
            return {quantize_row_q4_k, dequantize_row_q4_k};
        case TensorType::Q5_K:
            return {quantize_row_q5_k, dequantize_row_q5_k};
        case TensorType::Q6_K:
            return {quantize_row_q6_k, dequantize_row_q6_k};
        case TensorType::Q8_K:
            return {quantize_row_q8_k, dequantize_row_q8_k};
        default:
            return {nullptr, nullptr};
    }
}

// Checks the arguments and returns the type's codec; `what` names the operation in errors.
Codec checked_codec(const char* what, TensorType type, int64_t n) {
    const TypeInfo* info = type_info(static_cast<uint32_t>(type));
    const std::string name = info != nullptr ? std::string(info->name)
                                             : "id " + std::to_string(static_cast<uint32_t>(type));
    const Codec codec = find_codec(type);
    if (info == nullptr || !info->has_codec || codec.quantize == nullptr) {
        throw Error(std::string(what) + ": type " + name + " has no codec");
    }
    if (n < 0) throw Error(std::string(what) + ": n=" + std::to_string(n) + " is negative");
    if (n % info->block_size != 0) {
        throw Error(std::string(what) + ": n=" + std::to_string(n) +
                    " is not a multiple of block size " + std::to_string(info->block_size) +
                    " of type " + name);
    }
    return codec;
}

}  // namespace

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    checked_codec("quantize", type, n).quantize(src, dst, n);
}

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    checked_codec("dequantize", type, n).dequantize(src, dst, n);
}

}  // namespace tessera::quant

// The tensor element types of GGUF (ggml's type ids) and their block geometry.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tessera::quant {

// Values are the on-disk ids; gaps are ids ggml retired and that no valid file carries.
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
};

struct TypeInfo {
    TensorType type;
    std::string_view name;  // as llama.cpp prints it: "q4_K", "f16", ...
    uint32_t block_size;    // elements per block
    uint32_t block_bytes;   // bytes per block
    bool has_codec;         // tessera can quantize and dequantize it (formats/quant/codec.h)
};

// The info for an on-disk type id, or nothing for an id no known ggml version defines.
const TypeInfo* type_info(uint32_t raw_type);
const TypeInfo& type_info(TensorType type);

// Parses a type name, case-insensitively ("q4_k", "Q4_K", "f16").
std::optional<TensorType> type_from_name(std::string_view name);

// Bytes of one row of n elements; n must be a multiple of the block size.
inline uint64_t row_bytes(const TypeInfo& info, uint64_t n) {
    return n / info.block_size * info.block_bytes;
}

}  // namespace tessera::quant

#include "formats/quant/tensor_type.h"

#include <array>
#include <cstddef>
#include <string>

#include "formats/error.h"

namespace tessera::quant {

namespace {

using T = TensorType;

// One row per type ggml defines, in id order. Geometry is ggml's type_traits (blck_size,
// type_size); gguf-py's table gives Q8_1 40 bytes, but ggml's block_q8_1 is 36 and ggml is what
// writes and reads the files.
constexpr std::array kTypes{
    TypeInfo{T::F32, "f32", 1, 4, true},
    TypeInfo{T::F16, "f16", 1, 2, true},
    TypeInfo{T::Q4_0, "q4_0", 32, 18, true},
    TypeInfo{T::Q4_1, "q4_1", 32, 20, true},
    TypeInfo{T::Q5_0, "q5_0", 32, 22, true},
    TypeInfo{T::Q5_1, "q5_1", 32, 24, true},
    TypeInfo{T::Q8_0, "q8_0", 32, 34, true},
    TypeInfo{T::Q8_1, "q8_1", 32, 36, false},
    TypeInfo{T::Q2_K, "q2_K", 256, 84, true},
    TypeInfo{T::Q3_K, "q3_K", 256, 110, true},
    TypeInfo{T::Q4_K, "q4_K", 256, 144, true},
    TypeInfo{T::Q5_K, "q5_K", 256, 176, true},
    TypeInfo{T::Q6_K, "q6_K", 256, 210, true},
    TypeInfo{T::Q8_K, "q8_K", 256, 292, true},
    TypeInfo{T::IQ2_XXS, "iq2_xxs", 256, 66, false},
    TypeInfo{T::IQ2_XS, "iq2_xs", 256, 74, false},
    TypeInfo{T::IQ3_XXS, "iq3_xxs", 256, 98, false},
    TypeInfo{T::IQ1_S, "iq1_s", 256, 50, false},
    TypeInfo{T::IQ4_NL, "iq4_nl", 32, 18, false},
    TypeInfo{T::IQ3_S, "iq3_s", 256, 110, false},
    TypeInfo{T::IQ2_S, "iq2_s", 256, 82, false},
    TypeInfo{T::IQ4_XS, "iq4_xs", 256, 136, false},
    TypeInfo{T::I8, "i8", 1, 1, false},
    TypeInfo{T::I16, "i16", 1, 2, false},
    TypeInfo{T::I32, "i32", 1, 4, false},
    TypeInfo{T::I64, "i64", 1, 8, false},
    TypeInfo{T::F64, "f64", 1, 8, false},
    TypeInfo{T::IQ1_M, "iq1_m", 256, 56, false},
    TypeInfo{T::BF16, "bf16", 1, 2, true},
    TypeInfo{T::TQ1_0, "tq1_0", 256, 54, false},
    TypeInfo{T::TQ2_0, "tq2_0", 256, 66, false},
    TypeInfo{T::MXFP4, "mxfp4", 32, 17, false},
    TypeInfo{T::NVFP4, "nvfp4", 64, 36, false},
    TypeInfo{T::Q1_0, "q1_0", 128, 18, false},
};

constexpr uint32_t kMaxId = static_cast<uint32_t>(T::Q1_0);

// Index into kTypes by id, -1 for the ids ggml never assigned or retired.
constexpr std::array<int, kMaxId + 1> make_index() {
    std::array<int, kMaxId + 1> index{};
    for (auto& slot : index) slot = -1;
    for (size_t i = 0; i < kTypes.size(); ++i) {
        index[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int>(i);
    }
    return index;
}
constexpr auto kIndex = make_index();

constexpr bool ids_ascend() {
    for (size_t i = 1; i < kTypes.size(); ++i) {
        if (static_cast<uint32_t>(kTypes[i - 1].type) >= static_cast<uint32_t>(kTypes[i].type)) {
            return false;
        }
    }
    return true;
}
static_assert(ids_ascend(), "kTypes lists each id once, in ascending order");

// ASCII only, on purpose: std::tolower follows the process locale (a Turkish locale lowers 'I'
// to a dotless i), and type names are plain ASCII.
constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

constexpr bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

}  // namespace

const TypeInfo* type_info(uint32_t raw_type) {
    if (raw_type > kMaxId || kIndex[raw_type] < 0) return nullptr;
    return &kTypes[static_cast<size_t>(kIndex[raw_type])];
}

const TypeInfo& type_info(TensorType type) {
    // Every enumerator has a row (checked by the tests); only a value cast from an unchecked id
    // can miss, and that is the caller's bug, reported rather than dereferenced.
    const TypeInfo* info = type_info(static_cast<uint32_t>(type));
    if (info == nullptr) {
        throw Error("tensor type id " + std::to_string(static_cast<uint32_t>(type)) +
                    " is not a known type");
    }
    return *info;
}

std::optional<TensorType> type_from_name(std::string_view name) {
    for (const auto& info : kTypes) {
        if (equal_ignoring_case(info.name, name)) return info.type;
    }
    return std::nullopt;
}

}  // namespace tessera::quant

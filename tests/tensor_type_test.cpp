// The tensor type table: ids, names, block geometry and which types have codecs, checked by hand
// and against gguf-py's GGML_QUANT_SIZES.
#include "formats/quant/tensor_type.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>

#include "formats/error.h"
#include "tests/gguf_py.h"

namespace tessera::quant {
namespace {

using T = TensorType;

const std::set<T> kCodecTypes = {T::F32,  T::F16,  T::BF16, T::Q4_0, T::Q4_1, T::Q5_0, T::Q5_1,
                                 T::Q8_0, T::Q2_K, T::Q3_K, T::Q4_K, T::Q5_K, T::Q6_K, T::Q8_K};

const std::set<uint32_t> kDefinedIds = {0,  1,  2,  3,  6,  7,  8,  9,  10, 11, 12, 13,
                                        14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                                        26, 27, 28, 29, 30, 34, 35, 39, 40, 41};

TEST(TensorTypeTest, EveryDefinedIdHasARowAndNoOtherDoes) {
    for (uint32_t id = 0; id < 1000; ++id) {
        const TypeInfo* info = type_info(id);
        if (!kDefinedIds.contains(id)) {
            EXPECT_EQ(info, nullptr) << id;
            continue;
        }
        ASSERT_NE(info, nullptr) << id;
        EXPECT_EQ(static_cast<uint32_t>(info->type), id);
        EXPECT_EQ(&type_info(info->type), info);
        EXPECT_EQ(info->has_codec, kCodecTypes.contains(info->type)) << info->name;
        EXPECT_GT(info->block_size, 0u);
        EXPECT_GT(info->block_bytes, 0u);
    }
    EXPECT_EQ(type_info(0xffffffffu), nullptr);
    EXPECT_THROW(type_info(static_cast<TensorType>(4)), Error);  // retired Q4_2
}

TEST(TensorTypeTest, KnownRows) {
    const auto& q4_k = type_info(T::Q4_K);
    EXPECT_EQ(q4_k.name, "q4_K");
    EXPECT_EQ(q4_k.block_size, 256u);
    EXPECT_EQ(q4_k.block_bytes, 144u);
    EXPECT_EQ(type_info(T::Q8_1).block_bytes, 36u);  // ggml's size; gguf-py says 40
    EXPECT_EQ(type_info(T::MXFP4).block_bytes, 17u);
    EXPECT_EQ(type_info(T::IQ4_NL).name, "iq4_nl");
    EXPECT_EQ(type_info(T::BF16).name, "bf16");
    EXPECT_EQ(row_bytes(type_info(T::Q6_K), 4096), 16u * 210u);
    EXPECT_EQ(row_bytes(type_info(T::F16), 10), 20u);
}

TEST(TensorTypeTest, NamesParseCaseInsensitively) {
    for (const uint32_t id : kDefinedIds) {
        const TypeInfo& info = *type_info(id);
        std::string upper(info.name), lower(info.name);
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_EQ(type_from_name(info.name), info.type) << info.name;
        EXPECT_EQ(type_from_name(upper), info.type) << upper;
        EXPECT_EQ(type_from_name(lower), info.type) << lower;
    }
    EXPECT_EQ(type_from_name("Q4_k"), T::Q4_K);
    EXPECT_EQ(type_from_name(""), std::nullopt);
    EXPECT_EQ(type_from_name("q4"), std::nullopt);
    EXPECT_EQ(type_from_name("q4_0 "), std::nullopt);
    EXPECT_EQ(type_from_name("f32x"), std::nullopt);
    EXPECT_EQ(type_from_name("q4_2"), std::nullopt);  // retired id 4 has no name
}

// Every type gguf-py knows that tessera's enum has: same id, name (up to case) and geometry,
// except Q8_1's size, where gguf-py's table is wrong (ggml's block_q8_1 is 36 bytes).
TEST(TensorTypeTest, MatchesGgufPy) {
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    std::string table;
    const std::string command = test::python_command({test::refgen_script("gguf_types.py")});
    ASSERT_EQ(test::run(command, &table), 0) << command;
    std::istringstream lines(table);
    std::string name;
    uint32_t id, block_size, block_bytes;
    std::set<uint32_t> seen;
    while (lines >> name >> id >> block_size >> block_bytes) {
        const TypeInfo* info = type_info(id);
        ASSERT_NE(info, nullptr) << name << " (" << id << ") is missing from the type table";
        seen.insert(id);
        EXPECT_EQ(type_from_name(name), info->type) << name;
        EXPECT_EQ(info->block_size, block_size) << name;
        if (info->type != T::Q8_1) {
            EXPECT_EQ(info->block_bytes, block_bytes) << name;
        }
    }
    EXPECT_EQ(seen, kDefinedIds);
}

}  // namespace
}  // namespace tessera::quant

// The codecs against llama.cpp's own quantized files (../shared/testdata/quant/): each TYPE.gguf
// there is source-f32.gguf quantized by llama-quantize's reference quantizer. Quantizing the
// F32 rows must give the file's bytes exactly, and dequantizing the file's bytes must give what
// gguf.quants.dequantize gives, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/gguf/file.h"
#include "formats/quant/codec.h"
#include "formats/quant/tensor_type.h"
#include "tests/gguf_py.h"

namespace tessera::quant {
namespace {

namespace fs = std::filesystem;

const char kSourceName[] = "source-f32.gguf";

fs::path vectors_dir() {
    return fs::path(test::testdata_dir()) / "quant";
}

// The TYPE.gguf files, each with its type (from the file name), in name order.
std::vector<std::pair<fs::path, TensorType>> quantized_files() {
    std::vector<std::pair<fs::path, TensorType>> files;
    for (const auto& entry : fs::directory_iterator(vectors_dir())) {
        const fs::path& path = entry.path();
        if (path.extension() != ".gguf" || path.filename() == kSourceName) continue;
        const auto type = type_from_name(path.stem().string());
        if (!type) {
            ADD_FAILURE() << "no tensor type is named like " << path;
            continue;
        }
        files.emplace_back(path, *type);
    }
    std::sort(files.begin(), files.end());
    return files;
}

// The tensors of `file` stored in `type`; a file without any is a broken fixture.
std::vector<const gguf::TensorInfo*> tensors_of_type(const gguf::File& file, TensorType type) {
    std::vector<const gguf::TensorInfo*> found;
    for (const auto& info : file.tensors()) {
        if (info.type == type) found.push_back(&info);
    }
    EXPECT_FALSE(found.empty()) << file.path() << " has no tensor in its type";
    return found;
}

TEST(QuantVectorsTest, QuantizeGivesLlamaCppBytes) {
    // The vectors are part of the test data, not optional: their absence is a failure.
    ASSERT_TRUE(fs::exists(vectors_dir() / kSourceName))
        << vectors_dir() << " has no " << kSourceName << " (set TESSERA_TESTDATA)";
    const auto source = gguf::File::open((vectors_dir() / kSourceName).string());
    const auto files = quantized_files();
    EXPECT_GE(files.size(), 10u);
    for (const auto& [path, type] : files) {
        SCOPED_TRACE(path.string());
        const auto file = gguf::File::open(path.string());
        const TypeInfo& info = type_info(type);
        for (const gguf::TensorInfo* tensor : tensors_of_type(file, type)) {
            SCOPED_TRACE(tensor->name);
            const gguf::TensorInfo& original = source.tensor(tensor->name);
            ASSERT_EQ(original.type, TensorType::F32);
            ASSERT_EQ(original.shape, tensor->shape);
            const auto expected = file.tensor_data(*tensor);
            const auto floats_bytes = source.tensor_data(original);
            std::vector<float> floats(original.n_elements);
            std::memcpy(floats.data(), floats_bytes.data(), floats_bytes.size());

            const uint64_t row_length = tensor->shape[0];
            const uint64_t row_size = row_bytes(info, row_length);
            const uint64_t rows = tensor->n_elements / row_length;
            ASSERT_EQ(rows * row_size, expected.size());
            std::vector<uint8_t> actual(row_size);
            for (uint64_t row = 0; row < rows; ++row) {
                quantize_row(type, floats.data() + row * row_length, actual.data(),
                             static_cast<int64_t>(row_length));
                const uint8_t* want = expected.data() + row * row_size;
                if (std::memcmp(actual.data(), want, row_size) == 0) continue;
                uint64_t offset = 0;
                while (actual[offset] == want[offset]) ++offset;
                FAIL() << info.name << ": row " << row << " differs first at block "
                       << offset / info.block_bytes << ", byte " << offset % info.block_bytes
                       << " of the block: " << int{actual[offset]} << " instead of "
                       << int{want[offset]};
            }
        }
    }
}

TEST(QuantVectorsTest, DequantizeMatchesGgufPy) {
    ASSERT_TRUE(fs::exists(vectors_dir() / kSourceName)) << vectors_dir();
    if (const auto why = test::gguf_py_unavailable(); !why.empty()) GTEST_SKIP() << why;
    for (const auto& [path, type] : quantized_files()) {
        SCOPED_TRACE(path.string());
        const auto file = gguf::File::open(path.string());
        const TypeInfo& info = type_info(type);
        // All of the file's tensors in its type, end to end (each is whole blocks), so that
        // gguf-py runs once per file.
        std::vector<uint8_t> bytes;
        for (const gguf::TensorInfo* tensor : tensors_of_type(file, type)) {
            const auto data = file.tensor_data(*tensor);
            bytes.insert(bytes.end(), data.begin(), data.end());
        }
        const auto expected = test::gguf_py_dequantize(info.name, bytes);
        std::vector<float> actual(bytes.size() / info.block_bytes * info.block_size);
        dequantize_row(type, bytes.data(), actual.data(), static_cast<int64_t>(actual.size()));
        ASSERT_EQ(actual.size(), expected.size());
        for (size_t i = 0; i < actual.size(); ++i) {
            const auto a = std::bit_cast<uint32_t>(actual[i]);
            const auto e = std::bit_cast<uint32_t>(expected[i]);
            if (a == e || (std::isnan(actual[i]) && std::isnan(expected[i]))) continue;
            FAIL() << info.name << ": element " << i << " (block " << i / info.block_size << ") is "
                   << actual[i] << ", expected " << expected[i];
        }
    }
}

}  // namespace
}  // namespace tessera::quant

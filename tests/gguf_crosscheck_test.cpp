// The GGUF reader, writer and digests against the PyPI gguf package (llama.cpp's own Python
// reader and writer), through tests/refgen/gguf_crosscheck.py: files gguf writes read here
// exactly, files written here read exactly here and there, every shared test file reads the same
// in both, and the tensor digests survive a copy that gguf still reads. Also: the writer
// replaces its target all at once or not at all, and rewrites files byte for byte.
//
// "Exactly" means the exact form of gguf_crosscheck.py: every key, type, element type and value,
// floats by their bits, and every tensor's name, shape, type, offset and size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "formats/digest/digest.h"
#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/value.h"
#include "formats/gguf/writer.h"
#include "formats/quant/tensor_type.h"
#include "tests/gguf_py.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using gguf::File;
using gguf::KeyValue;
using gguf::TensorInfo;
using gguf::TensorSpec;
using gguf::Value;
using gguf::ValueType;
using gguf::Writer;
using nlohmann::json;
using quant::TensorType;
namespace fs = std::filesystem;

// --- files and the reference script ----------------------------------------------------------

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, std::span<const uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Every .gguf file under the shared test data, in a stable order.
std::vector<std::string> testdata_files() {
    std::vector<std::string> paths;
    for (const auto& entry : fs::recursive_directory_iterator(test::testdata_dir())) {
        if (entry.is_regular_file() && entry.path().extension() == ".gguf") {
            paths.push_back(entry.path().string());
        }
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

// Runs gguf_crosscheck.py with these arguments and parses what it prints.
json crosscheck(std::vector<std::string> arguments) {
    std::string command = test::python_command({test::refgen_script("gguf_crosscheck.py")});
    for (const std::string& argument : arguments) {
        command += " '" + argument + "'";  // temporary and test-data paths hold no quotes
    }
    std::string output;
    const int status = test::run(command, &output);
    if (status != 0) {
        throw std::runtime_error(command + " exited with status " + std::to_string(status));
    }
    return json::parse(output);
}

class GgufCrosscheck : public ::testing::Test {
  protected:
    void SetUp() override {
        static const std::string unavailable = test::gguf_py_unavailable();
        if (!unavailable.empty()) GTEST_SKIP() << unavailable;
    }
};

// --- the exact form (see gguf_crosscheck.py) -------------------------------------------------

std::string hex_bits(uint64_t bits, int digits) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "0x%0*llx", digits, static_cast<unsigned long long>(bits));
    return buffer;
}

json exact_scalar(const Value& value) {
    switch (value.type()) {
        case ValueType::BOOL:
            return value.as_bool("");
        // Floats by their bits: raw_bits() is the float's own bits, so NaN payloads compare.
        case ValueType::FLOAT32:
            return hex_bits(value.raw_bits(), 8);
        case ValueType::FLOAT64:
            return hex_bits(value.raw_bits(), 16);
        case ValueType::STRING:
            return value.as_string("");
        case ValueType::INT8:
        case ValueType::INT16:
        case ValueType::INT32:
        case ValueType::INT64:
            return value.as_int("");
        default:
            return value.as_uint("");
    }
}

json exact(const Value& value) {
    if (value.type() != ValueType::ARRAY) {
        return {{"type", gguf::value_type_name(value.type())}, {"value", exact_scalar(value)}};
    }
    json elements = json::array();
    if (value.element_type() == ValueType::STRING) {
        for (const std::string& s : value.as_string_array("")) elements.push_back(s);
    } else if (value.element_type() == ValueType::ARRAY) {
        for (const Value& inner : value.as_array_array("")) elements.push_back(exact(inner));
    } else {
        for (size_t i = 0; i < value.array_size(); ++i) {
            elements.push_back(exact_scalar(value.element(i)));
        }
    }
    return {{"type", "array"},
            {"element_type", gguf::value_type_name(value.element_type())},
            {"value", std::move(elements)}};
}

json describe(const File& file) {
    json metadata = json::array();
    for (const KeyValue& kv : file.metadata()) {
        json entry = exact(kv.value);
        entry["key"] = kv.key;
        metadata.push_back(std::move(entry));
    }
    json tensors = json::array();
    for (const TensorInfo& t : file.tensors()) {
        tensors.push_back({{"name", t.name},
                           {"shape", t.shape},
                           {"type", static_cast<uint32_t>(t.type)},
                           {"offset", t.offset},
                           {"n_bytes", t.n_bytes}});
    }
    return {{"version", file.version()},
            {"alignment", file.alignment()},
            {"data_offset", file.data_offset()},
            {"metadata", std::move(metadata)},
            {"tensors", std::move(tensors)}};
}

std::string brief(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return s.size() > 160 ? s.substr(0, 160) + "..." : s;
}

// Where two values first differ ("value[3].value[0]: 1 vs 2"), or "" when they are equal.
std::string first_difference(const json& ours, const json& theirs, const std::string& at = "") {
    if (ours == theirs) return "";
    if (ours.is_object() && theirs.is_object()) {
        for (const auto& [key, value] : ours.items()) {
            if (!theirs.contains(key)) return at + "." + key + " is missing in gguf's";
            std::string d = first_difference(value, theirs.at(key), at + "." + key);
            if (!d.empty()) return d;
        }
        return at + " has keys tessera's lacks: " + brief(theirs);
    }
    if (ours.is_array() && theirs.is_array()) {
        for (size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i) {
            std::string d =
                first_difference(ours[i], theirs[i], at + "[" + std::to_string(i) + "]");
            if (!d.empty()) return d;
        }
        return at + " has " + std::to_string(ours.size()) + " elements here, " +
               std::to_string(theirs.size()) + " there";
    }
    return at + ": " + brief(ours) + " here, " + brief(theirs) + " there";
}

// Compares tessera's description of a file with another's: gguf's reading of it, or what
// GGUFWriter was given. Only the header fields `theirs` has are compared; a tensor's
// n_bytes, offset, shape and type always are.
void expect_same(const json& ours, const json& theirs, const std::string& what) {
    ASSERT_FALSE(theirs.contains("error")) << what << ": " << theirs.at("error");
    if (theirs.contains("utf8_errors")) {
        EXPECT_EQ(theirs.at("utf8_errors"), json::array()) << what << ": strings not in UTF-8";
    }
    for (const char* field : {"version", "alignment", "data_offset"}) {
        if (theirs.contains(field)) {
            EXPECT_EQ(ours.at(field), theirs.at(field)) << what << ": " << field;
        }
    }
    const json& our_metadata = ours.at("metadata");
    const json& their_metadata = theirs.at("metadata");
    EXPECT_EQ(our_metadata.size(), their_metadata.size()) << what << ": metadata count";
    for (size_t i = 0; i < std::min(our_metadata.size(), their_metadata.size()); ++i) {
        const std::string d = first_difference(our_metadata[i], their_metadata[i]);
        EXPECT_EQ(d, "") << what << ": metadata " << i << " (" << brief(our_metadata[i].at("key"))
                         << ")";
    }
    const json& our_tensors = ours.at("tensors");
    const json& their_tensors = theirs.at("tensors");
    EXPECT_EQ(our_tensors.size(), their_tensors.size()) << what << ": tensor count";
    for (size_t i = 0; i < std::min(our_tensors.size(), their_tensors.size()); ++i) {
        json theirs_compared;
        for (const char* field : {"name", "shape", "type", "offset", "n_bytes"}) {
            theirs_compared[field] = their_tensors[i].at(field);
        }
        EXPECT_EQ(first_difference(our_tensors[i], theirs_compared), "")
            << what << ": tensor " << i << " (" << brief(our_tensors[i].at("name")) << ")";
    }
}

// --- what tessera writes ---------------------------------------------------------------------

template <typename T>
Value scalar_array(ValueType type, std::initializer_list<T> values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    if (!bytes.empty()) std::memcpy(bytes.data(), values.begin(), bytes.size());
    return Value::from_scalar_array(type, std::move(bytes));
}

// Every value type at its extremes and awkward cases, empty and nested arrays included.
std::vector<KeyValue> every_value() {
    using VT = ValueType;
    using I64 = std::numeric_limits<int64_t>;
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<KeyValue> kv = {
        {"general.architecture", Value::from_string("crosscheck")},
        {"t.uint8", Value::from_uint(VT::UINT8, 255)},
        {"t.int8", Value::from_int(VT::INT8, -128)},
        {"t.uint16", Value::from_uint(VT::UINT16, 65535)},
        {"t.int16", Value::from_int(VT::INT16, -32768)},
        {"t.uint32", Value::from_uint(VT::UINT32, std::numeric_limits<uint32_t>::max())},
        {"t.int32", Value::from_int(VT::INT32, std::numeric_limits<int32_t>::min())},
        {"t.uint64", Value::from_uint(VT::UINT64, std::numeric_limits<uint64_t>::max())},
        {"t.int64", Value::from_int(VT::INT64, I64::min())},
        {"t.int64.max", Value::from_int(VT::INT64, I64::max())},
        {"t.float32", Value::from_float(VT::FLOAT32, 1.0 / 3.0)},
        {"t.float32.negative_zero", Value::from_float(VT::FLOAT32, -0.0)},
        {"t.float32.inf", Value::from_float(VT::FLOAT32, inf)},
        {"t.float32.signaling_nan", Value::from_raw(VT::FLOAT32, 0x7f800001)},
        {"t.float32.nan_payload", Value::from_raw(VT::FLOAT32, 0xffc12345)},
        {"t.float32.denormal", Value::from_raw(VT::FLOAT32, 0x00000001)},
        {"t.float64", Value::from_float(VT::FLOAT64, std::numbers::pi)},
        {"t.float64.negative_inf", Value::from_float(VT::FLOAT64, -inf)},
        {"t.float64.signaling_nan", Value::from_raw(VT::FLOAT64, 0x7ff0000000000001)},
        {"t.float64.denormal", Value::from_raw(VT::FLOAT64, 1)},
        {"t.bool.true", Value::from_uint(VT::BOOL, 1)},
        {"t.bool.false", Value::from_uint(VT::BOOL, 0)},
        {"t.string", Value::from_string("hello")},
        {"t.string.empty", Value::from_string("")},
        {"t.string.utf8",
         Value::from_string("h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xa6\x99")},
        {"t.string.controls", Value::from_string(std::string("a\0b\n\t\"\\", 7))},
        {"t.key.\xc3\xbcnicode", Value::from_uint(VT::UINT8, 1)},
        {"t.array.uint8", scalar_array<uint8_t>(VT::UINT8, {0, 1, 255})},
        {"t.array.int8", scalar_array<int8_t>(VT::INT8, {-128, 0, 127})},
        {"t.array.uint16", scalar_array<uint16_t>(VT::UINT16, {0, 65535})},
        {"t.array.int16", scalar_array<int16_t>(VT::INT16, {-32768, 32767})},
        {"t.array.uint32", scalar_array<uint32_t>(VT::UINT32, {0, 4294967295u})},
        {"t.array.int32", scalar_array<int32_t>(VT::INT32, {-2147483647 - 1, 2147483647})},
        {"t.array.uint64", scalar_array<uint64_t>(VT::UINT64, {0, 18446744073709551615u})},
        {"t.array.int64", scalar_array<int64_t>(VT::INT64, {I64::min(), I64::max()})},
        // Floats as bits: signaling NaN, -0.0, 1.0, quiet NaN, -inf, a denormal.
        {"t.array.float32",
         scalar_array<uint32_t>(VT::FLOAT32, {0x7f800001, 0x80000000, 0x3f800000, 0x7fc00000,
                                              0xff800000, 0x00000001})},
        {"t.array.float64",
         scalar_array<uint64_t>(VT::FLOAT64, {0x7ff0000000000001, 0x8000000000000000,
                                              0x3ff0000000000000, 0x0000000000000001})},
        {"t.array.bool", scalar_array<uint8_t>(VT::BOOL, {1, 0, 1})},
        {"t.array.string",
         Value::from_string_array({"a", "", "\xc3\xa9\xf0\x9f\xa6\x99", std::string("n\0l", 3)})},
        {"t.array.empty.string", Value::from_string_array({})},
        {"t.array.empty.array", Value::from_array_array({})},
        // Inner arrays of different element types, an empty one, and three levels deep.
        {"t.array.nested.mixed",
         Value::from_array_array(
             {scalar_array<int32_t>(VT::INT32, {1, 2, 3}), Value::from_string_array({"x", ""}),
              Value::from_array_array({scalar_array<uint8_t>(VT::UINT8, {7})}),
              Value::from_scalar_array(VT::FLOAT64, {}), Value::from_array_array({})})},
        {"t.array.nested.deep",
         Value::from_array_array({Value::from_array_array(
             {Value::from_array_array({scalar_array<int16_t>(VT::INT16, {-1, 2})})})})},
    };
    for (const VT type : {VT::UINT8, VT::INT8, VT::UINT16, VT::INT16, VT::UINT32, VT::INT32,
                          VT::FLOAT32, VT::BOOL, VT::UINT64, VT::INT64, VT::FLOAT64}) {
        kv.push_back({"t.array.empty." + std::string(gguf::value_type_name(type)),
                      Value::from_scalar_array(type, {})});
    }
    std::vector<uint64_t> big(20000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = i * i * 2654435761u;
    std::vector<uint8_t> big_bytes(big.size() * sizeof(uint64_t));
    std::memcpy(big_bytes.data(), big.data(), big_bytes.size());
    kv.push_back({"t.array.big", Value::from_scalar_array(VT::UINT64, std::move(big_bytes))});
    return kv;
}

struct Tensor {
    TensorSpec spec;
    std::vector<uint8_t> data;
};

// One tensor of each type with random bytes: rows of 1 to 3 blocks (odd lengths for one-element
// blocks, so that padding follows them), 1-D to 4-D.
std::vector<Tensor> random_tensors(const std::vector<TensorType>& types) {
    static const std::vector<std::vector<uint64_t>> kOuterDims = {{}, {3}, {2, 3}, {2, 1, 2}};
    std::mt19937_64 rng(20240601);
    std::vector<Tensor> tensors;
    for (size_t i = 0; i < types.size(); ++i) {
        const quant::TypeInfo& info = quant::type_info(types[i]);
        const uint64_t row = info.block_size > 1 ? info.block_size * (1 + i % 3) : 7 + 2 * (i % 3);
        Tensor t;
        t.spec = {"raw." + std::string(info.name), {row}, types[i]};
        for (const uint64_t d : kOuterDims[i % kOuterDims.size()]) t.spec.shape.push_back(d);
        t.data.resize(Writer::tensor_bytes(t.spec));
        for (uint8_t& b : t.data) b = static_cast<uint8_t>(rng() >> 56);
        tensors.push_back(std::move(t));
    }
    return tensors;
}

// Every type tessera knows, but those in `except`.
std::vector<TensorType> known_types(std::initializer_list<TensorType> except = {}) {
    std::vector<TensorType> types;
    for (uint32_t id = 0; id < 256; ++id) {
        const quant::TypeInfo* info = quant::type_info(id);
        if (info != nullptr &&
            std::find(except.begin(), except.end(), info->type) == except.end()) {
            types.push_back(info->type);
        }
    }
    return types;
}

// Writes with gguf::Writer, streaming the tensor bytes in slices that straddle tensors.
void write_gguf(const std::string& path, uint64_t alignment, const std::vector<KeyValue>& metadata,
                const std::vector<Tensor>& tensors) {
    Writer writer(path, alignment);
    for (const KeyValue& kv : metadata) writer.add(kv.key, kv.value);
    for (const Tensor& t : tensors) writer.add_tensor(t.spec);
    writer.write_header();
    std::vector<uint8_t> all;
    for (const Tensor& t : tensors) all.insert(all.end(), t.data.begin(), t.data.end());
    constexpr size_t kSlice = 777;
    const std::span<const uint8_t> bytes(all);
    for (size_t at = 0; at < bytes.size(); at += kSlice) {
        writer.write_tensor_data(bytes.subspan(at, std::min(kSlice, bytes.size() - at)));
    }
    writer.write_tensor_data({});
    writer.finish();
}

// Writes `file` again with gguf::Writer: the same metadata, tensors and bytes.
void rewrite(const File& file, const std::string& path) {
    Writer writer(path, file.alignment());
    for (const KeyValue& kv : file.metadata()) {
        if (kv.key != "general.alignment") writer.add(kv.key, kv.value);  // the writer adds it
    }
    for (const TensorInfo& t : file.tensors()) writer.add_tensor({t.name, t.shape, t.type});
    writer.write_header();
    for (const TensorInfo& t : file.tensors()) writer.write_tensor_data(file.tensor_data(t));
    writer.finish();
}

// Checks what tessera reads back from a file it wrote: the metadata exactly as added (after
// the writer's general.alignment), and every tensor's info and bytes.
void expect_reads_back(const File& file, uint64_t alignment, const std::vector<KeyValue>& metadata,
                       const std::vector<Tensor>& tensors) {
    std::vector<KeyValue> expected;
    if (alignment != gguf::kDefaultAlignment) {
        expected.push_back({"general.alignment", Value::from_uint(ValueType::UINT32, alignment)});
    }
    expected.insert(expected.end(), metadata.begin(), metadata.end());
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(file.alignment(), alignment);
    ASSERT_EQ(file.metadata().size(), expected.size()) << file.path();
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(file.metadata()[i].key, expected[i].key) << file.path();
        EXPECT_TRUE(file.metadata()[i].value == expected[i].value)
            << file.path() << ": " << expected[i].key << " reads back as "
            << brief(exact(file.metadata()[i].value)) << ", was "
            << brief(exact(expected[i].value));
    }
    ASSERT_EQ(file.tensors().size(), tensors.size()) << file.path();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const TensorInfo& info = file.tensors()[i];
        EXPECT_EQ(info.name, tensors[i].spec.name);
        EXPECT_EQ(info.shape, tensors[i].spec.shape) << info.name;
        EXPECT_EQ(info.type, tensors[i].spec.type) << info.name;
        EXPECT_EQ(info.offset % alignment, 0u) << info.name;
        const auto data = file.tensor_data(info);
        EXPECT_TRUE(
            std::equal(data.begin(), data.end(), tensors[i].data.begin(), tensors[i].data.end()))
            << file.path() << ": the bytes of " << info.name << " differ";
    }
}

// --- the tests -------------------------------------------------------------------------------

TEST_F(GgufCrosscheck, ReadsWhatGgufWrites) {
    // Every type both know; gguf-py's table gives Q8_1 40 bytes a block where ggml has 36
    // (formats/quant/tensor_type.cpp), so GGUFWriter cannot size a Q8_1 tensor as ggml does.
    std::string type_ids;
    for (const TensorType type : known_types({TensorType::Q8_1})) {
        type_ids += (type_ids.empty() ? "" : ",") + std::to_string(static_cast<uint32_t>(type));
    }
    const json manifest = crosscheck({"write", test::temp_dir(), "--types=" + type_ids});
    ASSERT_EQ(manifest.at("files").size(), 4u);
    for (const json& written : manifest.at("files")) {
        const std::string path = written.at("path");
        const std::vector<uint8_t> source = read_file(written.at("tensor_bytes"));
        for (const bool use_mmap : {true, false}) {
            SCOPED_TRACE(path + (use_mmap ? " (mapped)" : " (read)"));
            const File file = File::open(path, {.use_mmap = use_mmap});
            const json ours = describe(file);
            expect_same(ours, written.at("expected"), "what GGUFWriter was given");
            expect_same(ours, written.at("dump"), "what GGUFReader reads");
            for (const json& t : written.at("expected").at("tensors")) {
                const TensorInfo* info = file.find_tensor(t.at("name").get<std::string>());
                ASSERT_NE(info, nullptr) << t.at("name");
                const auto data = file.tensor_data(*info);
                const auto at = t.at("source_offset").get<size_t>();
                ASSERT_LE(at + data.size(), source.size());
                EXPECT_TRUE(
                    std::equal(data.begin(), data.end(), source.begin() + static_cast<long>(at)))
                    << "the bytes of " << info->name << " differ from those GGUFWriter was given";
            }
        }
        // Written again here, a file is GGUFWriter's byte for byte, unless it has
        // general.alignment: GGUFWriter puts that key after general.architecture, this writer
        // first.
        const File file = File::open(path);
        if (file.find("general.alignment") == nullptr) {
            const std::string again = path + ".again";
            rewrite(file, again);
            EXPECT_TRUE(read_file(again) == read_file(path)) << path << " written again differs";
        }
    }
}

TEST_F(GgufCrosscheck, WritesWhatGgufReads) {
    const std::string dir = test::temp_dir();
    const std::vector<KeyValue> metadata = every_value();
    const std::vector<Tensor> tensors = random_tensors(known_types({TensorType::Q8_1}));
    struct Case {
        std::string name;
        uint64_t alignment;
        std::vector<KeyValue> metadata;
        std::vector<Tensor> tensors;
    };
    const std::vector<Case> cases = {
        {"align32", 32, metadata, tensors},
        {"align64", 64, metadata, tensors},
        {"align1", 1, metadata, tensors},
        {"metadata_only", 32, metadata, {}},
        {"tensors_only", 32, {}, tensors},
        // Read here only: gguf-py sizes Q8_1 wrongly (see ReadsWhatGgufWrites).
        {"q8_1", 32, {}, random_tensors({TensorType::Q8_1})},
    };
    std::vector<std::string> for_gguf;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string path = dir + "/" + c.name + ".gguf";
        write_gguf(path, c.alignment, c.metadata, c.tensors);
        for (const bool use_mmap : {true, false}) {
            expect_reads_back(File::open(path, {.use_mmap = use_mmap}), c.alignment, c.metadata,
                              c.tensors);
        }
        // Read and written again, the file is the same, byte for byte.
        const std::string again = dir + "/" + c.name + ".again.gguf";
        rewrite(File::open(path), again);
        EXPECT_TRUE(read_file(again) == read_file(path)) << "a rewrite of " << c.name << " differs";
        if (c.name != "q8_1") for_gguf.push_back(path);
    }
    // Version 2 has the same layout: the same file, marked 2, reads the same in both.
    std::vector<uint8_t> v2 = read_file(dir + "/align32.gguf");
    v2[4] = 2;
    const std::string v2_path = dir + "/version2.gguf";
    write_file(v2_path, v2);
    for_gguf.push_back(v2_path);
    EXPECT_EQ(File::open(v2_path).version(), 2u);

    std::vector<std::string> arguments = {"dump"};
    arguments.insert(arguments.end(), for_gguf.begin(), for_gguf.end());
    const json dumps = crosscheck(arguments);
    ASSERT_EQ(dumps.size(), for_gguf.size());
    for (const std::string& path : for_gguf) {
        expect_same(describe(File::open(path)), dumps.at(path), "gguf's reading of " + path);
    }
}

TEST_F(GgufCrosscheck, EveryTestFileReadsAsInGguf) {
    const std::vector<std::string> paths = testdata_files();
    ASSERT_GE(paths.size(), 16u) << "fewer .gguf files than testdata/README.md lists under "
                                 << test::testdata_dir();
    std::vector<std::string> arguments = {"dump"};
    arguments.insert(arguments.end(), paths.begin(), paths.end());
    const json dumps = crosscheck(arguments);
    for (const std::string& path : paths) {
        const File mapped = File::open(path, {.use_mmap = true});
        const File read = File::open(path, {.use_mmap = false});
        const json ours = describe(mapped);
        EXPECT_EQ(first_difference(ours, describe(read)), "") << path << ": mapped vs read";
        expect_same(ours, dumps.at(path), "gguf's reading of " + path);
        EXPECT_FALSE(ours.at("metadata").empty()) << path;
        for (const TensorInfo& t : mapped.tensors()) {
            const auto a = mapped.tensor_data(t);
            const auto b = read.tensor_data(read.tensor(t.name));
            EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()))
                << path << ": " << t.name;
        }
    }
}

TEST(GgufRoundTrip, RewritesEveryTestFileByteForByte) {
    const std::string dir = test::temp_dir();
    const std::vector<std::string> paths = testdata_files();
    ASSERT_FALSE(paths.empty());
    for (const std::string& path : paths) {
        const File file = File::open(path);
        const std::string copy = dir + "/" + fs::path(path).filename().string();
        rewrite(file, copy);
        std::vector<uint8_t> expected(file.bytes().begin(), file.bytes().end());
        if (file.tensors().empty()) {
            // gguf-py's vocab-only files end with the metadata; the writer, like ggml's, pads
            // the header to the alignment whether or not tensor data follows.
            expected.resize((expected.size() + file.alignment() - 1) / file.alignment() *
                            file.alignment());
        }
        const std::vector<uint8_t> bytes = read_file(copy);
        EXPECT_TRUE(bytes == expected) << path << " (" << expected.size() << " bytes) rewritten ("
                                       << bytes.size() << " bytes) differs";
    }
}

TEST_F(GgufCrosscheck, TypeTableMatchesGguf) {
    const json types = crosscheck({"types"});
    ASSERT_FALSE(types.empty());
    for (const auto& [id, expected] : types.items()) {
        const std::string name = expected.at("name");
        const quant::TypeInfo* info = quant::type_info(static_cast<uint32_t>(std::stoul(id)));
        EXPECT_NE(info, nullptr) << "gguf knows tensor type " << id << " (" << name
                                 << "), tessera does not: files with it cannot be read";
        if (info == nullptr) continue;
        EXPECT_EQ(quant::type_from_name(name), info->type) << name;
        EXPECT_EQ(info->block_size, expected.at("block_size").get<uint32_t>()) << name;
        // gguf-py's Q8_1 has 40 bytes a block; ggml's block_q8_1 (two halves and 32 int8) has 36.
        const uint32_t block_bytes =
            info->type == TensorType::Q8_1 ? 36u : expected.at("block_bytes").get<uint32_t>();
        EXPECT_EQ(info->block_bytes, block_bytes) << name;
    }
}

TEST_F(GgufCrosscheck, DigestsSurviveACopyThatGgufReads) {
    const File source = File::open(test::testdata_dir() + "/quant/q4_k.gguf");
    ASSERT_GT(source.tensors().size(), 1u);
    EXPECT_FALSE(digest::stored(source).has_value());
    EXPECT_EQ(digest::xxh64({}), 0xef46db3751d8e999u);  // xxHash's XXH64 of no bytes, seed 0

    // The definitions: each tensor's bytes, and all of them back to back without padding.
    const digest::Digests computed = digest::compute(source);
    ASSERT_EQ(computed.tensors.size(), source.tensors().size());
    std::vector<uint8_t> all;
    for (size_t i = 0; i < source.tensors().size(); ++i) {
        const auto data = source.tensor_data(source.tensors()[i]);
        EXPECT_EQ(computed.tensors[i], digest::xxh64(data)) << source.tensors()[i].name;
        all.insert(all.end(), data.begin(), data.end());
    }
    EXPECT_EQ(computed.all, digest::xxh64(all));

    // A copy that carries them, its tensors streamed from the source.
    const std::string copy_path = test::temp_dir() + "/with-digests.gguf";
    {
        Writer writer(copy_path, source.alignment());
        for (const KeyValue& kv : source.metadata()) writer.add(kv.key, kv.value);
        for (const KeyValue& kv : digest::to_metadata(computed)) writer.add(kv.key, kv.value);
        for (const TensorInfo& t : source.tensors()) writer.add_tensor({t.name, t.shape, t.type});
        writer.write_header();
        for (const TensorInfo& t : source.tensors())
            writer.write_tensor_data(source.tensor_data(t));
        writer.finish();
    }
    const File copy = File::open(copy_path);
    const auto stored = digest::stored(copy);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->tensors, computed.tensors);
    EXPECT_EQ(stored->all, computed.all);
    const digest::Digests recomputed = digest::compute(copy);
    EXPECT_EQ(recomputed.tensors, stored->tensors);
    EXPECT_EQ(recomputed.all, stored->all);

    // gguf reads the copy: to it the digest keys are more metadata, and the rest is the source.
    const json dumped = crosscheck({"dump", copy_path}).at(copy_path);
    const json ours = describe(copy);
    expect_same(ours, dumped, "gguf's reading of the copy with digests");
    json without_digests = dumped;
    without_digests.erase("data_offset");  // the digest keys lengthen the header
    json& metadata = without_digests.at("metadata");
    metadata.erase(
        std::remove_if(metadata.begin(), metadata.end(),
                       [](const json& e) {
                           return e.at("key").get<std::string>().starts_with("tessera.digest.");
                       }),
        metadata.end());
    EXPECT_EQ(metadata.size() + 3, dumped.at("metadata").size());
    expect_same(describe(source), without_digests, "gguf's reading of the copy, less digests");

    // One flipped byte in one tensor: exactly that tensor's digest, and the overall one, differ.
    const std::vector<uint8_t> bytes(copy.bytes().begin(), copy.bytes().end());
    for (size_t k = 0; k < copy.tensors().size(); ++k) {
        const TensorInfo& target = copy.tensors()[k];
        std::vector<uint8_t> flipped = bytes;
        flipped[copy.data_offset() + target.offset + target.n_bytes / 2] ^= 0x10;
        const File damaged = File::parse(flipped, "damaged");
        const auto damaged_stored = digest::stored(damaged);
        ASSERT_TRUE(damaged_stored.has_value());
        EXPECT_EQ(damaged_stored->tensors, stored->tensors);
        const digest::Digests damaged_computed = digest::compute(damaged);
        for (size_t i = 0; i < copy.tensors().size(); ++i) {
            EXPECT_EQ(damaged_computed.tensors[i] == damaged_stored->tensors[i], i != k)
                << "byte flipped in " << target.name << ", digest of " << copy.tensors()[i].name;
        }
        EXPECT_NE(damaged_computed.all, damaged_stored->all) << target.name;
    }
}

// --- the writer's target ---------------------------------------------------------------------

// A writer for one 8-element F32 tensor (32 bytes), its header written.
std::unique_ptr<Writer> started_writer(const std::string& path) {
    auto writer = std::make_unique<Writer>(path);
    writer->add("general.architecture", Value::from_string("test"));
    writer->add_tensor({"w", {8}, TensorType::F32});
    writer->write_header();
    return writer;
}

std::string read_text(const std::string& path) {
    const auto bytes = read_file(path);
    return {bytes.begin(), bytes.end()};
}

TEST(GgufWriterTarget, NeverExistsHalfWritten) {
    const std::string dir = test::temp_dir();
    const std::string target = dir + "/model.gguf";
    const std::vector<uint8_t> half(16, 0xab);
    {
        auto writer = started_writer(target);
        writer->write_tensor_data(half);
        // Mid-write there is only the temporary file, beside the target.
        const auto names = names_in(dir);
        ASSERT_EQ(names.size(), 1u);
        EXPECT_TRUE(names[0].starts_with("model.gguf.tmp-")) << names[0];
        EXPECT_THROW(writer->finish(), Error);  // 16 of the tensor's 32 bytes
        EXPECT_FALSE(fs::exists(target));
    }
    EXPECT_EQ(names_in(dir), std::vector<std::string>{})
        << "the temporary file outlived the writer";

    {
        auto writer = started_writer(target);
        EXPECT_THROW(writer->write_tensor_data(std::vector<uint8_t>(33)), Error);  // one too many
    }
    EXPECT_EQ(names_in(dir), std::vector<std::string>{});

    // A writer abandoned by an exception elsewhere, without finish().
    try {
        auto writer = started_writer(target);
        writer->write_tensor_data(half);
        throw std::runtime_error("the converter failed");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(names_in(dir), std::vector<std::string>{});
}

TEST(GgufWriterTarget, ReplacesAnExistingFileOnlyOnSuccess) {
    const std::string dir = test::temp_dir();
    const std::string target = dir + "/model.gguf";
    const std::string previous = "the previous contents";
    write_file(target, std::vector<uint8_t>(previous.begin(), previous.end()));
    {
        auto writer = started_writer(target);
        writer->write_tensor_data(std::vector<uint8_t>(16));
        EXPECT_THROW(writer->finish(), Error);
    }
    EXPECT_EQ(read_text(target), previous);
    EXPECT_EQ(names_in(dir), std::vector<std::string>{"model.gguf"});

    std::vector<uint8_t> data(32);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
    std::ifstream held(target, std::ios::binary);  // a reader that has the old file open
    {
        auto writer = started_writer(target);
        writer->write_tensor_data(data);
        EXPECT_EQ(read_text(target), previous) << "the target changed before finish()";
        writer->finish();
    }
    const File file = File::open(target);
    EXPECT_EQ(file.get_string("general.architecture"), "test");
    const auto written = file.tensor_data(file.tensor("w"));
    EXPECT_TRUE(std::equal(written.begin(), written.end(), data.begin(), data.end()));
    EXPECT_EQ(names_in(dir), std::vector<std::string>{"model.gguf"});
    // The new file took the name; the old one was not overwritten in place.
    const std::string still_held{std::istreambuf_iterator<char>(held), {}};
    EXPECT_EQ(still_held, previous);
}

}  // namespace
}  // namespace tessera

#include "tests/hostile_gguf.h"

#include <cstring>
#include <stdexcept>

#include "formats/quant/tensor_type.h"

namespace tessera::test {

namespace {

// The on-disk value type ids, spelled out here rather than taken from the reader, so that the
// builder does not share the reader's mistakes.
constexpr uint32_t kUint8 = 0;
constexpr uint32_t kUint32 = 4;
constexpr uint32_t kInt32 = 5;
constexpr uint32_t kFloat32 = 6;
constexpr uint32_t kBool = 7;
constexpr uint32_t kString = 8;
constexpr uint32_t kArray = 9;
constexpr uint32_t kUint64 = 10;

// The ggml tensor type ids used here.
constexpr uint32_t kF32 = 0;
constexpr uint32_t kF16 = 1;
constexpr uint32_t kQ4_0 = 2;
constexpr uint32_t kQ8_0 = 8;
constexpr uint32_t kQ4_K = 12;

// The most data a tensor stores by default; a hostile shape needing more stores none.
constexpr uint64_t kMaxStoredBytes = 1 << 20;

GgufTensor tensor(std::string name, std::vector<uint64_t> dims, uint32_t type) {
    GgufTensor t;
    t.name = std::move(name);
    t.dims = std::move(dims);
    t.type = type;
    return t;
}

template <typename T>
void put(std::vector<uint8_t>& out, T value) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));  // little-endian hosts only, like the reader
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

template <typename T>
GgufValue scalar(uint32_t type, T v) {
    GgufValue value{type, {}};
    put(value.bytes, v);
    return value;
}

uint64_t align_up(uint64_t offset, uint64_t alignment) {
    return (offset + alignment - 1) / alignment * alignment;
}

uint64_t default_data_bytes(const GgufTensor& tensor) {
    const quant::TypeInfo* info = quant::type_info(tensor.type);
    if (info == nullptr || tensor.dims.empty() || tensor.dims[0] % info->block_size != 0) return 0;
    uint64_t n = 1;
    for (uint64_t d : tensor.dims) {
        if (d == 0 || d > kMaxStoredBytes || n > kMaxStoredBytes / d) return 0;
        n *= d;
    }
    const uint64_t bytes = quant::row_bytes(*info, n);
    return bytes <= kMaxStoredBytes ? bytes : 0;
}

std::vector<uint8_t> prefix(const std::vector<uint8_t>& bytes, size_t n) {
    return {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)};
}

}  // namespace

GgufValue GgufValue::u8(uint8_t v) {
    return scalar(kUint8, v);
}
GgufValue GgufValue::u32(uint32_t v) {
    return scalar(kUint32, v);
}
GgufValue GgufValue::i32(int32_t v) {
    return scalar(kInt32, v);
}
GgufValue GgufValue::u64(uint64_t v) {
    return scalar(kUint64, v);
}
GgufValue GgufValue::f32(float v) {
    return scalar(kFloat32, v);
}
GgufValue GgufValue::boolean(uint8_t raw) {
    return scalar(kBool, raw);
}

GgufValue GgufValue::string(std::string_view s) {
    GgufValue value{kString, {}};
    put_string(value.bytes, s);
    return value;
}

GgufValue GgufValue::array(uint32_t element_type, const std::vector<GgufValue>& elements,
                           std::optional<uint64_t> count) {
    GgufValue value{kArray, {}};
    put<uint32_t>(value.bytes, element_type);
    put<uint64_t>(value.bytes, count.value_or(elements.size()));
    for (const GgufValue& e : elements)
        value.bytes.insert(value.bytes.end(), e.bytes.begin(), e.bytes.end());
    return value;
}

GgufValue GgufValue::nested(int levels) {
    GgufValue value = array(kUint8, {});
    for (int i = 1; i < levels; ++i) value = array(kArray, {value});
    return value;
}

void GgufImage::patch_u32(uint64_t at, uint32_t value) {
    if (at + sizeof value > bytes.size()) throw std::out_of_range("patch_u32 past the end");
    std::memcpy(bytes.data() + at, &value, sizeof value);
}

void GgufImage::patch_u64(uint64_t at, uint64_t value) {
    if (at + sizeof value > bytes.size()) throw std::out_of_range("patch_u64 past the end");
    std::memcpy(bytes.data() + at, &value, sizeof value);
}

GgufBuilder& GgufBuilder::add(std::string key, GgufValue value) {
    metadata.emplace_back(std::move(key), std::move(value));
    return *this;
}

GgufBuilder& GgufBuilder::add_tensor(GgufTensor tensor) {
    tensors.push_back(std::move(tensor));
    return *this;
}

GgufValue& GgufBuilder::value(std::string_view key) {
    for (auto& [k, v] : metadata) {
        if (k == key) return v;
    }
    return metadata.emplace_back(std::string(key), GgufValue{}).second;
}

size_t GgufBuilder::index_of(std::string_view key) const {
    for (size_t i = 0; i < metadata.size(); ++i) {
        if (metadata[i].first == key) return i;
    }
    throw std::out_of_range("no key " + std::string(key));
}

GgufImage GgufBuilder::build() const {
    GgufImage image;
    auto& out = image.bytes;
    auto& layout = image.layout;
    put<uint32_t>(out, magic);
    put<uint32_t>(out, version);
    put<uint64_t>(out, tensor_count.value_or(tensors.size()));
    put<uint64_t>(out, kv_count.value_or(metadata.size()));
    for (const auto& [key, value] : metadata) {
        GgufLayout::KeyValue at;
        at.key_at = out.size();
        put_string(out, key);
        at.type_at = out.size();
        put<uint32_t>(out, value.type);
        at.value_at = out.size();
        out.insert(out.end(), value.bytes.begin(), value.bytes.end());
        layout.kvs.push_back(at);
    }

    // Data placement first: an info's offset field defaults to where its bytes will lie.
    std::vector<uint64_t> sizes;
    uint64_t data_end = 0;
    for (const GgufTensor& t : tensors) {
        GgufLayout::Tensor at;
        at.data_offset = align_up(data_end, alignment);
        sizes.push_back(t.data_bytes.value_or(default_data_bytes(t)));
        data_end = at.data_offset + sizes.back();
        layout.tensors.push_back(at);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
        const GgufTensor& t = tensors[i];
        GgufLayout::Tensor& at = layout.tensors[i];
        at.info_at = out.size();
        put_string(out, t.name);
        at.n_dims_at = out.size();
        put<uint32_t>(out, t.n_dims.value_or(static_cast<uint32_t>(t.dims.size())));
        for (uint64_t d : t.dims) {
            at.dim_at.push_back(out.size());
            put<uint64_t>(out, d);
        }
        at.type_at = out.size();
        put<uint32_t>(out, t.type);
        at.offset_at = out.size();
        put<uint64_t>(out, t.offset.value_or(at.data_offset));
    }
    layout.header_end = out.size();
    layout.data_section = align_up(out.size(), alignment);
    if (tensors.empty()) return image;

    out.resize(layout.data_section + data_end, 0);
    for (size_t i = 0; i < tensors.size(); ++i) {
        uint8_t* p = out.data() + layout.data_section + layout.tensors[i].data_offset;
        for (uint64_t b = 0; b < sizes[i]; ++b) p[b] = static_cast<uint8_t>(b * 31 + i * 7 + 1);
    }
    return image;
}

GgufBuilder valid_builder() {
    using V = GgufValue;
    GgufBuilder b;
    b.add("general.architecture", V::string("llama"));
    b.add("general.name", V::string("hostile-test"));
    b.add("general.alignment", V::u32(32));
    b.add("llama.context_length", V::u32(128));
    b.add("llama.rope.freq_base", V::f32(10000.0f));
    b.add("general.quantized", V::boolean(1));
    b.add("test.u64", V::u64(uint64_t{1} << 40));
    b.add("test.i32", V::i32(-5));
    b.add("tokenizer.ggml.tokens",
          V::array(kString, {V::string("<s>"), V::string("</s>"), V::string("a"), V::string("")}));
    b.add("tokenizer.ggml.scores",
          V::array(kFloat32, {V::f32(0), V::f32(-1), V::f32(-2.5f), V::f32(-3)}));
    b.add("tokenizer.ggml.token_type",
          V::array(kInt32, {V::i32(3), V::i32(3), V::i32(1), V::i32(1)}));
    b.add("test.flags", V::array(kBool, {V::boolean(0), V::boolean(1)}));
    b.add("test.nested", V::array(kArray, {V::array(kUint8, {V::u8(1), V::u8(2)}),
                                           V::array(kString, {V::string("x")}),
                                           V::array(kArray, {V::array(kBool, {V::boolean(1)})})}));
    b.add("test.empty", V::array(kUint64, {}));
    b.add_tensor(tensor("token_embd.weight", {8, 4}, kF32));
    b.add_tensor(tensor("blk.0.attn_q.weight", {64, 2}, kQ4_0));
    b.add_tensor(tensor("blk.0.ffn_down.weight", {32, 3}, kQ8_0));
    b.add_tensor(tensor("output_norm.weight", {8}, kF16));
    return b;
}

std::vector<HostileCase> hostile_corpus() {
    using V = GgufValue;
    std::vector<HostileCase> corpus;
    const GgufImage valid = valid_builder().build();
    const GgufLayout& base = valid.layout;

    // A case made by changing the valid builder: `edit` changes it, `expect` reads the offset
    // from the resulting layout.
    auto edited = [&](std::string name, auto edit, std::string fault, auto expect) {
        GgufBuilder b = valid_builder();
        edit(b);
        GgufImage image = b.build();
        const uint64_t offset = expect(b, image.layout);
        corpus.push_back({std::move(name), std::move(image.bytes), std::move(fault), offset});
    };
    // A case whose fault is one added key with this value; the error is at `offset_in_value`
    // bytes past the value's start (or at its type id when `at_type` is set).
    auto bad_value = [&](std::string name, GgufValue value, std::string fault,
                         uint64_t offset_in_value, bool at_type = false) {
        edited(
            std::move(name), [&](GgufBuilder& b) { b.add("test.bad", value); }, std::move(fault),
            [&](const GgufBuilder& b, const GgufLayout& l) {
                const auto& kv = l.kvs[b.index_of("test.bad")];
                return at_type ? kv.type_at : kv.value_at + offset_in_value;
            });
    };
    auto bad_alignment = [&](std::string name, GgufValue value, std::string fault) {
        edited(
            std::move(name), [&](GgufBuilder& b) { b.value("general.alignment") = value; },
            std::move(fault),
            [&](const GgufBuilder& b, const GgufLayout& l) {
                return l.kvs[b.index_of("general.alignment")].type_at;
            });
    };
    auto bad_tensor = [&](std::string name, size_t index, auto edit, std::string fault,
                          auto expect) {
        edited(
            std::move(name), [&](GgufBuilder& b) { edit(b.tensors[index]); }, std::move(fault),
            [&](const GgufBuilder&, const GgufLayout& l) { return expect(l.tensors[index]); });
    };
    auto info_at = [](const GgufLayout::Tensor& t) { return t.info_at; };
    auto n_dims_at = [](const GgufLayout::Tensor& t) { return t.n_dims_at; };

    // The header.
    corpus.push_back({"empty", {}, "the file is empty", 0});
    corpus.push_back({"magic-only", prefix(valid.bytes, 4), "truncated: version", 4});
    corpus.push_back({"header-truncated", prefix(valid.bytes, 12), "truncated: tensor count", 8});
    edited(
        "bad-magic",
        [](GgufBuilder& b) {
            b.magic = 0x4c4d4747; /* "GGML" */
        },
        "not a GGUF file", [](auto&, auto&) { return 0; });
    edited(
        "version-1", [](GgufBuilder& b) { b.version = 1; }, "GGUF version 1 is not supported",
        [](auto&, auto&) { return 4; });
    edited(
        "version-4", [](GgufBuilder& b) { b.version = 4; }, "unsupported GGUF version 4",
        [](auto&, auto&) { return 4; });
    edited(
        "big-endian", [](GgufBuilder& b) { b.version = 0x03000000; }, "big-endian",
        [](auto&, auto&) { return 4; });
    edited(
        "kv-count-billion", [](GgufBuilder& b) { b.kv_count = 1'000'000'000; },
        "metadata count 1000000000 is larger than the rest of the file",
        [](auto&, const GgufLayout& l) { return l.kv_count_at; });
    edited(
        "tensor-count-billion", [](GgufBuilder& b) { b.tensor_count = 1'000'000'000; },
        "tensor count 1000000000 is larger than the rest of the file",
        [](auto&, const GgufLayout& l) { return l.tensor_count_at; });
    edited(
        "counts-max", [](GgufBuilder& b) { b.tensor_count = b.kv_count = UINT64_MAX; },
        "metadata count 18446744073709551615 is larger than the rest of the file",
        [](auto&, const GgufLayout& l) { return l.kv_count_at; });

    // Keys.
    {
        GgufImage image = valid;
        image.patch_u64(base.kvs[1].key_at, uint64_t{1} << 40);
        corpus.push_back({"key-length-past-end", std::move(image.bytes),
                          "metadata key length 1099511627776 is larger than the rest of the file",
                          base.kvs[1].key_at});
    }
    edited(
        "key-empty", [](GgufBuilder& b) { b.add("", V::u32(1)); }, "metadata key 14 is empty",
        [](auto&, const GgufLayout& l) { return l.kvs[14].key_at; });
    edited(
        "key-duplicate", [](GgufBuilder& b) { b.add("general.name", V::string("again")); },
        "duplicate metadata key 'general.name'",
        [](auto&, const GgufLayout& l) { return l.kvs.back().key_at; });

    // Values.
    bad_value("value-type-13", V{13, {0, 0, 0, 0}}, "key 'test.bad': unknown value type 13", 0,
              true);
    bad_value("value-type-2^31", V{0x80000000u, {}}, "unknown value type 2147483648", 0, true);
    {
        V huge{kString, {}};
        put<uint64_t>(huge.bytes, uint64_t{1} << 63);
        huge.bytes.insert(huge.bytes.end(), {'a', 'b', 'c'});
        bad_value("string-length-2^63", huge,
                  "string value length 9223372036854775808 is larger than the rest of the file", 0);
    }
    bad_value("bool-2", V::boolean(2), "bool value is 2, not 0 or 1", 0);
    bad_value("bool-array-element-2",
              V::array(kBool, {V::boolean(1), V::boolean(0), V::boolean(2)}),
              "bool array element 2 is 2, not 0 or 1", 12 + 2);
    bad_value("array-element-type-unknown", V::array(77, {}), "unknown array element type 77", 0);
    bad_value("nested-array-element-type-unknown",
              V::array(kArray, {V::array(kUint8, {V::u8(1)}), V::array(99, {})}),
              "unknown array element type 99", 12 + 13);
    bad_value("array-uint64-count-2^60", V::array(kUint64, {V::u64(1)}, uint64_t{1} << 60),
              "array of 1152921504606846976 uint64 elements is larger than the rest of the file",
              4);
    bad_value("array-string-count-2^62", V::array(kString, {V::string("a")}, uint64_t{1} << 62),
              "array of 4611686018427387904 string elements is larger than the rest of the file",
              4);
    bad_value("array-of-arrays-count-2^59", V::array(kArray, {V::nested(1)}, uint64_t{1} << 59),
              "array of 576460752303423488 array elements is larger than the rest of the file", 4);
    bad_value("nested-array-count-2^62",
              V::array(kArray, {V::nested(1), V::array(kUint8, {V::u8(1)}, uint64_t{1} << 62)}),
              "array of 4611686018427387904 uint8 elements is larger than the rest of the file",
              12 + 12 + 4);
    bad_value("array-nesting-9", V::nested(9), "arrays nested deeper than 8 levels", 12 * 8);
    bad_value("array-nesting-1000", V::nested(1000), "arrays nested deeper than 8 levels", 12 * 8);

    // general.alignment.
    bad_alignment("alignment-0", V::u32(0), "general.alignment 0 must be a power of two");
    bad_alignment("alignment-3", V::u32(3), "general.alignment 3 must be a power of two");
    bad_alignment("alignment-2^31", V::u32(0x80000000u),
                  "general.alignment 2147483648 must be a power of two between 1 and 1048576");
    bad_alignment("alignment-string", V::string("32"),
                  "general.alignment is string, must be uint32");
    bad_alignment("alignment-uint64", V::u64(32), "general.alignment is uint64, must be uint32");
    bad_alignment("alignment-int32", V::i32(32), "general.alignment is int32, must be uint32");
    bad_alignment("alignment-array", V::array(kUint32, {V::u32(32)}),
                  "general.alignment is array, must be uint32");

    // Tensor infos.
    {
        GgufImage image = valid;
        image.patch_u64(base.tensors[0].info_at, uint64_t{1} << 50);
        corpus.push_back({"tensor-name-length-past-end", std::move(image.bytes),
                          "tensor name length 1125899906842624 is larger than the rest of the file",
                          base.tensors[0].info_at});
    }
    bad_tensor(
        "tensor-name-empty", 1, [](GgufTensor& t) { t.name = ""; }, "tensor 1 has an empty name",
        info_at);
    bad_tensor(
        "tensor-name-duplicate", 3, [](GgufTensor& t) { t.name = "token_embd.weight"; },
        "duplicate tensor name 'token_embd.weight'", info_at);
    bad_tensor(
        "tensor-dims-0", 0, [](GgufTensor& t) { t.n_dims = 0; },
        "tensor 'token_embd.weight' has 0 dimensions (must be 1 to 4)", n_dims_at);
    bad_tensor(
        "tensor-dims-5", 0,
        [](GgufTensor& t) {
            t.dims = {8, 4, 1, 1, 1};
        },
        "tensor 'token_embd.weight' has 5 dimensions (must be 1 to 4)", n_dims_at);
    bad_tensor(
        "tensor-dims-2^32", 0, [](GgufTensor& t) { t.n_dims = 0xffffffffu; },
        "has 4294967295 dimensions", n_dims_at);
    bad_tensor(
        "tensor-dim-zero", 0,
        [](GgufTensor& t) {
            t.dims = {8, 0};
        },
        "tensor 'token_embd.weight' dimension 1 is zero",
        [](const GgufLayout::Tensor& t) { return t.dim_at[1]; });
    bad_tensor(
        "tensor-dims-2^40x2^40", 0,
        [](GgufTensor& t) {
            t.dims = {uint64_t{1} << 40, uint64_t{1} << 40};
        },
        "the product of its dimensions overflows",
        [](const GgufLayout::Tensor& t) { return t.dim_at[1]; });
    bad_tensor(
        "tensor-dim-2^63", 0, [](GgufTensor& t) { t.dims = {uint64_t{1} << 63}; },
        "the product of its dimensions overflows",
        [](const GgufLayout::Tensor& t) { return t.dim_at[0]; });
    bad_tensor(
        "tensor-bytes-overflow", 0, [](GgufTensor& t) { t.dims = {uint64_t{1} << 62}; },
        "its size in bytes overflows", n_dims_at);
    bad_tensor(
        "tensor-type-4", 0, [](GgufTensor& t) { t.type = 4; },
        "tensor 'token_embd.weight' has unknown type 4",
        [](const GgufLayout::Tensor& t) { return t.type_at; });
    bad_tensor(
        "tensor-type-2^31", 0, [](GgufTensor& t) { t.type = 0x80000000u; },
        "has unknown type 2147483648", [](const GgufLayout::Tensor& t) { return t.type_at; });
    bad_tensor(
        "q4_0-row-33", 1,
        [](GgufTensor& t) {
            t.dims = {33, 2};
        },
        "tensor 'blk.0.attn_q.weight': row length 33 is not a whole number of q4_0 blocks "
        "of 32",
        n_dims_at);
    bad_tensor(
        "q4_K-row-64", 1, [](GgufTensor& t) { t.type = kQ4_K; },
        "row length 64 is not a whole number of q4_K blocks of 256", n_dims_at);

    // Tensor data.
    bad_tensor(
        "q4_0-billion-blocks", 3,
        [](GgufTensor& t) {
            t.dims = {32, 1'000'000'000};
            t.type = kQ4_0;
        },
        "tensor 'output_norm.weight' data (18000000000 bytes at data offset", info_at);
    bad_tensor(
        "tensor-offset-1", 1, [](GgufTensor& t) { t.offset = 1; },
        "tensor 'blk.0.attn_q.weight' data offset 1 is not a multiple of the alignment 32",
        info_at);
    edited(
        "tensor-offset-32-alignment-64",
        [](GgufBuilder& b) {
            b.alignment = 64;
            b.value("general.alignment") = V::u32(64);
            b.tensors[2].offset = 32 * 3;
        },
        "data offset 96 is not a multiple of the alignment 64",
        [](auto&, const GgufLayout& l) { return l.tensors[2].info_at; });
    bad_tensor(
        "tensor-offset-past-end", 2, [](GgufTensor& t) { t.offset = uint64_t{1} << 40; },
        "runs past the end of the file", info_at);
    bad_tensor(
        "tensor-offset-2^64-32", 2, [](GgufTensor& t) { t.offset = UINT64_MAX - 31; },
        "runs past the end of the file", info_at);
    edited(
        "tensors-same-offset",
        [](GgufBuilder& b) { b.tensors[2].offset = b.build().layout.tensors[1].data_offset; },
        "tensor 'blk.0.ffn_down.weight' data overlaps tensor 'blk.0.attn_q.weight'",
        [](auto&, const GgufLayout& l) { return l.tensors[2].info_at; });
    edited(
        "tensors-overlap",  // the q4_0 tensor is 72 bytes long
        [](GgufBuilder& b) { b.tensors[2].offset = b.build().layout.tensors[1].data_offset + 32; },
        "tensor 'blk.0.ffn_down.weight' data overlaps tensor 'blk.0.attn_q.weight'",
        [](auto&, const GgufLayout& l) { return l.tensors[2].info_at; });
    {
        std::vector<uint8_t> bytes = valid.bytes;
        bytes.pop_back();
        corpus.push_back({"tensor-data-one-byte-short", std::move(bytes),
                          "tensor 'output_norm.weight' data (16 bytes at data offset",
                          base.tensors[3].info_at});
    }
    {
        // Cut right after the tensor infos, where the header does not end on the alignment, so
        // the data section would start past the end of the file.
        GgufBuilder b = valid_builder();
        GgufImage image = b.build();
        for (size_t pad = 0; image.layout.header_end % b.alignment == 0; ++pad) {
            b.value("test.pad") = V::string(std::string(pad, 'x'));
            image = b.build();
        }
        const uint64_t end = image.layout.header_end;
        corpus.push_back({"data-section-past-end", prefix(image.bytes, end),
                          "truncated: the tensor data section should start at byte " +
                              std::to_string(image.layout.data_section),
                          end});
    }
    return corpus;
}

std::vector<ValidCase> valid_corpus() {
    using V = GgufValue;
    std::vector<ValidCase> corpus;
    auto add = [&](std::string name, GgufBuilder b) {
        corpus.push_back({std::move(name), b.build().bytes});
    };
    add("valid", valid_builder());
    {
        GgufBuilder b = valid_builder();
        b.version = 2;
        add("version-2", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.alignment = 64;
        b.value("general.alignment") = V::u32(64);
        add("alignment-64", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.alignment = 1;
        b.value("general.alignment") = V::u32(1);
        add("alignment-1", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.metadata.erase(b.metadata.begin() +
                         static_cast<std::ptrdiff_t>(b.index_of("general.alignment")));
        add("alignment-default", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.add("test.deep", V::nested(8));
        add("array-nesting-8", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.tensors[0].dims = {2, 1, 3, 1};
        b.tensors[1].dims = {32, 1};
        add("four-dims-and-one-block", b);
    }
    {
        GgufBuilder b = valid_builder();
        b.tensors.clear();
        add("no-tensors", b);
    }
    {
        GgufBuilder b;
        add("nothing", b);
    }
    {
        // Declared in another order than stored; the reader must not assume ascending offsets.
        GgufBuilder b = valid_builder();
        b.tensors[3].dims = b.tensors[0].dims;  // same size, so that they can swap places
        b.tensors[3].type = b.tensors[0].type;
        const GgufImage image = b.build();
        b.tensors[0].offset = image.layout.tensors[3].data_offset;
        b.tensors[3].offset = image.layout.tensors[0].data_offset;
        add("tensors-out-of-order", b);
    }
    return corpus;
}

}  // namespace tessera::test

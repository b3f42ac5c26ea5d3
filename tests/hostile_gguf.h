// A GGUF byte-image builder for tests, and the corpus of hostile files made with it: one file per
// fault the reader must reject, each with the error text and the byte offset it must report.
//
// The builder writes every field verbatim, so any field can hold a value no valid file has: a
// count that is not the true count, an unknown type id, an offset that is not the computed one.
// build() also records where each field landed, so that a case can name the offset its error
// must report without counting bytes by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::test {

// One encoded metadata value: its on-disk type id and the bytes that follow the id.
struct GgufValue {
    uint32_t type = 0;
    std::vector<uint8_t> bytes;

    static GgufValue u8(uint8_t v);
    static GgufValue u32(uint32_t v);
    static GgufValue i32(int32_t v);
    static GgufValue u64(uint64_t v);
    static GgufValue f32(float v);
    static GgufValue boolean(uint8_t raw);  // raw: any byte, so that 2 can be stored
    static GgufValue string(std::string_view s);
    // An array of `elements`, all of `element_type` (their own type ids are not written, as on
    // disk). `count` is written instead of the true element count when given.
    static GgufValue array(uint32_t element_type, const std::vector<GgufValue>& elements,
                           std::optional<uint64_t> count = {});
    // `levels` arrays, each the only element of the one around it; the innermost is empty.
    static GgufValue nested(int levels);
};

struct GgufTensor {
    std::string name;
    std::vector<uint64_t> dims;      // ggml order: dims[0] is the row length
    uint32_t type = 0;               // ggml type id (0: f32)
    std::optional<uint32_t> n_dims;  // written instead of dims.size() when given
    std::optional<uint64_t> offset;  // written instead of the offset where the data lies
    // Bytes stored for the tensor. Default: what its type and dims need, or none when the type is
    // unknown, the dims are invalid or the size is over 1 MiB (a hostile shape stores no data).
    std::optional<uint64_t> data_bytes;
};

// Where build() put each field.
struct GgufLayout {
    struct KeyValue {
        uint64_t key_at = 0;    // the key's length field
        uint64_t type_at = 0;   // the value type id
        uint64_t value_at = 0;  // the value's first byte, after the type id
    };
    struct Tensor {
        uint64_t info_at = 0;  // the name's length field
        uint64_t n_dims_at = 0;
        std::vector<uint64_t> dim_at;
        uint64_t type_at = 0;
        uint64_t offset_at = 0;
        uint64_t data_offset = 0;  // where its bytes lie, from the start of the data section
    };
    uint64_t tensor_count_at = 8;
    uint64_t kv_count_at = 16;
    std::vector<KeyValue> kvs;
    std::vector<Tensor> tensors;
    uint64_t header_end = 0;    // just after the last tensor info
    uint64_t data_section = 0;  // header_end rounded up to the builder's alignment
};

struct GgufImage {
    std::vector<uint8_t> bytes;
    GgufLayout layout;

    // Overwrites a little-endian field in place.
    void patch_u32(uint64_t at, uint32_t value);
    void patch_u64(uint64_t at, uint64_t value);
};

class GgufBuilder {
  public:
    uint32_t magic = 0x46554747;  // "GGUF"
    uint32_t version = 3;
    std::optional<uint64_t> tensor_count;  // written instead of the true counts when given
    std::optional<uint64_t> kv_count;
    // How the builder pads the data section and places tensors. general.alignment is a key like
    // any other: set it to match, or not, as the case needs.
    uint64_t alignment = 32;
    std::vector<std::pair<std::string, GgufValue>> metadata;
    std::vector<GgufTensor> tensors;

    GgufBuilder& add(std::string key, GgufValue value);
    GgufBuilder& add_tensor(GgufTensor tensor);
    // The value of the first entry named `key`; adds the key when absent.
    GgufValue& value(std::string_view key);
    // The index of the first entry named `key` (for GgufLayout::kvs); throws when absent.
    size_t index_of(std::string_view key) const;

    // Header, tensor infos, padding, then each tensor's bytes (a fixed pattern) at its place. The
    // file ends at the end of the last tensor's data, without padding after it.
    GgufImage build() const;
};

// A valid little model file: metadata of every value type, including nested arrays and the
// general.alignment key, and tensors of several types and shapes. Every hostile case is this file
// with one fault.
GgufBuilder valid_builder();

struct HostileCase {
    std::string name;  // also usable as a file name
    std::vector<uint8_t> bytes;
    std::string fault;  // text the error must contain
    uint64_t offset;    // the byte the error must name
};

// One case per fault the reader must reject.
std::vector<HostileCase> hostile_corpus();

struct ValidCase {
    std::string name;
    std::vector<uint8_t> bytes;
};

// Valid files that sit next to the faults (alignment 64, arrays nested to the depth limit, a
// q4_0 row of 32, version 2, ...), so that the faults are known to be what makes the reader refuse.
std::vector<ValidCase> valid_corpus();

}  // namespace tessera::test

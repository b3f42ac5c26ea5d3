// Reading a GGUF file (versions 2 and 3): metadata, tensor infos, and tensor data that is
// memory-mapped with zero copies (or read into a buffer where mapping is not wanted).
//
// Every byte is bounds-checked: a file from a stranger either parses into a consistent File or
// throws tessera::Error naming the file, the byte offset and the fault. No count read from the
// file causes an allocation larger than a small multiple of the file's size.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf/value.h"
#include "formats/quant/tensor_type.h"

namespace tessera::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr uint64_t kMaxAlignment = 1 << 20;  // more than any real file uses
inline constexpr uint32_t kMaxDims = 4;

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> shape;  // ggml order: shape[0] is the row length (innermost)
    quant::TensorType type;
    uint64_t offset = 0;  // from the start of the data section
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
    uint64_t info_offset = 0;  // where its info starts in the file, for error messages
};

struct OpenOptions {
    bool use_mmap = true;  // false: read the whole file into memory
};

class File {
  public:
    // Opens and validates a file. Throws tessera::Error on any fault.
    static File open(const std::string& path, OpenOptions options = {});
    // Parses bytes already in memory (copied), named `name` in errors. Used by the fuzzer and
    // tests.
    static File parse(std::span<const uint8_t> bytes, std::string name);

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    const std::string& path() const;
    uint32_t version() const;
    uint64_t alignment() const;
    uint64_t data_offset() const;  // where the data section starts
    uint64_t file_size() const;

    const std::vector<KeyValue>& metadata() const;
    const Value* find(std::string_view key) const;  // nullptr when absent
    // Typed reads that throw tessera::Error, naming the file and key, when the key is missing or
    // has another type.
    const Value& get(std::string_view key) const;
    std::string get_string(std::string_view key) const;
    uint64_t get_uint(std::string_view key) const;
    int64_t get_int(std::string_view key) const;
    double get_float(std::string_view key) const;
    bool get_bool(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const;
    const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent
    const TensorInfo& tensor(std::string_view name) const;       // throws when absent
    // The tensor's bytes, inside the mapping (or buffer); valid while the File lives.
    std::span<const uint8_t> tensor_data(const TensorInfo& info) const;
    // The whole file's bytes.
    std::span<const uint8_t> bytes() const;

  private:
    struct Impl;
    explicit File(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::gguf

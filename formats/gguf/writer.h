// Writing a GGUF file (version 3). Tensor data streams through: the writer holds only the
// metadata and tensor infos, and each tensor's bytes are written as they come. It writes to
// "TARGET.tmp-PID" and renames that onto TARGET in finish(), so an interrupted write never
// leaves a half file under the target name.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf/value.h"
#include "formats/quant/tensor_type.h"

namespace tessera::gguf {

struct TensorSpec {
    std::string name;
    std::vector<uint64_t> shape;  // ggml order
    quant::TensorType type;
};

class Writer {
  public:
    explicit Writer(std::string path, uint64_t alignment = 32);
    ~Writer();  // removes the temporary file unless finish() succeeded
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Header content, all before the first write_tensor_data(). Keys and tensor names must be
    // unique; general.alignment is written from the constructor's alignment.
    void add(std::string key, Value value);
    void add_tensor(TensorSpec spec);

    // Writes the header, then expects each added tensor's bytes in order of add_tensor().
    void write_header();
    // Appends bytes of the current tensor; may be called several times per tensor. Padding
    // between tensors is written automatically once a tensor's bytes are complete.
    void write_tensor_data(std::span<const uint8_t> bytes);
    // Checks that every tensor got exactly its bytes, flushes, and renames into place.
    void finish();

    // Bytes of a tensor with this spec (throws on a shape that is not whole blocks).
    static uint64_t tensor_bytes(const TensorSpec& spec);

  private:
    void write_raw(const void* data, size_t size);

    std::string path_;
    std::string tmp_path_;
    uint64_t alignment_;
    std::vector<KeyValue> metadata_;
    std::vector<TensorSpec> tensors_;
    std::vector<uint64_t> tensor_sizes_;
    std::FILE* out_ = nullptr;
    bool header_written_ = false;
    bool finished_ = false;
    size_t current_tensor_ = 0;
    uint64_t current_written_ = 0;
};

}  // namespace tessera::gguf

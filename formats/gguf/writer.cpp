#include "formats/gguf/writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "formats/error.h"
#include "formats/gguf/file.h"

namespace tessera::gguf {

namespace {
constexpr uint32_t kWriteVersion = 3;
}

Writer::Writer(std::string path, uint64_t alignment)
    : path_(std::move(path)), alignment_(alignment) {
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > kMaxAlignment) {
        throw Error(path_ + ": alignment " + std::to_string(alignment_) +
                    " must be a power of two up to " + std::to_string(kMaxAlignment));
    }
    tmp_path_ = path_ + ".tmp-" + std::to_string(::getpid());
    if (alignment_ != kDefaultAlignment) {
        add("general.alignment", Value::from_uint(ValueType::UINT32, alignment_));
    }
}

Writer::~Writer() {
    if (out_ != nullptr) std::fclose(out_);
    if (!finished_ && header_written_) std::remove(tmp_path_.c_str());
}

void Writer::add(std::string key, Value value) {
    if (header_written_) throw Error(path_ + ": metadata '" + key + "' added after the header");
    if (key == "general.alignment") {
        // The data is padded to the constructor's alignment; a key saying otherwise would make
        // readers look for every tensor in the wrong place.
        if (value.type() != ValueType::UINT32 || value.raw_bits() != alignment_) {
            throw Error(path_ + ": general.alignment " + value.to_string() +
                        " differs from the writer's alignment " + std::to_string(alignment_) +
                        " (pass the alignment to the Writer instead)");
        }
        // Copying it from another file's metadata is harmless once the constructor added it.
        for (const KeyValue& kv : metadata_) {
            if (kv.key == key) return;
        }
    }
    for (const KeyValue& kv : metadata_) {
        if (kv.key == key) throw Error(path_ + ": duplicate metadata key '" + key + "'");
    }
    metadata_.push_back({std::move(key), std::move(value)});
}

uint64_t Writer::tensor_bytes(const TensorSpec& spec) {
    const quant::TypeInfo* type = quant::type_info(static_cast<uint32_t>(spec.type));
    if (type == nullptr) {
        throw Error("tensor '" + spec.name + "' has unknown type " +
                    std::to_string(static_cast<uint32_t>(spec.type)));
    }
    const quant::TypeInfo& info = *type;
    if (spec.shape.empty() || spec.shape.size() > kMaxDims) {
        throw Error("tensor '" + spec.name + "' has " + std::to_string(spec.shape.size()) +
                    " dimensions (must be 1 to 4)");
    }
    if (spec.shape[0] % info.block_size != 0) {
        throw Error("tensor '" + spec.name + "': row length " + std::to_string(spec.shape[0]) +
                    " is not a whole number of " + std::string(info.name) + " blocks");
    }
    uint64_t n = 1;
    for (uint64_t d : spec.shape) {
        if (d == 0 || d > static_cast<uint64_t>(INT64_MAX) / n) {
            throw Error("tensor '" + spec.name + "' has a zero or overflowing dimension");
        }
        n *= d;
    }
    if (n / info.block_size > UINT64_MAX / info.block_bytes) {
        throw Error("tensor '" + spec.name + "': its size in bytes overflows");
    }
    return n / info.block_size * info.block_bytes;
}

void Writer::add_tensor(TensorSpec spec) {
    if (header_written_) throw Error(path_ + ": tensor '" + spec.name + "' added after the header");
    for (const TensorSpec& t : tensors_) {
        if (t.name == spec.name) throw Error(path_ + ": duplicate tensor name '" + spec.name + "'");
    }
    tensor_sizes_.push_back(tensor_bytes(spec));
    tensors_.push_back(std::move(spec));
}

void Writer::write_raw(const void* data, size_t size) {
    if (size != 0 && std::fwrite(data, 1, size, out_) != size) {
        throw Error(tmp_path_ + ": write failed: " + std::strerror(errno));
    }
}

namespace {
// Appends raw bytes. resize + memcpy rather than insert: GCC 12 at -O2 reports a false
// -Wstringop-overflow for small range inserts into a vector.
void put_bytes(std::vector<uint8_t>& out, const void* data, size_t size) {
    const size_t at = out.size();
    out.resize(at + size);
    if (size != 0) std::memcpy(out.data() + at, data, size);
}

template <typename T>
void put(std::vector<uint8_t>& out, T value) {
    put_bytes(out, &value, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

void put_value(std::vector<uint8_t>& out, const Value& value);

// A scalar's bits are its on-disk bits, sign- or zero-extended: the low bytes are the value.
void put_scalar(std::vector<uint8_t>& out, ValueType type, uint64_t bits) {
    put_bytes(out, &bits, scalar_bytes(type));  // little-endian
}

void put_array(std::vector<uint8_t>& out, const Value& value) {
    put<uint32_t>(out, static_cast<uint32_t>(value.element_type()));
    put<uint64_t>(out, value.array_size());
    if (value.element_type() == ValueType::STRING) {
        for (const std::string& s : value.as_string_array("")) put_string(out, s);
    } else if (value.element_type() == ValueType::ARRAY) {
        for (const Value& v : value.as_array_array("")) put_array(out, v);
    } else {
        const auto& bytes = value.raw_scalars();
        out.insert(out.end(), bytes.begin(), bytes.end());
    }
}

void put_value(std::vector<uint8_t>& out, const Value& value) {
    if (value.type() == ValueType::STRING) {
        put_string(out, value.as_string(""));
    } else if (value.type() == ValueType::ARRAY) {
        put_array(out, value);
    } else {
        put_scalar(out, value.type(), value.raw_bits());
    }
}
}  // namespace

void Writer::write_header() {
    if (header_written_) throw Error(path_ + ": header written twice");
    std::vector<uint8_t> header;
    put<uint32_t>(header, kMagic);
    put<uint32_t>(header, kWriteVersion);
    put<uint64_t>(header, tensors_.size());
    put<uint64_t>(header, metadata_.size());
    for (const KeyValue& kv : metadata_) {
        put_string(header, kv.key);
        put<uint32_t>(header, static_cast<uint32_t>(kv.value.type()));
        put_value(header, kv.value);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorSpec& t = tensors_[i];
        put_string(header, t.name);
        put<uint32_t>(header, static_cast<uint32_t>(t.shape.size()));
        for (uint64_t d : t.shape) put<uint64_t>(header, d);
        put<uint32_t>(header, static_cast<uint32_t>(t.type));
        put<uint64_t>(header, offset);
        offset += (tensor_sizes_[i] + alignment_ - 1) / alignment_ * alignment_;
    }
    header.resize((header.size() + alignment_ - 1) / alignment_ * alignment_, 0);

    out_ = std::fopen(tmp_path_.c_str(), "wb");
    if (out_ == nullptr) {
        throw Error(tmp_path_ + ": cannot create: " + std::strerror(errno));
    }
    header_written_ = true;
    write_raw(header.data(), header.size());
}

void Writer::write_tensor_data(std::span<const uint8_t> bytes) {
    if (!header_written_) throw Error(path_ + ": tensor data written before the header");
    while (!bytes.empty()) {
        if (current_tensor_ >= tensors_.size()) {
            throw Error(path_ + ": more tensor data than the tensors hold");
        }
        const uint64_t size = tensor_sizes_[current_tensor_];
        const uint64_t take = std::min<uint64_t>(size - current_written_, bytes.size());
        write_raw(bytes.data(), static_cast<size_t>(take));
        bytes = bytes.subspan(static_cast<size_t>(take));
        current_written_ += take;
        if (current_written_ == size) {
            static constexpr uint8_t kZeros[64] = {};
            uint64_t pad = (alignment_ - size % alignment_) % alignment_;
            while (pad > 0) {
                const uint64_t n = std::min<uint64_t>(pad, sizeof kZeros);
                write_raw(kZeros, static_cast<size_t>(n));
                pad -= n;
            }
            ++current_tensor_;
            current_written_ = 0;
        }
    }
}

void Writer::finish() {
    if (!header_written_) write_header();
    if (current_tensor_ != tensors_.size()) {
        throw Error(path_ + ": tensor '" + tensors_[current_tensor_].name + "' got " +
                    std::to_string(current_written_) + " of its " +
                    std::to_string(tensor_sizes_[current_tensor_]) + " bytes");
    }
    const bool flushed = std::fflush(out_) == 0 && ::fsync(::fileno(out_)) == 0;
    const bool closed = std::fclose(out_) == 0;
    out_ = nullptr;
    if (!flushed || !closed) throw Error(tmp_path_ + ": write failed: " + std::strerror(errno));
    std::error_code error;
    std::filesystem::rename(tmp_path_, path_, error);
    if (error)
        throw Error(path_ + ": cannot rename the finished file into place: " + error.message());
    finished_ = true;
}

}  // namespace tessera::gguf

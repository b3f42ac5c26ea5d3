#include "formats/gguf/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "formats/error.h"

namespace tessera::gguf {

static_assert(std::endian::native == std::endian::little,
              "tessera reads GGUF on little-endian hosts");

namespace {

// The most memory that metadata may take, as a multiple of the file's size (plus a constant for
// tiny files). Strings and nested arrays cost more in memory than on disk; this bounds what a
// hostile file can make the reader allocate.
constexpr uint64_t kMetadataMemoryFactor = 8;
constexpr uint64_t kMetadataMemorySlack = 1 << 20;
constexpr int kMaxArrayDepth = 8;
// What one entry of a name index (an unordered_map node and its bucket) costs, roughly.
constexpr uint64_t kIndexEntryBytes = 64;
// The smallest on-disk sizes, used to reject counts that cannot fit in the rest of the file.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;            // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

std::string system_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// Owns the file's bytes: a read-only mapping or a heap copy.
class Bytes {
  public:
    Bytes() = default;
    Bytes(const Bytes&) = delete;
    Bytes& operator=(const Bytes&) = delete;
    ~Bytes() {
        if (mapped_ != nullptr) munmap(mapped_, size_);
    }

    static std::unique_ptr<Bytes> map_or_read(const std::string& path, bool use_mmap) {
        auto bytes = std::make_unique<Bytes>();
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw Error(system_error(path + ": cannot open"));
        struct FdCloser {
            int fd;
            ~FdCloser() { ::close(fd); }
        } closer{fd};
        struct stat st {};
        if (fstat(fd, &st) != 0) throw Error(system_error(path + ": cannot stat"));
        if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
        bytes->size_ = static_cast<size_t>(st.st_size);
        // An empty file cannot be mapped; parse() reports it like any other short file.
        if (bytes->size_ == 0) return bytes;
        if (use_mmap) {
            void* p = mmap(nullptr, bytes->size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                bytes->mapped_ = p;
                return bytes;
            }
            // Some file systems cannot map; reading works everywhere.
        }
        bytes->copy_.resize(bytes->size_);
        size_t done = 0;
        while (done < bytes->size_) {
            const ssize_t got = ::pread(fd, bytes->copy_.data() + done, bytes->size_ - done,
                                        static_cast<off_t>(done));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw Error(system_error(path + ": read failed"));
            if (got == 0) throw Error(path + ": the file shrank while it was read");
            done += static_cast<size_t>(got);
        }
        return bytes;
    }

    static std::unique_ptr<Bytes> copy_of(std::span<const uint8_t> data) {
        auto bytes = std::make_unique<Bytes>();
        bytes->copy_.assign(data.begin(), data.end());
        bytes->size_ = data.size();
        return bytes;
    }

    std::span<const uint8_t> span() const {
        if (mapped_ != nullptr) return {static_cast<const uint8_t*>(mapped_), size_};
        return {copy_.data(), size_};
    }

  private:
    void* mapped_ = nullptr;
    size_t size_ = 0;
    std::vector<uint8_t> copy_;
};

// A bounds-checked reader over the file's bytes. Every read names its offset on failure.
class Cursor {
  public:
    Cursor(std::span<const uint8_t> data, const std::string& path, uint64_t memory_budget)
        : data_(data), path_(path), memory_left_(memory_budget) {}

    uint64_t offset() const { return offset_; }
    uint64_t remaining() const { return data_.size() - offset_; }

    [[noreturn]] void fail(uint64_t at, const std::string& what) const {
        throw file_error(path_, at, what);
    }

    void need(uint64_t n, const char* what) const {
        if (n > remaining()) {
            fail(offset_, std::string("truncated: ") + what + " needs " + std::to_string(n) +
                              " bytes, only " + std::to_string(remaining()) + " remain");
        }
    }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T value;
        std::memcpy(&value, data_.data() + offset_, sizeof(T));
        offset_ += sizeof(T);
        return value;
    }

    // Counts memory that parsing will allocate, against the budget.
    void charge(uint64_t bytes, uint64_t at) {
        if (bytes > memory_left_) {
            fail(at, "metadata would need more memory than " +
                         std::to_string(kMetadataMemoryFactor) +
                         "x the file's size; refusing a file built to exhaust memory");
        }
        memory_left_ -= bytes;
    }

    std::string read_string(const char* what) {
        const uint64_t at = offset_;
        const auto length = read<uint64_t>(what);
        if (length > remaining()) {
            fail(at, std::string(what) + " length " + std::to_string(length) +
                         " is larger than the rest of the file (" + std::to_string(remaining()) +
                         " bytes)");
        }
        charge(sizeof(std::string) + length, at);
        std::string s(reinterpret_cast<const char*>(data_.data() + offset_),
                      static_cast<size_t>(length));
        offset_ += length;
        return s;
    }

    std::span<const uint8_t> read_bytes(uint64_t n, const char* what) {
        need(n, what);
        auto span = data_.subspan(static_cast<size_t>(offset_), static_cast<size_t>(n));
        offset_ += n;
        return span;
    }

  private:
    std::span<const uint8_t> data_;
    const std::string& path_;
    uint64_t offset_ = 0;
    uint64_t memory_left_;
};

bool known_value_type(uint32_t raw) {
    return raw <= static_cast<uint32_t>(ValueType::FLOAT64);
}

Value read_value(Cursor& cursor, ValueType type, const std::string& key, int depth);

Value read_scalar(Cursor& cursor, ValueType type) {
    switch (type) {
        case ValueType::UINT8:
            return Value::from_uint(type, cursor.read<uint8_t>("uint8 value"));
        case ValueType::INT8:
            return Value::from_int(type, cursor.read<int8_t>("int8 value"));
        case ValueType::UINT16:
            return Value::from_uint(type, cursor.read<uint16_t>("uint16 value"));
        case ValueType::INT16:
            return Value::from_int(type, cursor.read<int16_t>("int16 value"));
        case ValueType::UINT32:
            return Value::from_uint(type, cursor.read<uint32_t>("uint32 value"));
        case ValueType::INT32:
            return Value::from_int(type, cursor.read<int32_t>("int32 value"));
        case ValueType::UINT64:
            return Value::from_uint(type, cursor.read<uint64_t>("uint64 value"));
        case ValueType::INT64:
            return Value::from_int(type, cursor.read<int64_t>("int64 value"));
        case ValueType::FLOAT32:
            return Value::from_raw(type, cursor.read<uint32_t>("float32 value"));
        case ValueType::FLOAT64:
            return Value::from_raw(type, cursor.read<uint64_t>("float64 value"));
        case ValueType::BOOL: {
            const uint64_t at = cursor.offset();
            const auto b = cursor.read<uint8_t>("bool value");
            if (b > 1) cursor.fail(at, "bool value is " + std::to_string(b) + ", not 0 or 1");
            return Value::from_uint(type, b);
        }
        default:
            return {};
    }
}

Value read_array(Cursor& cursor, const std::string& key, int depth) {
    const uint64_t at = cursor.offset();
    if (depth >= kMaxArrayDepth) {
        cursor.fail(at, "key '" + key + "': arrays nested deeper than " +
                            std::to_string(kMaxArrayDepth) + " levels");
    }
    const auto raw_type = cursor.read<uint32_t>("array element type");
    if (!known_value_type(raw_type)) {
        cursor.fail(at,
                    "key '" + key + "': unknown array element type " + std::to_string(raw_type));
    }
    const auto element_type = static_cast<ValueType>(raw_type);
    const uint64_t count_at = cursor.offset();
    const auto count = cursor.read<uint64_t>("array length");
    // The smallest an element can be on disk: a scalar's size, a string's length field, or a
    // nested array's type and length.
    const uint64_t min_element_bytes = element_type == ValueType::STRING ? 8
                                       : element_type == ValueType::ARRAY
                                           ? 12
                                           : scalar_bytes(element_type);
    if (count > cursor.remaining() / min_element_bytes) {
        cursor.fail(count_at, "key '" + key + "': array of " + std::to_string(count) + " " +
                                  std::string(value_type_name(element_type)) +
                                  " elements is larger than the rest of the file (" +
                                  std::to_string(cursor.remaining()) + " bytes)");
    }
    if (element_type == ValueType::STRING) {
        cursor.charge(count * sizeof(std::string), count_at);
        std::vector<std::string> strings;
        strings.reserve(static_cast<size_t>(count));
        for (uint64_t i = 0; i < count; ++i) strings.push_back(cursor.read_string("array string"));
        return Value::from_string_array(std::move(strings));
    }
    if (element_type == ValueType::ARRAY) {
        cursor.charge(count * sizeof(Value), count_at);
        std::vector<Value> arrays;
        arrays.reserve(static_cast<size_t>(count));
        for (uint64_t i = 0; i < count; ++i) arrays.push_back(read_array(cursor, key, depth + 1));
        return Value::from_array_array(std::move(arrays));
    }
    const uint64_t n_bytes = count * scalar_bytes(element_type);
    const uint64_t data_at = cursor.offset();
    auto bytes = cursor.read_bytes(n_bytes, "array data");
    if (element_type == ValueType::BOOL) {
        for (size_t i = 0; i < bytes.size(); ++i) {
            if (bytes[i] > 1) {
                cursor.fail(data_at + i, "key '" + key + "': bool array element " +
                                             std::to_string(i) + " is " + std::to_string(bytes[i]) +
                                             ", not 0 or 1");
            }
        }
    }
    return Value::from_scalar_array(element_type, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

Value read_value(Cursor& cursor, ValueType type, const std::string& key, int depth) {
    if (type == ValueType::STRING) return Value::from_string(cursor.read_string("string value"));
    if (type == ValueType::ARRAY) return read_array(cursor, key, depth);
    return read_scalar(cursor, type);
}

uint64_t align_up(uint64_t offset, uint64_t alignment) {
    return (offset + alignment - 1) / alignment * alignment;
}

}  // namespace

struct File::Impl {
    std::string path;
    std::unique_ptr<Bytes> bytes;
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;
    std::vector<KeyValue> metadata;
    std::unordered_map<std::string_view, size_t> key_index;
    std::vector<TensorInfo> tensors;
    std::unordered_map<std::string_view, size_t> tensor_index;

    void parse();
    void check_tensor_layout(Cursor& cursor);
};

void File::Impl::parse() {
    const auto data = bytes->span();
    const uint64_t budget = kMetadataMemoryFactor * data.size() + kMetadataMemorySlack;
    Cursor cursor(data, path, budget);

    if (data.empty()) cursor.fail(0, "the file is empty, not a GGUF file");
    const auto magic = cursor.read<uint32_t>("magic");
    if (magic != kMagic) {
        cursor.fail(0, "not a GGUF file (the magic is not \"GGUF\")");
    }
    version = cursor.read<uint32_t>("version");
    if (version == 1) cursor.fail(4, "GGUF version 1 is not supported (only 2 and 3)");
    if (version != 2 && version != 3) {
        if (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3) {
            cursor.fail(4, "big-endian GGUF files are not supported");
        }
        cursor.fail(
            4, "unsupported GGUF version " + std::to_string(version) + " (supported: 2 and 3)");
    }
    const uint64_t n_tensors_at = cursor.offset();
    const auto n_tensors = cursor.read<uint64_t>("tensor count");
    const uint64_t n_kv_at = cursor.offset();
    const auto n_kv = cursor.read<uint64_t>("metadata count");
    if (n_kv > cursor.remaining() / kMinKeyValueBytes) {
        cursor.fail(n_kv_at, "metadata count " + std::to_string(n_kv) +
                                 " is larger than the rest of the file could hold");
    }
    if (n_tensors > cursor.remaining() / kMinTensorInfoBytes) {
        cursor.fail(n_tensors_at, "tensor count " + std::to_string(n_tensors) +
                                      " is larger than the rest of the file could hold");
    }

    // The vectors and indexes sized by the counts count against the budget too.
    cursor.charge(n_kv * (sizeof(KeyValue) + kIndexEntryBytes), n_kv_at);
    cursor.charge(n_tensors * (sizeof(TensorInfo) + kIndexEntryBytes), n_tensors_at);
    metadata.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t at = cursor.offset();
        std::string key = cursor.read_string("metadata key");
        if (key.empty()) cursor.fail(at, "metadata key " + std::to_string(i) + " is empty");
        const uint64_t type_at = cursor.offset();
        const auto raw_type = cursor.read<uint32_t>("value type");
        if (!known_value_type(raw_type)) {
            cursor.fail(type_at,
                        "key '" + key + "': unknown value type " + std::to_string(raw_type));
        }
        Value value = read_value(cursor, static_cast<ValueType>(raw_type), key, 0);
        if (key_index.contains(key)) cursor.fail(at, "duplicate metadata key '" + key + "'");
        metadata.push_back({std::move(key), std::move(value)});
        if (metadata.back().key == "general.alignment") {
            const Value& v = metadata.back().value;
            if (v.type() != ValueType::UINT32) {
                cursor.fail(type_at, "general.alignment is " +
                                         std::string(value_type_name(v.type())) +
                                         ", must be uint32");
            }
            const uint64_t a = v.raw_bits();
            if (a == 0 || !std::has_single_bit(a) || a > kMaxAlignment) {
                cursor.fail(type_at, "general.alignment " + std::to_string(a) +
                                         " must be a power of two between 1 and " +
                                         std::to_string(kMaxAlignment));
            }
            alignment = a;
        }
        // Index after the push: the string_view points into the stored key. The vector was
        // reserved, so it never reallocates and the views stay valid.
        key_index.emplace(metadata.back().key, metadata.size() - 1);
    }

    tensors.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo info;
        info.info_offset = cursor.offset();
        info.name = cursor.read_string("tensor name");
        if (info.name.empty()) {
            cursor.fail(info.info_offset, "tensor " + std::to_string(i) + " has an empty name");
        }
        const uint64_t dims_at = cursor.offset();
        const auto n_dims = cursor.read<uint32_t>("dimension count");
        if (n_dims == 0 || n_dims > kMaxDims) {
            cursor.fail(dims_at, "tensor '" + info.name + "' has " + std::to_string(n_dims) +
                                     " dimensions (must be 1 to " + std::to_string(kMaxDims) + ")");
        }
        uint64_t n_elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t dim_at = cursor.offset();
            const auto dim = cursor.read<uint64_t>("dimension");
            if (dim == 0) {
                cursor.fail(dim_at, "tensor '" + info.name + "' dimension " + std::to_string(d) +
                                        " is zero");
            }
            if (dim > static_cast<uint64_t>(INT64_MAX) / n_elements) {
                cursor.fail(dim_at, "tensor '" + info.name +
                                        "': the product of its dimensions overflows at dimension " +
                                        std::to_string(d) + " (" + std::to_string(dim) + ")");
            }
            n_elements *= dim;
            info.shape.push_back(dim);
        }
        const uint64_t type_at = cursor.offset();
        const auto raw_type = cursor.read<uint32_t>("tensor type");
        const quant::TypeInfo* type = quant::type_info(raw_type);
        if (type == nullptr) {
            cursor.fail(type_at,
                        "tensor '" + info.name + "' has unknown type " + std::to_string(raw_type));
        }
        info.type = type->type;
        if (info.shape[0] % type->block_size != 0) {
            cursor.fail(dims_at, "tensor '" + info.name + "': row length " +
                                     std::to_string(info.shape[0]) + " is not a whole number of " +
                                     std::string(type->name) + " blocks of " +
                                     std::to_string(type->block_size));
        }
        info.n_elements = n_elements;
        // n_elements <= INT64_MAX and block_bytes/block_size <= 8, but check the product anyway.
        const uint64_t n_blocks = n_elements / type->block_size;
        if (n_blocks > UINT64_MAX / type->block_bytes) {
            cursor.fail(dims_at, "tensor '" + info.name + "': its size in bytes overflows");
        }
        info.n_bytes = n_blocks * type->block_bytes;
        info.offset = cursor.read<uint64_t>("tensor offset");
        if (tensor_index.contains(info.name)) {
            cursor.fail(info.info_offset, "duplicate tensor name '" + info.name + "'");
        }
        tensors.push_back(std::move(info));
        tensor_index.emplace(tensors.back().name, tensors.size() - 1);
    }

    data_offset = align_up(cursor.offset(), alignment);
    check_tensor_layout(cursor);
}

void File::Impl::check_tensor_layout(Cursor& cursor) {
    const uint64_t file_size = bytes->span().size();
    if (tensors.empty()) return;
    if (data_offset > file_size) {
        cursor.fail(file_size, "truncated: the tensor data section should start at byte " +
                                   std::to_string(data_offset));
    }
    const uint64_t data_size = file_size - data_offset;
    std::vector<const TensorInfo*> by_offset;
    by_offset.reserve(tensors.size());
    for (const TensorInfo& t : tensors) {
        if (t.offset % alignment != 0) {
            cursor.fail(t.info_offset, "tensor '" + t.name + "' data offset " +
                                           std::to_string(t.offset) + " is not a multiple of " +
                                           "the alignment " + std::to_string(alignment));
        }
        if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
            cursor.fail(t.info_offset, "tensor '" + t.name + "' data (" +
                                           std::to_string(t.n_bytes) + " bytes at data offset " +
                                           std::to_string(t.offset) +
                                           ") runs past the end of the file (data section is " +
                                           std::to_string(data_size) + " bytes)");
        }
        by_offset.push_back(&t);
    }
    // Ties go to the tensor declared first, so that the error names the same tensor every time.
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->offset != b->offset ? a->offset < b->offset : a->info_offset < b->info_offset;
    });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const TensorInfo& prev = *by_offset[i - 1];
        const TensorInfo& next = *by_offset[i];
        if (next.offset < prev.offset + prev.n_bytes) {
            cursor.fail(next.info_offset,
                        "tensor '" + next.name + "' data overlaps tensor '" + prev.name + "'");
        }
    }
}

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path, OpenOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->bytes = Bytes::map_or_read(path, options.use_mmap);
    impl->parse();
    return File(std::move(impl));
}

File File::parse(std::span<const uint8_t> bytes, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->bytes = Bytes::copy_of(bytes);
    impl->parse();
    return File(std::move(impl));
}

const std::string& File::path() const {
    return impl_->path;
}
uint32_t File::version() const {
    return impl_->version;
}
uint64_t File::alignment() const {
    return impl_->alignment;
}
uint64_t File::data_offset() const {
    return impl_->data_offset;
}
uint64_t File::file_size() const {
    return impl_->bytes->span().size();
}
const std::vector<KeyValue>& File::metadata() const {
    return impl_->metadata;
}
const std::vector<TensorInfo>& File::tensors() const {
    return impl_->tensors;
}
std::span<const uint8_t> File::bytes() const {
    return impl_->bytes->span();
}

const Value* File::find(std::string_view key) const {
    auto it = impl_->key_index.find(key);
    return it == impl_->key_index.end() ? nullptr : &impl_->metadata[it->second].value;
}

const Value& File::get(std::string_view key) const {
    const Value* value = find(key);
    if (value == nullptr) {
        throw Error(impl_->path + ": metadata key '" + std::string(key) + "' is missing");
    }
    return *value;
}

namespace {
// Runs a typed read of `key`, turning a missing key or a type mismatch into an error that names
// the file.
template <typename F>
auto read_key(const File& file, std::string_view key, F&& read) {
    const Value* value = file.find(key);
    if (value == nullptr) {
        throw Error(file.path() + ": metadata key '" + std::string(key) + "' is missing");
    }
    try {
        return read(*value);
    } catch (const Error& e) {
        throw Error(file.path() + ": " + e.what());
    }
}
}  // namespace

std::string File::get_string(std::string_view key) const {
    return read_key(*this, key, [&](const Value& v) { return v.as_string(key); });
}
uint64_t File::get_uint(std::string_view key) const {
    return read_key(*this, key, [&](const Value& v) { return v.as_uint(key); });
}
int64_t File::get_int(std::string_view key) const {
    return read_key(*this, key, [&](const Value& v) { return v.as_int(key); });
}
double File::get_float(std::string_view key) const {
    return read_key(*this, key, [&](const Value& v) { return v.as_float(key); });
}
bool File::get_bool(std::string_view key) const {
    return read_key(*this, key, [&](const Value& v) { return v.as_bool(key); });
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
    const TensorInfo* info = find_tensor(name);
    if (info == nullptr) {
        throw Error(impl_->path + ": tensor '" + std::string(name) + "' is missing");
    }
    return *info;
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& info) const {
    // The layout check at open guarantees the range is inside the file.
    return bytes().subspan(static_cast<size_t>(impl_->data_offset + info.offset),
                           static_cast<size_t>(info.n_bytes));
}

}  // namespace tessera::gguf

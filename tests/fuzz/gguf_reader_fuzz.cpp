// libFuzzer target for the GGUF reader. Any input either parses into a File whose every value and
// tensor byte can be read without leaving the file, or is rejected with a tessera::Error in the
// "NAME: at byte N: WHAT" form, N inside the file. Anything else -- a crash, a sanitizer report,
// another exception, a malformed error -- is a bug, and aborts so that libFuzzer saves the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "formats/error.h"
#include "formats/gguf/file.h"

namespace {

using tessera::gguf::File;
using tessera::gguf::Value;
using tessera::gguf::ValueType;

constexpr const char* kName = "fuzz.gguf";

[[noreturn]] void bug(const std::string& what) {
    std::fprintf(stderr, "gguf_reader_fuzz: %s\n", what.c_str());
    std::abort();
}

void require(bool ok, const std::string& what) {
    if (!ok) bug(what);
}

// Runs a typed read that may legitimately refuse; only a tessera::Error is a refusal.
template <typename Read>
void try_read(Read&& read) {
    try {
        read();
    } catch (const tessera::Error&) {
    }
}

// Reads a value every way there is, so that a malformed Value shows up as a sanitizer report.
uint64_t touch_value(const Value& value, const std::string& key) {
    uint64_t sum = value.to_string().size() + value.to_string(1000).size();
    try_read([&] { sum += value.as_uint(key); });
    try_read([&] { sum += static_cast<uint64_t>(value.as_int(key)); });
    try_read([&] { sum += static_cast<uint64_t>(value.as_float(key) != 0); });
    try_read([&] { sum += value.as_bool(key); });
    try_read([&] { sum += value.as_string(key).size(); });
    if (value.type() != ValueType::ARRAY) return sum;

    const size_t n = value.array_size();
    for (size_t i = 0; i < n; ++i) {
        if (value.element_type() != ValueType::ARRAY) sum += touch_value(value.element(i), key);
    }
    try_read([&] { value.element(n); });  // out of range: must throw, not read
    try_read([&] {
        for (const std::string& s : value.as_string_array(key)) sum += s.size();
    });
    try_read([&] { sum += value.as_float_array(key).size(); });
    try_read([&] { sum += value.as_int_array(key).size(); });
    try_read([&] {
        for (const Value& inner : value.as_array_array(key)) sum += touch_value(inner, key);
    });
    return sum;
}

void check_error(const tessera::Error& error, size_t size) {
    const std::string message = error.what();
    const std::string head = std::string(kName) + ": at byte ";
    if (message.rfind(head, 0) != 0) bug("error without the file and offset: " + message);
    size_t end = head.size();
    uint64_t offset = 0;
    while (end < message.size() && message[end] >= '0' && message[end] <= '9') {
        offset = offset * 10 + static_cast<uint64_t>(message[end++] - '0');
    }
    if (end == head.size() || message.compare(end, 2, ": ") != 0 || end + 2 == message.size()) {
        bug("error not in the form 'FILE: at byte N: WHAT': " + message);
    }
    if (offset > size) bug("error names a byte past the end of the file: " + message);
}

void touch_file(const File& file, std::span<const uint8_t> input) {
    uint64_t sum = 0;
    for (const auto& kv : file.metadata()) {
        require(file.find(kv.key) == &kv.value, "a key does not find its value: " + kv.key);
        sum += touch_value(kv.value, kv.key);
        try_read([&] { sum += file.get_string(kv.key).size(); });
        try_read([&] { sum += file.get_uint(kv.key); });
        try_read([&] { sum += static_cast<uint64_t>(file.get_int(kv.key)); });
        try_read([&] { sum += static_cast<uint64_t>(file.get_float(kv.key) != 0); });
        try_read([&] { sum += file.get_bool(kv.key); });
    }

    const auto bytes = file.bytes();
    require(bytes.size() == input.size() && file.file_size() == input.size(),
            "the file's bytes are not the input");
    require(file.alignment() != 0 && file.data_offset() % file.alignment() == 0,
            "the data section is not aligned");
    for (const auto& t : file.tensors()) {
        require(file.find_tensor(t.name) == &t, "a tensor name does not find its info: " + t.name);
        require(!t.shape.empty() && t.shape.size() <= tessera::gguf::kMaxDims,
                "bad dimension count: " + t.name);
        require(t.offset % file.alignment() == 0, "unaligned tensor: " + t.name);
        const auto data = file.tensor_data(t);
        require(data.size() == t.n_bytes, "tensor data has the wrong size: " + t.name);
        require(
            data.data() >= bytes.data() && data.data() + data.size() <= bytes.data() + bytes.size(),
            "tensor data outside the file: " + t.name);
        for (uint8_t b : data) sum += b;  // reads every byte, so ASan sees any overrun
    }
    // Keeps the reads from being optimized away.
    if (sum == 0xfeedfacecafebeefull) std::fputs("", stderr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> input(data, size);
    try {
        const File file = File::parse(input, kName);
        touch_file(file, input);
    } catch (const tessera::Error& error) {
        check_error(error, size);
    }
    // Any other exception escapes, and libFuzzer reports it as a crash: the reader promises
    // tessera::Error and nothing else. std::bad_alloc in particular means the memory budget let a
    // count from the file through.
    return 0;
}

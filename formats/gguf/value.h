// A GGUF metadata value: a scalar, a string, or an array (of scalars, strings or arrays).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::gguf {

// The on-disk value type ids.
enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

// "uint32", "string", ...; "unknown" for ids outside the enum.
std::string_view value_type_name(ValueType type);
// Bytes of one scalar of this type on disk; 0 for STRING and ARRAY.
uint32_t scalar_bytes(ValueType type);

// Arrays are stored compactly by element kind: scalars as their little-endian bytes, strings as
// strings, nested arrays as Values. A file's metadata therefore costs about as much memory as
// its bytes on disk.
class Value {
  public:
    Value() = default;
    static Value from_uint(ValueType type, uint64_t v);  // UINT8 ... UINT64, BOOL
    static Value from_int(ValueType type, int64_t v);    // INT8 ... INT64
    static Value from_float(ValueType type, double v);   // FLOAT32 (rounded), FLOAT64
    // Any scalar type, from the bits raw_bits() returns: keeps NaN payloads exact.
    static Value from_raw(ValueType type, uint64_t bits);
    static Value from_string(std::string v);
    // An array of scalars of `element_type`, given as their little-endian bytes.
    static Value from_scalar_array(ValueType element_type, std::vector<uint8_t> bytes);
    static Value from_string_array(std::vector<std::string> strings);
    static Value from_array_array(std::vector<Value> arrays);
    // Convenience for writers.
    static Value from_float_array(const std::vector<float>& values);
    static Value from_int32_array(const std::vector<int32_t>& values);

    ValueType type() const { return type_; }
    bool is_integer() const;  // any of the eight integer types
    bool is_float() const { return type_ == ValueType::FLOAT32 || type_ == ValueType::FLOAT64; }

    // Typed reads. Each throws tessera::Error naming `key` when the stored type does not fit:
    // integers convert only when the value is in range, floats accept any numeric type.
    uint64_t as_uint(std::string_view key) const;
    int64_t as_int(std::string_view key) const;
    double as_float(std::string_view key) const;
    bool as_bool(std::string_view key) const;
    const std::string& as_string(std::string_view key) const;

    // Arrays. Reads check the element type and throw like the scalar reads.
    ValueType element_type() const { return element_type_; }
    size_t array_size() const;
    Value element(size_t index) const;  // a copy of one element
    const std::vector<std::string>& as_string_array(std::string_view key) const;
    std::vector<float> as_float_array(std::string_view key) const;
    std::vector<int64_t> as_int_array(std::string_view key) const;
    const std::vector<Value>& as_array_array(std::string_view key) const;

    // Raw storage, for writers: a scalar's bits (two's complement for signed types, the IEEE
    // bits of its own width for floats), and an array's element bytes.
    uint64_t raw_bits() const { return bits_; }
    const std::vector<uint8_t>& raw_scalars() const { return scalars_; }

    // A short human-readable rendering; arrays longer than `max_elements` are elided.
    std::string to_string(size_t max_elements = 8) const;

    bool operator==(const Value& other) const = default;

  private:
    ValueType type_ = ValueType::UINT8;
    ValueType element_type_ = ValueType::UINT8;  // for ARRAY
    uint64_t bits_ = 0;
    std::string string_;
    std::vector<uint8_t> scalars_;
    std::vector<std::string> strings_;
    std::vector<Value> arrays_;
};

struct KeyValue {
    std::string key;
    Value value;
};

}  // namespace tessera::gguf

#include "formats/gguf/value.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>

#include "formats/error.h"

namespace tessera::gguf {

std::string_view value_type_name(ValueType type) {
    switch (type) {
        case ValueType::UINT8:
            return "uint8";
        case ValueType::INT8:
            return "int8";
        case ValueType::UINT16:
            return "uint16";
        case ValueType::INT16:
            return "int16";
        case ValueType::UINT32:
            return "uint32";
        case ValueType::INT32:
            return "int32";
        case ValueType::FLOAT32:
            return "float32";
        case ValueType::BOOL:
            return "bool";
        case ValueType::STRING:
            return "string";
        case ValueType::ARRAY:
            return "array";
        case ValueType::UINT64:
            return "uint64";
        case ValueType::INT64:
            return "int64";
        case ValueType::FLOAT64:
            return "float64";
    }
    return "unknown";
}

uint32_t scalar_bytes(ValueType type) {
    switch (type) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::BOOL:
            return 1;
        case ValueType::UINT16:
        case ValueType::INT16:
            return 2;
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::FLOAT32:
            return 4;
        case ValueType::UINT64:
        case ValueType::INT64:
        case ValueType::FLOAT64:
            return 8;
        case ValueType::STRING:
        case ValueType::ARRAY:
            return 0;
    }
    return 0;
}

namespace {
bool is_unsigned(ValueType type) {
    return type == ValueType::UINT8 || type == ValueType::UINT16 || type == ValueType::UINT32 ||
           type == ValueType::UINT64 || type == ValueType::BOOL;
}
bool is_signed(ValueType type) {
    return type == ValueType::INT8 || type == ValueType::INT16 || type == ValueType::INT32 ||
           type == ValueType::INT64;
}
bool is_scalar(ValueType type) {
    return scalar_bytes(type) != 0;
}

std::string describe(ValueType type, ValueType element_type) {
    std::string out(value_type_name(type));
    if (type == ValueType::ARRAY) out += " of " + std::string(value_type_name(element_type));
    return out;
}

Error type_mismatch(std::string_view key, std::string_view wanted, const Value& value) {
    return Error("metadata key '" + std::string(key) + "' is " +
                 describe(value.type(), value.element_type()) + ", expected " +
                 std::string(wanted));
}

// Decodes one little-endian scalar of `type` into Value bits. Floats keep their own bits: a
// float-to-double conversion would quiet a signaling NaN, and a copied file would differ.
uint64_t load_bits(ValueType type, const uint8_t* p) {
    uint64_t raw = 0;
    std::memcpy(&raw, p, scalar_bytes(type));  // little-endian host assumed (checked in file.cpp)
    switch (type) {
        case ValueType::INT8:
            return static_cast<uint64_t>(int64_t{static_cast<int8_t>(raw)});
        case ValueType::INT16:
            return static_cast<uint64_t>(int64_t{static_cast<int16_t>(raw)});
        case ValueType::INT32:
            return static_cast<uint64_t>(int64_t{static_cast<int32_t>(raw)});
        default:
            return raw;
    }
}

double float_of_bits(ValueType type, uint64_t bits) {
    if (type == ValueType::FLOAT32) return std::bit_cast<float>(static_cast<uint32_t>(bits));
    return std::bit_cast<double>(bits);
}
}  // namespace

Value Value::from_uint(ValueType type, uint64_t v) {
    Value value;
    value.type_ = type;
    value.bits_ = v;
    return value;
}

Value Value::from_int(ValueType type, int64_t v) {
    Value value;
    value.type_ = type;
    value.bits_ = static_cast<uint64_t>(v);
    return value;
}

Value Value::from_float(ValueType type, double v) {
    Value value;
    value.type_ = type;
    value.bits_ = type == ValueType::FLOAT32 ? std::bit_cast<uint32_t>(static_cast<float>(v))
                                             : std::bit_cast<uint64_t>(v);
    return value;
}

Value Value::from_raw(ValueType type, uint64_t bits) {
    Value value;
    value.type_ = type;
    value.bits_ = bits;
    return value;
}

Value Value::from_string(std::string v) {
    Value value;
    value.type_ = ValueType::STRING;
    value.string_ = std::move(v);
    return value;
}

Value Value::from_scalar_array(ValueType element_type, std::vector<uint8_t> bytes) {
    if (!is_scalar(element_type) || bytes.size() % scalar_bytes(element_type) != 0) {
        throw Error("an array of " + std::string(value_type_name(element_type)) + " cannot hold " +
                    std::to_string(bytes.size()) + " bytes");
    }
    Value value;
    value.type_ = ValueType::ARRAY;
    value.element_type_ = element_type;
    value.scalars_ = std::move(bytes);
    return value;
}

Value Value::from_string_array(std::vector<std::string> strings) {
    Value value;
    value.type_ = ValueType::ARRAY;
    value.element_type_ = ValueType::STRING;
    value.strings_ = std::move(strings);
    return value;
}

Value Value::from_array_array(std::vector<Value> arrays) {
    Value value;
    value.type_ = ValueType::ARRAY;
    value.element_type_ = ValueType::ARRAY;
    value.arrays_ = std::move(arrays);
    return value;
}

Value Value::from_float_array(const std::vector<float>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(float));
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return from_scalar_array(ValueType::FLOAT32, std::move(bytes));
}

Value Value::from_int32_array(const std::vector<int32_t>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(int32_t));
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return from_scalar_array(ValueType::INT32, std::move(bytes));
}

bool Value::is_integer() const {
    return type_ != ValueType::BOOL && (is_unsigned(type_) || is_signed(type_));
}

uint64_t Value::as_uint(std::string_view key) const {
    if (type_ != ValueType::BOOL && is_unsigned(type_)) return bits_;
    if (is_signed(type_)) {
        const auto v = static_cast<int64_t>(bits_);
        if (v >= 0) return bits_;
        throw Error("metadata key '" + std::string(key) + "' is negative (" + std::to_string(v) +
                    "), expected an unsigned integer");
    }
    throw type_mismatch(key, "an unsigned integer", *this);
}

int64_t Value::as_int(std::string_view key) const {
    if (is_signed(type_)) return static_cast<int64_t>(bits_);
    if (type_ != ValueType::BOOL && is_unsigned(type_)) {
        if (bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            throw Error("metadata key '" + std::string(key) + "' (" + std::to_string(bits_) +
                        ") does not fit in int64");
        }
        return static_cast<int64_t>(bits_);
    }
    throw type_mismatch(key, "an integer", *this);
}

double Value::as_float(std::string_view key) const {
    if (is_float()) return float_of_bits(type_, bits_);
    if (is_signed(type_)) return static_cast<double>(static_cast<int64_t>(bits_));
    if (type_ != ValueType::BOOL && is_unsigned(type_)) return static_cast<double>(bits_);
    throw type_mismatch(key, "a number", *this);
}

bool Value::as_bool(std::string_view key) const {
    if (type_ != ValueType::BOOL) throw type_mismatch(key, "bool", *this);
    return bits_ != 0;
}

const std::string& Value::as_string(std::string_view key) const {
    if (type_ != ValueType::STRING) throw type_mismatch(key, "string", *this);
    return string_;
}

size_t Value::array_size() const {
    if (type_ != ValueType::ARRAY) return 0;
    if (element_type_ == ValueType::STRING) return strings_.size();
    if (element_type_ == ValueType::ARRAY) return arrays_.size();
    return scalars_.size() / scalar_bytes(element_type_);
}

Value Value::element(size_t index) const {
    if (type_ != ValueType::ARRAY || index >= array_size()) {
        throw Error("array element " + std::to_string(index) + " is out of range (size " +
                    std::to_string(array_size()) + ")");
    }
    if (element_type_ == ValueType::STRING) return from_string(strings_[index]);
    if (element_type_ == ValueType::ARRAY) return arrays_[index];
    Value value;
    value.type_ = element_type_;
    value.bits_ = load_bits(element_type_, scalars_.data() + index * scalar_bytes(element_type_));
    return value;
}

const std::vector<std::string>& Value::as_string_array(std::string_view key) const {
    if (type_ != ValueType::ARRAY || element_type_ != ValueType::STRING) {
        throw type_mismatch(key, "array of string", *this);
    }
    return strings_;
}

std::vector<float> Value::as_float_array(std::string_view key) const {
    if (type_ != ValueType::ARRAY || !is_scalar(element_type_) ||
        element_type_ == ValueType::BOOL) {
        throw type_mismatch(key, "array of numbers", *this);
    }
    const size_t n = array_size();
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(element(i).as_float(key));
    return out;
}

std::vector<int64_t> Value::as_int_array(std::string_view key) const {
    if (type_ != ValueType::ARRAY || !is_scalar(element_type_) ||
        element_type_ == ValueType::BOOL || element_type_ == ValueType::FLOAT32 ||
        element_type_ == ValueType::FLOAT64) {
        throw type_mismatch(key, "array of integers", *this);
    }
    const size_t n = array_size();
    std::vector<int64_t> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = element(i).as_int(key);
    return out;
}

const std::vector<Value>& Value::as_array_array(std::string_view key) const {
    if (type_ != ValueType::ARRAY || element_type_ != ValueType::ARRAY) {
        throw type_mismatch(key, "array of array", *this);
    }
    return arrays_;
}

std::string Value::to_string(size_t max_elements) const {
    switch (type_) {
        case ValueType::BOOL:
            return bits_ != 0 ? "true" : "false";
        case ValueType::FLOAT32:
        case ValueType::FLOAT64: {
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%g", float_of_bits(type_, bits_));
            return buffer;
        }
        case ValueType::STRING: {
            std::string out = "\"";
            constexpr size_t kMaxChars = 60;
            for (size_t i = 0; i < string_.size() && i < kMaxChars; ++i) {
                const char c = string_[i];
                if (c == '\n') {
                    out += "\\n";
                } else if (c == '"' || c == '\\') {
                    out += '\\';
                    out += c;
                } else if (static_cast<unsigned char>(c) < 0x20) {
                    out += '?';
                } else {
                    out += c;
                }
            }
            if (string_.size() > kMaxChars) out += "...";
            return out + "\"";
        }
        case ValueType::ARRAY: {
            const size_t n = array_size();
            std::string out = "[";
            for (size_t i = 0; i < n && i < max_elements; ++i) {
                if (i > 0) out += ", ";
                // Nested arrays render in place: element() would copy each whole subtree, once
                // per level of nesting.
                out += element_type_ == ValueType::ARRAY ? arrays_[i].to_string(max_elements)
                                                         : element(i).to_string(max_elements);
            }
            if (n > max_elements) out += ", ... (" + std::to_string(n) + " in all)";
            return out + "]";
        }
        default:
            if (is_signed(type_)) return std::to_string(static_cast<int64_t>(bits_));
            return std::to_string(bits_);
    }
}

}  // namespace tessera::gguf

// The PyPI gguf package as the reference for codec tests: rows go to files in temp_dir(), through
// tests/refgen/gguf_quants.py (run by test::python()), and back.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/test_paths.h"

namespace tessera::test {

// A shell command line running python() with these arguments, each single-quoted.
inline std::string python_command(std::initializer_list<std::string_view> arguments) {
    std::string command;
    auto append_quoted = [&command](std::string_view word) {
        if (!command.empty()) command += ' ';
        command += '\'';
        for (const char c : word) {
            if (c == '\'') {
                command += "'\\''";
            } else {
                command += c;
            }
        }
        command += '\'';
    };
    append_quoted(python());
    for (const std::string_view word : arguments) append_quoted(word);
    return command;
}

// The path of a script in tests/refgen/.
inline std::string refgen_script(std::string_view name) {
    std::string path = source_dir();
    path += "/tests/refgen/";
    path += name;
    return path;
}

// Why gguf-py cannot run here (for GTEST_SKIP), or an empty string when it can.
inline std::string gguf_py_unavailable() {
    const std::string interpreter = python();
    if (!std::filesystem::exists(interpreter)) {
        return "no Python at " + interpreter + " (run scripts/setup.sh or set TESSERA_PYTHON)";
    }
    if (run(python_command({"-c", "import gguf, numpy"}) + " 2>/dev/null") != 0) {
        return interpreter + " cannot import gguf and numpy (run scripts/setup.sh)";
    }
    return "";
}

namespace detail {

inline void write_bytes(const std::string& path, const void* data, size_t size) {
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs gguf_quants.py OP TYPE on `input` and returns what it wrote.
inline std::vector<uint8_t> run_gguf_quants(std::string_view op, std::string_view type,
                                            const void* input, size_t input_size) {
    const std::string dir = temp_dir();
    const std::string in_path = dir + "/in.bin";
    const std::string out_path = dir + "/out.bin";
    write_bytes(in_path, input, input_size);
    const std::string command =
        python_command({refgen_script("gguf_quants.py"), op, type, in_path, out_path});
    if (run(command) != 0) throw std::runtime_error("reference failed: " + command);
    return read_bytes(out_path);
}

}  // namespace detail

// gguf.quants.quantize(values, TYPE) as bytes.
inline std::vector<uint8_t> gguf_py_quantize(std::string_view type, std::span<const float> values) {
    return detail::run_gguf_quants("quantize", type, values.data(), values.size_bytes());
}

// gguf.quants.dequantize(bytes, TYPE) as floats.
inline std::vector<float> gguf_py_dequantize(std::string_view type,
                                             std::span<const uint8_t> bytes) {
    const auto raw = detail::run_gguf_quants("dequantize", type, bytes.data(), bytes.size());
    if (raw.size() % sizeof(float) != 0) throw std::runtime_error("reference: odd output size");
    std::vector<float> values(raw.size() / sizeof(float));
    if (!raw.empty()) std::memcpy(values.data(), raw.data(), raw.size());
    return values;
}

}  // namespace tessera::test

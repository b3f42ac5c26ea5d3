// The one error type of the library. Every failure carries what failed and where: the file,
// the byte offset, the tensor or the op. The library throws it and never aborts, exits or
// prints; the tools and the C API turn it into a message and an exit status.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "FILE: at byte OFFSET: WHAT", the format every format-layer error uses.
inline Error file_error(const std::string& path, uint64_t offset, const std::string& what) {
    return Error(path + ": at byte " + std::to_string(offset) + ": " + what);
}

}  // namespace tessera

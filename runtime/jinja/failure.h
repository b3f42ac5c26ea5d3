// A runtime or syntax failure inside the Jinja interpreter that does not yet know where in the
// template it happened. The parser and the interpreter catch it at the node being evaluated and
// rethrow it as tessera::Error "NAME:LINE: what"; it never leaves the library.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera::jinja {

class Failure : public std::runtime_error {
  public:
    explicit Failure(const std::string& what) : std::runtime_error(what) {}
};

// Joins the pieces of a message by appending. ("literal" + a temporary std::string makes
// GCC 12 warn falsely about overlapping copies.)
template <typename... Pieces>
std::string concat(const Pieces&... pieces) {
    std::string out;
    (out += ... += pieces);
    return out;
}

}  // namespace tessera::jinja

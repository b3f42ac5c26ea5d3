// Python's json.dumps, which transformers' `tojson` filter is: keys in insertion order unless
// sorted, ensure_ascii off by default, optional indent and separators, Python's float repr.
#pragma once

#include <optional>
#include <string>

#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

struct JsonOptions {
    bool ensure_ascii = false;
    std::optional<std::string> indent;          // nothing: one line; else the text of one level
    std::optional<std::string> item_separator;  // default ", " (or "," when indented)
    std::optional<std::string> key_separator;   // default ": "
    bool sort_keys = false;
};

// Throws Failure "Object of type X is not JSON serializable" and "Circular reference detected"
// as Python does.
std::string to_json(const Value& value, const JsonOptions& options, Budget& budget);

}  // namespace tessera::jinja

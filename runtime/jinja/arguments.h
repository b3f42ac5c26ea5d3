// The arguments of a call, filter or test (`f(1, x=2)`), and their binding to a Python-style
// signature.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/jinja/value.h"

namespace tessera::jinja {

struct Arguments {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    bool empty() const { return positional.empty() && keyword.empty(); }
    // Removes and returns the keyword argument `name`, if given.
    std::optional<Value> take_keyword(std::string_view name);
};

struct Parameter {
    std::string_view name;
    std::optional<Value> default_value;  // nothing: the argument is required
};

// Binds like Python: positional arguments first, then keywords by name, then defaults. Throws
// Failure naming `function` for a missing, repeated or unexpected argument.
std::vector<Value> bind(const Arguments& arguments, std::string_view function,
                        std::initializer_list<Parameter> parameters);

}  // namespace tessera::jinja

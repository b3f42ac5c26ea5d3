// Values as Python prints them: str() for output and string conversion, repr() inside
// containers. 0.5, 2.0, 1e+16, None, True, [1, 'a'], {'k': None}, ('x',).
#pragma once

#include <string>
#include <string_view>

#include "runtime/jinja/value.h"

namespace tessera::jinja {

std::string to_str(const Value& value);   // str(x); undefined gives ""
std::string to_repr(const Value& value);  // repr(x)
std::string float_repr(double d);         // repr(float): shortest text that reads back exactly
std::string string_repr(std::string_view text);

}  // namespace tessera::jinja

// Values as Python prints them: str() for output and string conversion, repr() inside
// containers. 0.5, 2.0, 1e+16, None, True, [1, 'a'], {'k': None}, ('x',).
#pragma once

#include <string>
#include <string_view>

#include "runtime/jinja/budget.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

// str(x) and repr(x), charged to the budget as new text; a container's text is checked against
// max_text_bytes as it grows. Undefined gives "".
std::string to_str(const Value& value, Budget& budget);
std::string to_repr(const Value& value, Budget& budget);
// The same, appended to text being built.
void append_str(TextBuilder& out, const Value& value);
void append_repr(TextBuilder& out, const Value& value);

std::string float_repr(double d);  // repr(float): shortest text that reads back exactly
// What float_repr costs, in steps (Budget::charge): finding the shortest digits and laying them
// out takes about 100 ns.
constexpr uint64_t kFloatReprSteps = 2;

}  // namespace tessera::jinja

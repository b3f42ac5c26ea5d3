// jinja2's builtin tests (`x is defined`, `n is divisibleby 3`, `s is string`, `a is sameas b`,
// `x is eq 1`, ...).
#pragma once

#include <string_view>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

using TestFunction = bool (*)(const Value& input, Arguments& arguments, Budget& budget);

// The test called `name`, or null when there is none.
TestFunction find_test(std::string_view name);

}  // namespace tessera::jinja

// The Python methods templates call on strings, lists, tuples and dicts ("x".strip(),
// messages.append(m), d.items()), dispatched by the receiver's type. A method Python has but the
// interpreter does not implement is an error naming it, never a silent undefined.
#pragma once

#include <string>
#include <string_view>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

// Whether Python's type of `object` has a method `name` (implemented here or not).
bool has_method(const Value& object, std::string_view name);

// object.name(*positional, **keyword). Throws Failure "unknown method 'str.encode'" for a method
// that the interpreter does not provide, and as Python raises for bad arguments.
Value call_method(const Value& object, std::string_view name, Arguments& arguments, Budget& budget);

// object.name without the call: a callable that calls the method later.
Value bound_method(const Value& object, std::string name);

}  // namespace tessera::jinja

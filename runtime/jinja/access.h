// Attribute and item access as jinja2's sandboxed environment does it: `x.name` tries the
// attribute (a method of str, list or dict) and then the item; `x[key]` tries the item and then
// the attribute. What is missing is undefined, not an error; access on undefined is an error.
#pragma once

#include <string>

#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

// Charged for hashing a dict key, finding a string's character and making a slice.
Value get_attribute(const Value& object, const std::string& name, Budget& budget);
Value get_item(const Value& object, const Value& key, Budget& budget);
// object[start:stop:step]; each bound may be None. Lists, tuples and strings.
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step,
                Budget& budget);

// "dict object", "None", ...: how jinja2 names an object in "has no attribute" messages.
std::string object_description(const Value& object);

}  // namespace tessera::jinja

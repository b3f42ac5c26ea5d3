// Python's list, tuple and dict methods. List mutation (append, pop, insert, extend, remove) acts
// in place on the shared list, so later reads see it, as in Python.
#pragma once

#include <string_view>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

bool is_python_list_method(std::string_view name);
bool is_python_tuple_method(std::string_view name);
bool is_python_dict_method(std::string_view name);

// Throw Failure "unknown method 'list.NAME'" for a method the interpreter does not provide. Charged
// a step for each item they visit, move or make.
Value call_list_method(const Value& self, std::string_view name, Arguments& arguments,
                       Budget& budget);
Value call_tuple_method(const Value& self, std::string_view name, Arguments& arguments,
                        Budget& budget);
Value call_dict_method(const Value& self, std::string_view name, Arguments& arguments,
                       Budget& budget);

}  // namespace tessera::jinja

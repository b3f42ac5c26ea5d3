// Python's str methods: strip, split, startswith, replace, find, format, join, is*, ... Indices
// and lengths count code points, as Python's do.
#pragma once

#include <string>
#include <string_view>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

bool is_python_string_method(std::string_view name);
// Throws Failure "unknown method 'str.NAME'" for a str method the interpreter does not provide.
Value call_string_method(const std::string& self, std::string_view name, Arguments& arguments,
                         Budget& budget);

// Helpers the filters share with the methods. Each charges the budget for the text it reads
// and makes.
std::string strip_chars(const std::string& text, const Value& chars, bool left, bool right,
                        Budget& budget);
std::string replace_text(const std::string& text, const std::string& old_text,
                         const std::string& new_text, int64_t count, Budget& budget);
std::string capitalize_text(const std::string& text, Budget& budget);
std::string upper_text(const std::string& text, Budget& budget);
std::string lower_text(const std::string& text, Budget& budget);
// str.splitlines(keepends)
std::vector<std::string> split_lines(const std::string& text, bool keep_ends, Budget& budget);
// str.center(width, fill)
std::string center_text(const std::string& text, int64_t width, char32_t fill, Budget& budget);

}  // namespace tessera::jinja

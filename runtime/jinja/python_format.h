// Python's two string formatting languages, as templates use them: printf-style
// ("%s: %.2f" % (a, b), the `format` filter) and str.format ("{} {name:>8}".format(...)),
// including the format-spec mini-language for str, int and float.
#pragma once

#include <string>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

// format % arguments: a tuple gives the positional values, a dict the %(name)s values, any other
// value is the single value. Throws Failure as Python raises TypeError or ValueError.
std::string percent_format(const std::string& format, const Value& arguments, Budget& budget);

// format.format(*positional, **keyword).
std::string brace_format(const std::string& format, const Arguments& arguments, Budget& budget);

// format(value, spec): the format-spec mini-language.
std::string format_value(const Value& value, const std::string& spec, Budget& budget);

}  // namespace tessera::jinja

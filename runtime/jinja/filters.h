// jinja2's builtin filters (`x | trim`, `xs | map(attribute='name') | join(', ')`), with
// transformers' `tojson` (json.dumps without key sorting or HTML escaping). Filters that
// return generators in jinja2 (select, map, unique, items, batch, ...) return iterators here,
// with the same single-use behaviour.
#pragma once

#include <string_view>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

using FilterFunction = Value (*)(const Value& input, Arguments& arguments, Budget& budget);

// The filter called `name`, or null when there is none.
FilterFunction find_filter(std::string_view name);

}  // namespace tessera::jinja

// Substring search for the string operations of templates (`in`, find, count, replace, split,
// partition), charged to the budget by the work it does: the text scanned for the pattern's
// first character, and the pattern's length at every place that character occurs. That is
// linear in the text for ordinary patterns and charges the quadratic cases (finding
// 'xxxxxxy' in a million x's) what they cost, so none of them can hide unmetered work.
#pragma once

#include <cstddef>
#include <string_view>

#include "runtime/jinja/budget.h"

namespace tessera::jinja {

constexpr size_t kNotFound = static_cast<size_t>(-1);

// Where `pattern` first occurs in `text`, or kNotFound. An empty pattern occurs at 0.
size_t find_text(std::string_view text, std::string_view pattern, Budget& budget);
size_t find_text(std::u32string_view text, std::u32string_view pattern, Budget& budget);
// Where `pattern` last occurs in `text`, or kNotFound. An empty pattern occurs at the end.
size_t rfind_text(std::string_view text, std::string_view pattern, Budget& budget);
size_t rfind_text(std::u32string_view text, std::u32string_view pattern, Budget& budget);

}  // namespace tessera::jinja

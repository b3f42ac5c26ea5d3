// Tokens to a syntax tree, following jinja2's grammar and operator precedence: conditional
// expressions, or/and/not, chained comparisons with in/not in, + -, ~, * / // %, **, unary
// signs, filters and tests, calls, attribute and item access, slices, literals. Statements:
// if/elif/else, for (with a loop filter, recursive, else), set and block set, macro, call,
// filter blocks, with, print, break/continue and transformers' {% generation %}.
#pragma once

#include <string>
#include <vector>

#include "runtime/jinja/ast.h"
#include "runtime/jinja/lexer.h"

namespace tessera::jinja {

// Throws tessera::Error "NAME:LINE: what" for a syntax error and for an unknown statement,
// filter or test, naming it.
Body parse_template(std::vector<Token> tokens, const std::string& name);

}  // namespace tessera::jinja

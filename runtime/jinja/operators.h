// Python's operators on template values: arithmetic with int/float promotion, true and floor
// division, Python's modulo, string and list concatenation and repetition, printf-style `%` on
// strings, comparisons (chained by the interpreter), membership, and the ordering sorts use.
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/jinja/budget.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

enum class BinaryOperator { Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power };
enum class CompareOperator { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, In, NotIn };

const char* operator_symbol(BinaryOperator op);
const char* operator_symbol(CompareOperator op);

// Throw Failure as Python raises TypeError, ZeroDivisionError or OverflowError, and the undefined
// value's own message for an undefined operand.
Value binary_operation(BinaryOperator op, const Value& left, const Value& right, Budget& budget);
Value negate(const Value& operand);
Value positive(const Value& operand);
// Comparisons are charged a step for each pair of items they compare, and the bytes of the
// strings they compare or search.
bool compare(CompareOperator op, const Value& left, const Value& right, Budget& budget);
// item in container
bool contains(const Value& container, const Value& item, Budget& budget);

// Python's a < b; throws Failure for types without an order between them.
bool less_than(const Value& a, const Value& b, Budget& budget);
// The order a stable sort by `keys` puts their indices in (Python's sorted(key=..., reverse=)):
// n log n comparisons, each charged as above.
std::vector<size_t> sorted_order(const std::vector<Value>& keys, bool reverse, Budget& budget);
std::vector<Value> sort_values(const std::vector<Value>& items, bool reverse, Budget& budget);

}  // namespace tessera::jinja

#include "runtime/jinja/operators.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/python_format.h"
#include "runtime/jinja/text_search.h"

namespace tessera::jinja {

namespace {

constexpr int kMaxOrderDepth = 200;

[[noreturn]] void unsupported(const char* symbol, const Value& left, const Value& right) {
    throw Failure(std::string("unsupported operand type(s) for ") + symbol + ": '" +
                  left.type_name() + "' and '" + right.type_name() + "'");
}

void check_undefined(const Value& left, const Value& right) {
    if (left.is_undefined()) throw Failure(left.undefined_message());
    if (right.is_undefined()) throw Failure(right.undefined_message());
}

[[noreturn]] void overflow() {
    throw Failure("integer result does not fit in 64 bits (Python integers are unbounded)");
}

// a + b, a - b, a * b of 64-bit integers, failing instead of wrapping.
template <typename Operation>
Value exact_integer(int64_t a, int64_t b, Operation operation) {
    int64_t result = 0;
    if (operation(a, b, &result)) overflow();
    return Value::integer(result);
}

bool add_overflows(int64_t a, int64_t b, int64_t* r) {
    return __builtin_add_overflow(a, b, r);
}
bool subtract_overflows(int64_t a, int64_t b, int64_t* r) {
    return __builtin_sub_overflow(a, b, r);
}
bool multiply_overflows(int64_t a, int64_t b, int64_t* r) {
    return __builtin_mul_overflow(a, b, r);
}

// Python's float divmod: the floor quotient and the modulo with the divisor's sign.
std::pair<double, double> float_divmod(double x, double y) {
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0.0) {
        if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
        }
    } else {
        mod = std::copysign(0.0, y);
    }
    double floor_div;
    if (div != 0.0) {
        floor_div = std::floor(div);
        if (div - floor_div > 0.5) floor_div += 1.0;
    } else {
        floor_div = std::copysign(0.0, x / y);
    }
    return {floor_div, mod};
}

Value repeat(const Value& sequence, int64_t count, Budget& budget) {
    if (sequence.is_string()) {
        const std::string& s = sequence.as_string();
        if (s.empty() || count <= 0) return Value::string("");
        const auto n = static_cast<uint64_t>(count);
        // Checked before multiplying, which could overflow.
        budget.check_text(n > budget.limits().max_text_bytes ? n : s.size() * n);
        const size_t total = s.size() * n;
        budget.allocate_text(total);
        // By doubling: a few large copies rather than n small ones.
        std::string out;
        out.reserve(total);
        out += s;
        while (out.size() * 2 <= total) out.append(out);
        out.append(out, 0, total - out.size());
        return Value::string(std::move(out));
    }
    const auto& items = sequence.sequence().items;
    if (items.empty() || count <= 0) return Value::sequence(sequence.sequence().kind, {});
    const auto n = static_cast<uint64_t>(count);
    budget.check_items(n > budget.limits().max_items ? n : items.size() * n);
    budget.allocate_items(items.size() * n);
    std::vector<Value> out;
    out.reserve(items.size() * n);
    for (uint64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
    return Value::sequence(sequence.sequence().kind, std::move(out));
}

bool is_repeatable(const Value& v) {
    return v.is_string() || v.is_list() || v.is_tuple();
}

Value add(const Value& left, const Value& right, Budget& budget) {
    if (left.is_number() && right.is_number()) {
        if (left.is_float() || right.is_float())
            return Value::number(left.as_float() + right.as_float());
        return exact_integer(left.as_int(), right.as_int(), add_overflows);
    }
    if (left.is_string() && right.is_string()) {
        budget.check_text(left.as_string().size() + right.as_string().size());
        budget.allocate_text(left.as_string().size() + right.as_string().size());
        return Value::string(left.as_string() + right.as_string());
    }
    if ((left.is_list() && right.is_list()) || (left.is_tuple() && right.is_tuple())) {
        const auto& a = left.sequence().items;
        const auto& b = right.sequence().items;
        budget.check_items(a.size() + b.size());
        budget.allocate_items(a.size() + b.size());
        std::vector<Value> out = a;
        out.insert(out.end(), b.begin(), b.end());
        return left.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
    }
    if (left.is_string()) {
        throw Failure("can only concatenate str (not \"" + right.type_name() + "\") to str");
    }
    if (left.is_list() || left.is_tuple()) {
        throw Failure("can only concatenate " + left.type_name() + " (not \"" + right.type_name() +
                      "\") to " + left.type_name());
    }
    unsupported("+", left, right);
}

Value multiply(const Value& left, const Value& right, Budget& budget) {
    if (left.is_number() && right.is_number()) {
        if (left.is_float() || right.is_float())
            return Value::number(left.as_float() * right.as_float());
        return exact_integer(left.as_int(), right.as_int(), multiply_overflows);
    }
    if (is_repeatable(left) && right.is_integral()) return repeat(left, right.as_int(), budget);
    if (left.is_integral() && is_repeatable(right)) return repeat(right, left.as_int(), budget);
    if (is_repeatable(left) || is_repeatable(right)) {
        throw Failure("can't multiply sequence by non-int of type '" +
                      (is_repeatable(left) ? right : left).type_name() + "'");
    }
    unsupported("*", left, right);
}

Value power(const Value& left, const Value& right) {
    if (!left.is_number() || !right.is_number()) unsupported("** or pow()", left, right);
    if (left.is_integral() && right.is_integral() && right.as_int() >= 0) {
        int64_t base = left.as_int();
        int64_t exponent = right.as_int();
        int64_t result = 1;
        while (exponent > 0) {
            if (exponent & 1) {
                if (__builtin_mul_overflow(result, base, &result)) overflow();
            }
            exponent >>= 1;
            if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value::integer(result);
    }
    const double x = left.as_float();
    const double y = right.as_float();
    if (x == 0.0 && y < 0.0) throw Failure("0.0 cannot be raised to a negative power");
    if (x < 0.0 && y != std::floor(y)) {
        throw Failure("a negative number to a fractional power has a complex result");
    }
    const double result = std::pow(x, y);
    if (std::isinf(result) && std::isfinite(x) && std::isfinite(y)) {
        throw Failure("(34, 'Numerical result out of range')");
    }
    return Value::number(result);
}

Value divide(BinaryOperator op, const Value& left, const Value& right) {
    const char* symbol = operator_symbol(op);
    if (!left.is_number() || !right.is_number()) unsupported(symbol, left, right);
    if (op == BinaryOperator::Divide) {
        if (right.as_float() == 0.0) throw Failure("division by zero");
        return Value::number(left.as_float() / right.as_float());
    }
    if (left.is_integral() && right.is_integral()) {
        const int64_t a = left.as_int();
        const int64_t b = right.as_int();
        if (b == 0) {
            throw Failure(op == BinaryOperator::Modulo ? "integer modulo by zero"
                                                       : "integer division by zero");
        }
        if (a == std::numeric_limits<int64_t>::min() && b == -1) {
            if (op == BinaryOperator::Modulo) return Value::integer(0);
            overflow();
        }
        int64_t q = a / b;
        int64_t r = a % b;
        if (r != 0 && ((r < 0) != (b < 0))) {
            q -= 1;
            r += b;
        }
        return Value::integer(op == BinaryOperator::FloorDivide ? q : r);
    }
    const double y = right.as_float();
    if (y == 0.0) {
        throw Failure(op == BinaryOperator::Modulo ? "float modulo by zero"
                                                   : "float floor division by zero");
    }
    const auto [quotient, modulo] = float_divmod(left.as_float(), y);
    return Value::number(op == BinaryOperator::FloorDivide ? quotient : modulo);
}

// Compares two numbers exactly, as Python compares int with float: -1, 0 or 1; 2 if unordered.
int compare_numbers(const Value& a, const Value& b) {
    if (a.is_integral() && b.is_integral()) {
        return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    }
    const long double x = a.is_float() ? a.as_float() : static_cast<long double>(a.as_int());
    const long double y = b.is_float() ? b.as_float() : static_cast<long double>(b.as_int());
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : x > y ? 1 : 0;
}

bool ordered(CompareOperator op, const Value& a, const Value& b, int depth, Budget& budget);

// Lexicographic comparison of two lists or two tuples.
bool ordered_sequences(CompareOperator op, const std::vector<Value>& a, const std::vector<Value>& b,
                       int depth, Budget& budget) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && equals(a[i], b[i], budget)) ++i;
    if (i < a.size() && i < b.size()) return ordered(op, a[i], b[i], depth + 1, budget);
    const size_t x = a.size();
    const size_t y = b.size();
    switch (op) {
        case CompareOperator::Less:
            return x < y;
        case CompareOperator::LessEqual:
            return x <= y;
        case CompareOperator::Greater:
            return x > y;
        default:
            return x >= y;
    }
}

bool ordered(CompareOperator op, const Value& a, const Value& b, int depth, Budget& budget) {
    if (depth > kMaxOrderDepth) throw Failure("maximum recursion depth exceeded in comparison");
    check_undefined(a, b);
    budget.charge(1);
    int c = 0;
    if (a.is_number() && b.is_number()) {
        c = compare_numbers(a, b);
        if (c == 2) return false;
    } else if (a.is_string() && b.is_string()) {
        budget.charge_bytes(std::min(a.as_string().size(), b.as_string().size()));
        c = a.as_string().compare(b.as_string());
    } else if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
        return ordered_sequences(op, a.sequence().items, b.sequence().items, depth, budget);
    } else {
        throw Failure(std::string("'") + operator_symbol(op) +
                      "' not supported between instances of '" + a.type_name() + "' and '" +
                      b.type_name() + "'");
    }
    switch (op) {
        case CompareOperator::Less:
            return c < 0;
        case CompareOperator::LessEqual:
            return c <= 0;
        case CompareOperator::Greater:
            return c > 0;
        default:
            return c >= 0;
    }
}

// Stable merge sort that tolerates inconsistent orders (NaN) without undefined behaviour.
void merge_sort(std::vector<size_t>& order, const std::vector<Value>& keys, bool reverse,
                Budget& budget) {
    const size_t n = order.size();
    std::vector<size_t> buffer(n);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t left = 0; left < n; left += 2 * width) {
            const size_t middle = std::min(left + width, n);
            const size_t right = std::min(left + 2 * width, n);
            size_t i = left;
            size_t j = middle;
            size_t k = left;
            while (i < middle && j < right) {
                const Value& x = keys[order[i]];
                const Value& y = keys[order[j]];
                const bool take_right = reverse ? less_than(x, y, budget) : less_than(y, x, budget);
                buffer[k++] = take_right ? order[j++] : order[i++];
            }
            // The rest of a run is moved without comparing: a step per item all the same.
            budget.charge((middle - i) + (right - j));
            while (i < middle) buffer[k++] = order[i++];
            while (j < right) buffer[k++] = order[j++];
        }
        order.swap(buffer);
    }
}

}  // namespace

const char* operator_symbol(BinaryOperator op) {
    switch (op) {
        case BinaryOperator::Add:
            return "+";
        case BinaryOperator::Subtract:
            return "-";
        case BinaryOperator::Multiply:
            return "*";
        case BinaryOperator::Divide:
            return "/";
        case BinaryOperator::FloorDivide:
            return "//";
        case BinaryOperator::Modulo:
            return "%";
        case BinaryOperator::Power:
            return "**";
    }
    return "?";
}

const char* operator_symbol(CompareOperator op) {
    switch (op) {
        case CompareOperator::Equal:
            return "==";
        case CompareOperator::NotEqual:
            return "!=";
        case CompareOperator::Less:
            return "<";
        case CompareOperator::LessEqual:
            return "<=";
        case CompareOperator::Greater:
            return ">";
        case CompareOperator::GreaterEqual:
            return ">=";
        case CompareOperator::In:
            return "in";
        case CompareOperator::NotIn:
            return "not in";
    }
    return "?";
}

Value binary_operation(BinaryOperator op, const Value& left, const Value& right, Budget& budget) {
    // str.__mod__ accepts any right operand, undefined included (it prints as "").
    if (op == BinaryOperator::Modulo && left.is_string()) {
        return Value::string(percent_format(left.as_string(), right, budget));
    }
    check_undefined(left, right);
    switch (op) {
        case BinaryOperator::Add:
            return add(left, right, budget);
        case BinaryOperator::Subtract:
            if (!left.is_number() || !right.is_number()) unsupported("-", left, right);
            if (left.is_float() || right.is_float()) {
                return Value::number(left.as_float() - right.as_float());
            }
            return exact_integer(left.as_int(), right.as_int(), subtract_overflows);
        case BinaryOperator::Multiply:
            return multiply(left, right, budget);
        case BinaryOperator::Power:
            return power(left, right);
        case BinaryOperator::Modulo:
        case BinaryOperator::Divide:
        case BinaryOperator::FloorDivide:
            return divide(op, left, right);
    }
    unsupported(operator_symbol(op), left, right);
}

Value negate(const Value& operand) {
    if (operand.is_undefined()) throw Failure(operand.undefined_message());
    if (operand.is_float()) return Value::number(-operand.as_float());
    if (operand.is_integral()) {
        if (operand.as_int() == std::numeric_limits<int64_t>::min()) overflow();
        return Value::integer(-operand.as_int());
    }
    throw Failure("bad operand type for unary -: '" + operand.type_name() + "'");
}

Value positive(const Value& operand) {
    if (operand.is_undefined()) throw Failure(operand.undefined_message());
    if (operand.is_float()) return operand;
    if (operand.is_integral()) return Value::integer(operand.as_int());
    throw Failure("bad operand type for unary +: '" + operand.type_name() + "'");
}

bool contains(const Value& container, const Value& item, Budget& budget) {
    if (container.is_string()) {
        if (!item.is_string()) {
            if (item.is_undefined()) throw Failure(item.undefined_message());
            throw Failure("'in <string>' requires string as left operand, not " + item.type_name());
        }
        return find_text(container.as_string(), item.as_string(), budget) != kNotFound;
    }
    if (container.is_undefined()) return false;
    if (container.is_dict()) return container.dict().find(item, budget) != nullptr;
    if (container.is_sequence()) {
        for (const Value& element : container.sequence().items) {
            if (equals(element, item, budget)) return true;
        }
        return false;
    }
    if (container.is_iterator()) {
        Iterator& it = container.iterator();
        while (it.next < it.items.size()) {
            if (equals(it.items[it.next++], item, budget)) return true;
        }
        return false;
    }
    throw Failure("argument of type '" + container.type_name() + "' is not iterable");
}

bool compare(CompareOperator op, const Value& left, const Value& right, Budget& budget) {
    switch (op) {
        case CompareOperator::Equal:
            return equals(left, right, budget);
        case CompareOperator::NotEqual:
            return !equals(left, right, budget);
        case CompareOperator::In:
            return contains(right, left, budget);
        case CompareOperator::NotIn:
            return !contains(right, left, budget);
        default:
            return ordered(op, left, right, 0, budget);
    }
}

bool less_than(const Value& a, const Value& b, Budget& budget) {
    return ordered(CompareOperator::Less, a, b, 0, budget);
}

std::vector<size_t> sorted_order(const std::vector<Value>& keys, bool reverse, Budget& budget) {
    std::vector<size_t> order(keys.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    merge_sort(order, keys, reverse, budget);
    return order;
}

std::vector<Value> sort_values(const std::vector<Value>& items, bool reverse, Budget& budget) {
    const std::vector<size_t> order = sorted_order(items, reverse, budget);
    budget.allocate_items(items.size());
    std::vector<Value> out;
    out.reserve(items.size());
    for (size_t i : order) out.push_back(items[i]);
    return out;
}

}  // namespace tessera::jinja

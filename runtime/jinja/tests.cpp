#include "runtime/jinja/tests.h"

#include <array>
#include <utility>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/filters.h"
#include "runtime/jinja/operators.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/string_methods.h"

namespace tessera::jinja {

namespace {

Value one_argument(Arguments& arguments, const char* test) {
    return bind(arguments, test, {{"other", {}}})[0];
}

void no_arguments(const Arguments& arguments, const char* test) {
    if (!arguments.empty()) throw Failure(std::string(test) + "() takes no arguments");
}

bool modulo_is(const Value& value, const Value& divisor, int64_t remainder, Budget& budget) {
    return equals(binary_operation(BinaryOperator::Modulo, value, divisor, budget),
                  Value::integer(remainder), budget);
}

bool test_odd(const Value& v, Arguments& a, Budget& b) {
    no_arguments(a, "odd");
    return modulo_is(v, Value::integer(2), 1, b);
}
bool test_even(const Value& v, Arguments& a, Budget& b) {
    no_arguments(a, "even");
    return modulo_is(v, Value::integer(2), 0, b);
}
bool test_divisibleby(const Value& v, Arguments& a, Budget& b) {
    return modulo_is(v, bind(a, "divisibleby", {{"num", {}}})[0], 0, b);
}
bool test_defined(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "defined");
    return !v.is_undefined();
}
bool test_undefined(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "undefined");
    return v.is_undefined();
}
bool test_filter(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "filter");
    return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool test_test(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "test");
    return v.is_string() && find_test(v.as_string()) != nullptr;
}
bool test_none(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "none");
    return v.is_none();
}
bool test_boolean(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "boolean");
    return v.is_bool();
}
bool test_false(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "false");
    return v.is_bool() && !v.as_bool();
}
bool test_true(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "true");
    return v.is_bool() && v.as_bool();
}
bool test_integer(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "integer");
    return v.is_int();
}
bool test_float(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "float");
    return v.is_float();
}
bool test_number(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "number");
    return v.is_number();
}
bool test_string(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "string");
    return v.is_string();
}
bool test_mapping(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "mapping");
    return v.is_dict();
}
bool test_lower(const Value& v, Arguments& a, Budget& b) {
    no_arguments(a, "lower");
    Arguments none;
    return call_string_method(to_str(v, b), "islower", none, b).truthy();
}
bool test_upper(const Value& v, Arguments& a, Budget& b) {
    no_arguments(a, "upper");
    Arguments none;
    return call_string_method(to_str(v, b), "isupper", none, b).truthy();
}
// len() and __getitem__ both work (undefined has both, as jinja2's Undefined does).
bool test_sequence(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "sequence");
    if (v.is_undefined() || v.is_string() || v.is_dict()) return true;
    return v.is_list() || v.is_tuple();
}
bool test_iterable(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "iterable");
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() || v.is_iterator() ||
           (v.is_object() && v.object().type_name() == "LoopContext");
}
bool test_callable(const Value& v, Arguments& a, Budget&) {
    no_arguments(a, "callable");
    return v.is_undefined() || (v.is_object() && v.object().is_callable());
}
// Python's `is`: singletons, small cached ints, equal constants, and the same container.
bool test_sameas(const Value& v, Arguments& a, Budget& b) {
    const Value other = one_argument(a, "sameas");
    if (v.data().index() != other.data().index()) return false;
    if (v.is_none() || v.is_bool()) return equals(v, other, b);
    if (v.is_int()) return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    if (v.is_string() || v.is_float()) return equals(v, other, b);
    if (v.is_undefined()) return false;
    return v.identity() == other.identity();
}
bool test_escaped(const Value&, Arguments& a, Budget&) {
    no_arguments(a, "escaped");
    return false;
}
bool test_in(const Value& v, Arguments& a, Budget& b) {
    return contains(bind(a, "in", {{"seq", {}}})[0], v, b);
}

template <CompareOperator op>
bool test_compare(const Value& v, Arguments& a, Budget& b) {
    return compare(op, v, one_argument(a, operator_symbol(op)), b);
}

}  // namespace

TestFunction find_test(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, TestFunction>, 39> kTests = {{
        {"odd", test_odd},
        {"even", test_even},
        {"divisibleby", test_divisibleby},
        {"defined", test_defined},
        {"undefined", test_undefined},
        {"filter", test_filter},
        {"test", test_test},
        {"none", test_none},
        {"boolean", test_boolean},
        {"false", test_false},
        {"true", test_true},
        {"integer", test_integer},
        {"float", test_float},
        {"lower", test_lower},
        {"upper", test_upper},
        {"string", test_string},
        {"mapping", test_mapping},
        {"number", test_number},
        {"sequence", test_sequence},
        {"iterable", test_iterable},
        {"callable", test_callable},
        {"sameas", test_sameas},
        {"escaped", test_escaped},
        {"in", test_in},
        {"==", test_compare<CompareOperator::Equal>},
        {"eq", test_compare<CompareOperator::Equal>},
        {"equalto", test_compare<CompareOperator::Equal>},
        {"!=", test_compare<CompareOperator::NotEqual>},
        {"ne", test_compare<CompareOperator::NotEqual>},
        {">", test_compare<CompareOperator::Greater>},
        {"gt", test_compare<CompareOperator::Greater>},
        {"greaterthan", test_compare<CompareOperator::Greater>},
        {"ge", test_compare<CompareOperator::GreaterEqual>},
        {">=", test_compare<CompareOperator::GreaterEqual>},
        {"<", test_compare<CompareOperator::Less>},
        {"lt", test_compare<CompareOperator::Less>},
        {"lessthan", test_compare<CompareOperator::Less>},
        {"<=", test_compare<CompareOperator::LessEqual>},
        {"le", test_compare<CompareOperator::LessEqual>},
    }};
    for (const auto& [test_name, function] : kTests) {
        if (test_name == name) return function;
    }
    return nullptr;
}

}  // namespace tessera::jinja

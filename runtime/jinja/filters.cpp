#include "runtime/jinja/filters.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <unordered_set>
#include <utility>

#include "runtime/jinja/access.h"
#include "runtime/jinja/failure.h"
#include "runtime/jinja/json.h"
#include "runtime/jinja/methods.h"
#include "runtime/jinja/operators.h"
#include "runtime/jinja/python_format.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/string_methods.h"
#include "runtime/jinja/tests.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

int64_t integer_argument(const Value& v, const char* what) {
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (!v.is_integral()) {
        throw Failure(std::string(what) + ": '" + v.type_name() +
                      "' object cannot be interpreted as an integer");
    }
    return v.as_int();
}

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value lookup_path(const Value& item, const Value& attribute, Budget& budget) {
    if (attribute.is_none()) return item;
    if (!attribute.is_string()) return get_item(item, attribute, budget);
    Value current = item;
    const std::string& path = attribute.as_string();
    budget.charge_bytes(path.size());
    size_t start = 0;
    while (true) {
        const size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
        const bool digits =
            !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
        current = get_item(
            current,
            digits ? Value::integer(std::strtoll(part.c_str(), nullptr, 10)) : Value::string(part),
            budget);
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return current;
}

Value ignore_case(const Value& v, Budget& budget) {
    return v.is_string() ? Value::string(lower_text(v.as_string(), budget)) : v;
}

Value sort_key(const Value& item, const Value& attribute, bool case_sensitive, Budget& budget) {
    const Value key = lookup_path(item, attribute, budget);
    return case_sensitive ? key : ignore_case(key, budget);
}

// Python's float() of a string: whitespace, sign, underscores between digits, inf and nan.
std::optional<double> parse_python_float(const std::string& text, Budget& budget) {
    const std::string trimmed = strip_chars(text, Value::none(), true, true, budget);
    std::string clean;
    for (size_t i = 0; i < trimmed.size(); ++i) {
        const char c = trimmed[i];
        if (c == '_') {
            const bool between = i > 0 && i + 1 < trimmed.size() &&
                                 std::isdigit(static_cast<unsigned char>(trimmed[i - 1])) &&
                                 std::isdigit(static_cast<unsigned char>(trimmed[i + 1]));
            if (!between) return std::nullopt;
            continue;
        }
        clean += c;
    }
    if (clean.empty()) return std::nullopt;
    std::string lower = lower_text(clean, budget);
    size_t sign = (lower[0] == '+' || lower[0] == '-') ? 1 : 0;
    const std::string word = lower.substr(sign);
    if (word == "inf" || word == "infinity" || word == "nan") {
        const double v = word == "nan" ? NAN : INFINITY;
        return lower[0] == '-' ? -v : v;
    }
    // digits [. digits] [e [sign] digits], with at least one digit in the mantissa.
    size_t i = sign;
    size_t digits = 0;
    while (i < clean.size() && std::isdigit(static_cast<unsigned char>(clean[i]))) ++i, ++digits;
    if (i < clean.size() && clean[i] == '.') {
        ++i;
        while (i < clean.size() && std::isdigit(static_cast<unsigned char>(clean[i])))
            ++i, ++digits;
    }
    if (digits == 0) return std::nullopt;
    if (i < clean.size() && (clean[i] == 'e' || clean[i] == 'E')) {
        ++i;
        if (i < clean.size() && (clean[i] == '+' || clean[i] == '-')) ++i;
        size_t exponent_digits = 0;
        while (i < clean.size() && std::isdigit(static_cast<unsigned char>(clean[i])))
            ++i, ++exponent_digits;
        if (exponent_digits == 0) return std::nullopt;
    }
    if (i != clean.size()) return std::nullopt;
    return std::strtod(clean.c_str(), nullptr);
}

// Python's int(text, base) for bases 2..36 and 0; nothing when it raises ValueError.
std::optional<int64_t> parse_python_int(const std::string& text, int64_t base, Budget& budget) {
    std::string s = strip_chars(text, Value::none(), true, true, budget);
    bool negative = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        negative = s[0] == '-';
        s.erase(0, 1);
    }
    const std::string lower = lower_text(s, budget);
    const auto has_prefix = [&](const char* prefix) { return lower.rfind(prefix, 0) == 0; };
    if (base == 0) {
        base = has_prefix("0x") ? 16 : has_prefix("0o") ? 8 : has_prefix("0b") ? 2 : 10;
        if (base == 10 && s.size() > 1 && s[0] == '0' &&
            s.find_first_not_of("0_") != std::string::npos) {
            return std::nullopt;
        }
    }
    if ((base == 16 && has_prefix("0x")) || (base == 8 && has_prefix("0o")) ||
        (base == 2 && has_prefix("0b"))) {
        s.erase(0, 2);
        if (!s.empty() && s[0] == '_') s.erase(0, 1);
    }
    if (s.empty() || s[0] == '_' || s.back() == '_' || s.find("__") != std::string::npos) {
        return std::nullopt;
    }
    uint64_t magnitude = 0;
    for (char c : s) {
        if (c == '_') continue;
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'z')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'Z')
            digit = c - 'A' + 10;
        else
            return std::nullopt;
        if (digit >= base) return std::nullopt;
        if (magnitude > (UINT64_MAX - static_cast<uint64_t>(digit)) / static_cast<uint64_t>(base)) {
            throw Failure("integer result does not fit in 64 bits");
        }
        magnitude = magnitude * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
    }
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) {
        throw Failure("integer result does not fit in 64 bits");
    }
    return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

std::string html_escape(const std::string& text, Budget& budget) {
    budget.charge_characters(text.size());
    TextBuilder out(budget);
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out.take();
}

// --- the filters ---------------------------------------------------------------------------

Value filter_abs(const Value& v, Arguments& a, Budget&) {
    bind(a, "abs", {});
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (v.is_float()) return Value::number(std::fabs(v.as_float()));
    if (v.is_integral()) return v.as_int() < 0 ? negate(v) : Value::integer(v.as_int());
    throw Failure("bad operand type for abs(): '" + v.type_name() + "'");
}

Value filter_attr(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "attr", {{"name", {}}});
    if (!args[0].is_string()) throw Failure("attribute name must be string");
    const std::string& name = args[0].as_string();
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (has_method(v, name)) return bound_method(v, name);
    if (v.is_namespace() || v.is_object()) return get_attribute(v, name, budget);
    budget.allocate_text(name.size());  // the name, copied into the message
    return Value::undefined("'" + object_description(v) + "' has no attribute '" + name + "'");
}

Value filter_batch(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "batch", {{"linecount", {}}, {"fill_with", Value::none()}});
    const int64_t count = integer_argument(args[0], "batch");
    const std::vector<Value> items = iterate(v, budget);
    // Each item goes into a batch, and each batch into the result.
    budget.allocate_items(2 * items.size());
    std::vector<Value> batches;
    std::vector<Value> current;
    for (const Value& item : items) {
        if (static_cast<int64_t>(current.size()) == count) {
            batches.push_back(Value::list(std::move(current)));
            current.clear();
        }
        current.push_back(item);
    }
    if (!current.empty()) {
        if (!args[1].is_none() && static_cast<int64_t>(current.size()) < count) {
            budget.check_items(static_cast<size_t>(count));
            budget.allocate_items(static_cast<size_t>(count) - current.size());
            current.resize(static_cast<size_t>(count), args[1]);
        }
        batches.push_back(Value::list(std::move(current)));
    }
    return Value::iterator("generator", std::move(batches));
}

Value filter_capitalize(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "capitalize", {});
    return Value::string(capitalize_text(to_str(v, budget), budget));
}

Value filter_center(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "center", {{"width", Value::integer(80)}});
    return Value::string(
        center_text(to_str(v, budget), integer_argument(args[0], "center"), ' ', budget));
}

Value filter_length(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "length", {});
    if (const auto n = length_of(v, budget)) return Value::integer(*n);
    throw Failure("object of type '" + v.type_name() + "' has no len()");
}

Value filter_default(const Value& v, Arguments& a, Budget&) {
    const auto args = bind(
        a, "default", {{"default_value", Value::string("")}, {"boolean", Value::boolean(false)}});
    if (v.is_undefined() || (args[1].truthy() && !v.truthy())) return args[0];
    return v;
}

Value filter_dictsort(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "dictsort",
                           {{"case_sensitive", Value::boolean(false)},
                            {"by", Value::string("key")},
                            {"reverse", Value::boolean(false)}});
    size_t position;
    if (args[1].is_string() && args[1].as_string() == "key") {
        position = 0;
    } else if (args[1].is_string() && args[1].as_string() == "value") {
        position = 1;
    } else {
        throw Failure("You can only sort by either \"key\" or \"value\"");
    }
    if (!v.is_dict()) throw Failure("'" + v.type_name() + "' object has no attribute 'items'");
    // A pair for each entry, and the list of them.
    budget.allocate_items(3 * v.dict().size());
    std::vector<Value> items;
    std::vector<Value> keys;
    for (const auto& [key, item] : v.dict().entries()) {
        items.push_back(Value::tuple({key, item}));
        const Value& k = position == 0 ? key : item;
        keys.push_back(args[0].truthy() ? k : ignore_case(k, budget));
    }
    std::vector<Value> out;
    for (size_t i : sorted_order(keys, args[2].truthy(), budget)) out.push_back(items[i]);
    return Value::list(std::move(out));
}

Value filter_escape(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "escape", {});
    return Value::string(html_escape(to_str(v, budget), budget));
}

// The first or last character of a string, or nothing when it is empty.
std::optional<Value> end_character(const std::string& text, bool last, Budget& budget) {
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    if (code_points.empty()) return std::nullopt;
    std::string one;
    append_utf8(one, last ? code_points.back() : code_points.front());
    return Value::string(std::move(one));
}

Value filter_first(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "first", {});
    const Value empty = Value::undefined("No first item, sequence was empty.");
    if (v.is_iterator()) {
        Iterator& it = v.iterator();
        if (it.next < it.items.size()) return it.items[it.next++];
        return empty;
    }
    if (v.is_sequence()) return v.sequence().items.empty() ? empty : v.sequence().items.front();
    if (v.is_string()) return end_character(v.as_string(), false, budget).value_or(empty);
    const std::vector<Value> items = iterate(v, budget);
    if (items.empty()) return empty;
    return items.front();
}

Value filter_last(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "last", {});
    const Value empty = Value::undefined("No last item, sequence was empty.");
    if (v.is_iterator()) throw Failure("'" + v.type_name() + "' object is not reversible");
    if (v.is_sequence()) return v.sequence().items.empty() ? empty : v.sequence().items.back();
    if (v.is_string()) return end_character(v.as_string(), true, budget).value_or(empty);
    const std::vector<Value> items = iterate(v, budget);
    if (items.empty()) return empty;
    return items.back();
}

Value filter_float(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "float", {{"default", Value::number(0.0)}});
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (v.is_number()) return Value::number(v.as_float());
    if (v.is_string()) {
        if (const auto parsed = parse_python_float(v.as_string(), budget)) {
            return Value::number(*parsed);
        }
    }
    return args[0];
}

Value filter_int(const Value& v, Arguments& a, Budget& budget) {
    const auto args =
        bind(a, "int", {{"default", Value::integer(0)}, {"base", Value::integer(10)}});
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (v.is_integral()) return Value::integer(v.as_int());
    if (v.is_float()) {
        const double d = v.as_float();
        if (std::isnan(d)) return args[0];
        if (std::isinf(d)) throw Failure("cannot convert float infinity to integer");
        if (std::fabs(d) >= 9.2e18) throw Failure("integer result does not fit in 64 bits");
        return Value::integer(static_cast<int64_t>(d));
    }
    if (v.is_string()) {
        const int64_t base = integer_argument(args[1], "int");
        if (base != 0 && (base < 2 || base > 36)) return args[0];
        if (const auto parsed = parse_python_int(v.as_string(), base, budget))
            return Value::integer(*parsed);
        // jinja2's quirk: "42.23"|int is 42, through float().
        if (const auto f = parse_python_float(v.as_string(), budget)) {
            if (std::isfinite(*f) && std::fabs(*f) < 9.2e18)
                return Value::integer(static_cast<int64_t>(*f));
        }
    }
    return args[0];
}

Value filter_format(const Value& v, Arguments& a, Budget& budget) {
    if (!a.positional.empty() && !a.keyword.empty()) {
        throw Failure("can't handle positional and keyword arguments at the same time");
    }
    if (!a.keyword.empty()) {
        Dict mapping;
        for (const auto& [key, item] : a.keyword) mapping.set(Value::string(key), item, budget);
        return Value::string(
            percent_format(to_str(v, budget), Value::dict(std::move(mapping)), budget));
    }
    return Value::string(percent_format(to_str(v, budget), Value::tuple(a.positional), budget));
}

Value filter_groupby(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(
        a, "groupby",
        {{"attribute", {}}, {"default", Value::none()}, {"case_sensitive", Value::boolean(false)}});
    const bool case_sensitive = args[2].truthy();
    const auto key_of = [&](const Value& item, bool fold) {
        Value key = lookup_path(item, args[0], budget);
        if (!args[1].is_none() && key.is_undefined()) key = args[1];
        return fold && !case_sensitive ? ignore_case(key, budget) : key;
    };
    const std::vector<Value> items = iterate(v, budget);
    // Each item goes into a group, each group is a pair, and the pairs into the result.
    budget.allocate_items(4 * items.size());
    std::vector<Value> keys;
    for (const Value& item : items) keys.push_back(key_of(item, true));
    const std::vector<size_t> order = sorted_order(keys, false, budget);
    std::vector<Value> groups;
    size_t i = 0;
    while (i < order.size()) {
        std::vector<Value> members{items[order[i]]};
        size_t j = i + 1;
        while (j < order.size() && equals(keys[order[j]], keys[order[i]], budget)) {
            members.push_back(items[order[j]]);
            ++j;
        }
        const Value grouper = key_of(members.front(), false);
        groups.push_back(
            Value::sequence(SequenceKind::Group, {grouper, Value::list(std::move(members))}));
        i = j;
    }
    return Value::list(std::move(groups));
}

Value filter_indent(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "indent",
                           {{"width", Value::integer(4)},
                            {"first", Value::boolean(false)},
                            {"blank", Value::boolean(false)}});
    std::string indentation;
    if (args[0].is_string()) {
        indentation = args[0].as_string();
    } else {
        const int64_t width = integer_argument(args[0], "indent");
        if (width > 0) {
            budget.check_text(static_cast<size_t>(width));
            indentation.assign(static_cast<size_t>(width), ' ');
        }
    }
    const std::vector<std::string> lines = split_lines(to_str(v, budget) + "\n", false, budget);
    TextBuilder out(budget);
    if (args[1].truthy()) out += indentation;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += '\n';
        const bool indent_line = i > 0 && (args[2].truthy() || !lines[i].empty());
        if (indent_line) out += indentation;
        out += lines[i];
    }
    return Value::string(out.take());
}

Value filter_items(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "items", {});
    if (v.is_undefined()) return Value::iterator("generator", {});
    if (!v.is_dict()) throw Failure("Can only get item pairs from a mapping.");
    budget.allocate_items(3 * v.dict().size());
    std::vector<Value> pairs;
    for (const auto& [key, item] : v.dict().entries()) pairs.push_back(Value::tuple({key, item}));
    return Value::iterator("generator", std::move(pairs));
}

Value filter_join(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "join", {{"d", Value::string("")}, {"attribute", Value::none()}});
    const std::string separator = to_str(args[0], budget);
    TextBuilder out(budget);
    bool first = true;
    for (const Value& item : iterate(v, budget)) {
        if (!first) out += separator;
        first = false;
        append_str(out, args[1].is_none() ? item : lookup_path(item, args[1], budget));
    }
    return Value::string(out.take());
}

Value filter_list(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "list", {});
    std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    return Value::list(std::move(items));
}

Value filter_lower(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "lower", {});
    return Value::string(lower_text(to_str(v, budget), budget));
}

Value filter_upper(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "upper", {});
    return Value::string(upper_text(to_str(v, budget), budget));
}

Value filter_map(const Value& v, Arguments& a, Budget& budget) {
    std::vector<Value> out;
    if (!v.truthy()) return Value::iterator("generator", {});
    if (a.positional.empty() && !a.keyword.empty()) {
        const std::optional<Value> attribute = a.take_keyword("attribute");
        if (!attribute) throw Failure("map requires a filter argument");
        const Value fallback = a.take_keyword("default").value_or(Value::none());
        if (!a.keyword.empty()) {
            throw Failure("Unexpected keyword argument '" + a.keyword.front().first + "'");
        }
        const std::vector<Value> items = iterate(v, budget);
        budget.allocate_items(items.size());
        for (const Value& item : items) {
            Value mapped = lookup_path(item, *attribute, budget);
            if (!fallback.is_none() && mapped.is_undefined()) mapped = fallback;
            out.push_back(std::move(mapped));
        }
        return Value::iterator("generator", std::move(out));
    }
    if (a.positional.empty()) throw Failure("map requires a filter argument");
    if (!a.positional[0].is_string()) throw Failure("map: the filter name must be a string");
    const std::string name = a.positional[0].as_string();
    const FilterFunction filter = find_filter(name);
    if (filter == nullptr) throw Failure("No filter named '" + name + "'.");
    Arguments rest{{a.positional.begin() + 1, a.positional.end()}, a.keyword};
    const std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    for (const Value& item : items) {
        Arguments copy = rest;
        out.push_back(filter(item, copy, budget));
    }
    return Value::iterator("generator", std::move(out));
}

// select, reject, selectattr, rejectattr.
Value select_or_reject(const Value& v, Arguments& a, Budget& budget, bool keep_when,
                       bool by_attribute) {
    if (!v.truthy()) return Value::iterator("generator", {});
    size_t next = 0;
    Value attribute;
    if (by_attribute) {
        if (a.positional.empty()) throw Failure("Missing parameter for attribute name");
        attribute = a.positional[next++];
    }
    TestFunction test = nullptr;
    Arguments test_arguments;
    if (next < a.positional.size()) {
        if (!a.positional[next].is_string()) throw Failure("the test name must be a string");
        const std::string name = a.positional[next].as_string();
        test = find_test(name);
        if (test == nullptr) throw Failure("No test named '" + name + "'.");
        test_arguments.positional.assign(
            a.positional.begin() + static_cast<std::ptrdiff_t>(next) + 1, a.positional.end());
        test_arguments.keyword = a.keyword;
    }
    const std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    std::vector<Value> out;
    for (const Value& item : items) {
        budget.charge(1);
        const Value subject = by_attribute ? lookup_path(item, attribute, budget) : item;
        bool passed;
        if (test != nullptr) {
            Arguments copy = test_arguments;
            passed = test(subject, copy, budget);
        } else {
            passed = subject.truthy();
        }
        if (passed == keep_when) out.push_back(item);
    }
    return Value::iterator("generator", std::move(out));
}

Value filter_select(const Value& v, Arguments& a, Budget& b) {
    return select_or_reject(v, a, b, true, false);
}
Value filter_reject(const Value& v, Arguments& a, Budget& b) {
    return select_or_reject(v, a, b, false, false);
}
Value filter_selectattr(const Value& v, Arguments& a, Budget& b) {
    return select_or_reject(v, a, b, true, true);
}
Value filter_rejectattr(const Value& v, Arguments& a, Budget& b) {
    return select_or_reject(v, a, b, false, true);
}

Value min_or_max(const Value& v, Arguments& a, bool maximum, Budget& budget) {
    const auto args =
        bind(a, maximum ? "max" : "min",
             {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
    const std::vector<Value> items = iterate(v, budget);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value best_key = sort_key(items[0], args[1], args[0].truthy(), budget);
    for (size_t i = 1; i < items.size(); ++i) {
        Value key = sort_key(items[i], args[1], args[0].truthy(), budget);
        if (maximum ? less_than(best_key, key, budget) : less_than(key, best_key, budget)) {
            best = i;
            best_key = std::move(key);
        }
    }
    return items[best];
}

Value filter_max(const Value& v, Arguments& a, Budget& budget) {
    return min_or_max(v, a, true, budget);
}
Value filter_min(const Value& v, Arguments& a, Budget& budget) {
    return min_or_max(v, a, false, budget);
}

Value filter_replace(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "replace", {{"old", {}}, {"new", {}}, {"count", Value::none()}});
    const int64_t count = args[2].is_none() ? -1 : integer_argument(args[2], "replace");
    return Value::string(replace_text(to_str(v, budget), to_str(args[0], budget),
                                      to_str(args[1], budget), count, budget));
}

Value filter_reverse(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "reverse", {});
    if (v.is_string()) {
        budget.charge_characters(v.as_string().size());
        budget.allocate_text(v.as_string().size());
        std::u32string text = decode_utf8(v.as_string());
        std::reverse(text.begin(), text.end());
        return Value::string(encode_utf8(text));
    }
    if (v.is_undefined()) return Value::iterator("reversed", {});
    std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    std::reverse(items.begin(), items.end());
    if (v.is_iterator()) return Value::list(std::move(items));
    const std::string type = v.is_list()   ? "list_reverseiterator"
                             : v.is_dict() ? "dict_reversekeyiterator"
                                           : "reversed";
    return Value::iterator(type, std::move(items));
}

// Python's round(x, n) for floats: exact decimal rounding, ties to even.
double round_float(double x, int64_t digits) {
    if (!std::isfinite(x)) return x;
    if (digits > 330) return x;
    if (digits >= 0) {
        char buffer[512];
        std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(digits), x);
        return std::strtod(buffer, nullptr);
    }
    if (digits < -330) return std::copysign(0.0, x);
    const double scale = std::pow(10.0, static_cast<double>(-digits));
    return std::nearbyint(x / scale) * scale;
}

Value filter_round(const Value& v, Arguments& a, Budget&) {
    const auto args =
        bind(a, "round", {{"precision", Value::integer(0)}, {"method", Value::string("common")}});
    const std::string method = args[1].is_string() ? args[1].as_string() : "";
    if (method != "common" && method != "ceil" && method != "floor") {
        throw Failure("method must be common, ceil or floor");
    }
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (!v.is_number()) throw Failure("type " + v.type_name() + " doesn't define __round__ method");
    if (method == "common") {
        const int64_t digits = integer_argument(args[0], "round");
        if (v.is_float()) return Value::number(round_float(v.as_float(), digits));
        if (digits >= 0) return Value::integer(v.as_int());
        // Integers round to a multiple of 10**-digits, ties to even.
        if (digits < -18) return Value::integer(0);
        int64_t scale = 1;
        for (int64_t i = 0; i < -digits; ++i) scale *= 10;
        const int64_t x = v.as_int();
        int64_t quotient = x / scale;
        int64_t remainder = x % scale;
        if (remainder < 0) {
            quotient -= 1;
            remainder += scale;
        }
        if (remainder * 2 > scale || (remainder * 2 == scale && quotient % 2 != 0)) quotient += 1;
        return Value::integer(quotient * scale);
    }
    if (!args[0].is_number())
        throw Failure("unsupported operand type for **: 'int' and '" + args[0].type_name() + "'");
    const double scale = std::pow(10.0, args[0].as_float());
    const double scaled = v.as_float() * scale;
    const double rounded = method == "ceil" ? std::ceil(scaled) : std::floor(scaled);
    return Value::number(rounded / scale);
}

Value filter_safe(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "safe", {});
    return Value::string(to_str(v, budget));
}

Value filter_slice(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "slice", {{"slices", {}}, {"fill_with", Value::none()}});
    const int64_t slices = integer_argument(args[0], "slice");
    if (slices <= 0) throw Failure("integer division or modulo by zero");
    if (slices > (int64_t{1} << 20)) throw Failure("slice: too many slices");
    const std::vector<Value> items = iterate(v, budget);
    // Each item (and a fill for each slice) goes into a slice, and the slices into the result.
    budget.allocate_items(items.size() + 2 * static_cast<size_t>(slices));
    const auto n = static_cast<int64_t>(items.size());
    const int64_t per_slice = n / slices;
    const int64_t with_extra = n % slices;
    int64_t offset = 0;
    std::vector<Value> out;
    for (int64_t s = 0; s < slices; ++s) {
        const int64_t start = offset + s * per_slice;
        if (s < with_extra) ++offset;
        const int64_t end = offset + (s + 1) * per_slice;
        std::vector<Value> part(items.begin() + start, items.begin() + end);
        if (!args[1].is_none() && s >= with_extra) part.push_back(args[1]);
        out.push_back(Value::list(std::move(part)));
    }
    return Value::iterator("generator", std::move(out));
}

Value filter_sort(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "sort",
                           {{"reverse", Value::boolean(false)},
                            {"case_sensitive", Value::boolean(false)},
                            {"attribute", Value::none()}});
    const std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    std::vector<Value> keys;
    keys.reserve(items.size());
    std::vector<Value> attributes;
    if (args[2].is_string()) {
        const std::string& names = args[2].as_string();
        budget.charge_bytes(names.size());
        size_t start = 0;
        while (true) {
            const size_t comma = names.find(',', start);
            attributes.push_back(Value::string(
                names.substr(start, comma == std::string::npos ? comma : comma - start)));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    } else {
        attributes.push_back(args[2]);
    }
    for (const Value& item : items) {
        if (attributes.size() == 1 && !args[2].is_string()) {
            keys.push_back(sort_key(item, attributes[0], args[1].truthy(), budget));
            continue;
        }
        // Several attributes (or one named): the key is the list of their values.
        budget.allocate_items(attributes.size());
        std::vector<Value> parts;
        for (const Value& attribute : attributes)
            parts.push_back(sort_key(item, attribute, args[1].truthy(), budget));
        keys.push_back(Value::list(std::move(parts)));
    }
    std::vector<Value> out;
    for (size_t i : sorted_order(keys, args[0].truthy(), budget)) out.push_back(items[i]);
    return Value::list(std::move(out));
}

Value filter_string(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "string", {});
    return Value::string(to_str(v, budget));
}

Value filter_sum(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "sum", {{"attribute", Value::none()}, {"start", Value::integer(0)}});
    Value total = args[1];
    for (const Value& item : iterate(v, budget)) {
        total =
            binary_operation(BinaryOperator::Add, total,
                             args[0].is_none() ? item : lookup_path(item, args[0], budget), budget);
    }
    return total;
}

Value filter_title(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "title", {});
    // jinja2 splits at runs of [-\s({\[<] and capitalizes each piece's first character.
    const std::string input = to_str(v, budget);
    budget.charge_characters(input.size());
    const std::u32string text = decode_utf8(input);
    const auto is_boundary = [](char32_t c) {
        return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
    };
    std::u32string out;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = i;
        const bool boundary = is_boundary(text[i]);
        while (j < text.size() && is_boundary(text[j]) == boundary) ++j;
        const std::u32string_view piece(text.data() + i, j - i);
        budget.charge(1);  // each piece is case-mapped into strings of its own
        if (boundary) {
            out += piece;
        } else {
            out += to_upper(piece.substr(0, 1));
            out += to_lower(piece.substr(1));
        }
        i = j;
    }
    std::string encoded = encode_utf8(out);
    budget.allocate_text(encoded.size());
    return Value::string(std::move(encoded));
}

Value filter_tojson(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "tojson",
                           {{"ensure_ascii", Value::boolean(false)},
                            {"indent", Value::none()},
                            {"separators", Value::none()},
                            {"sort_keys", Value::boolean(false)}});
    JsonOptions options;
    options.ensure_ascii = args[0].truthy();
    if (args[1].is_string()) {
        options.indent = args[1].as_string();
    } else if (args[1].is_integral()) {
        const int64_t width = args[1].as_int();
        budget.check_text(static_cast<size_t>(std::max<int64_t>(width, 0)));
        budget.allocate_text(static_cast<size_t>(std::max<int64_t>(width, 0)));
        options.indent = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    } else if (!args[1].is_none()) {
        throw Failure("indent must be an int or a string, not " + args[1].type_name());
    }
    if (!args[2].is_none()) {
        const std::vector<Value> separators = iterate(args[2], budget);
        if (separators.size() != 2 || !separators[0].is_string() || !separators[1].is_string()) {
            throw Failure("separators must be a pair of strings");
        }
        options.item_separator = separators[0].as_string();
        options.key_separator = separators[1].as_string();
    }
    options.sort_keys = args[3].truthy();
    return Value::string(to_json(v, options, budget));
}

Value filter_trim(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "trim", {{"chars", Value::none()}});
    return Value::string(strip_chars(to_str(v, budget), args[0], true, true, budget));
}

Value filter_truncate(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "truncate",
                           {{"length", Value::integer(255)},
                            {"killwords", Value::boolean(false)},
                            {"end", Value::string("...")},
                            {"leeway", Value::none()}});
    const std::string input = to_str(v, budget);
    const std::string end_text = to_str(args[2], budget);
    budget.charge_characters(input.size() + end_text.size());
    const std::u32string text = decode_utf8(input);
    const int64_t length = integer_argument(args[0], "truncate");
    const std::u32string end = decode_utf8(end_text);
    const int64_t leeway = args[3].is_none() ? 5 : integer_argument(args[3], "truncate");
    if (length < static_cast<int64_t>(end.size())) {
        throw Failure("expected length >= " + std::to_string(end.size()) + ", got " +
                      std::to_string(length));
    }
    if (leeway < 0) throw Failure("expected leeway >= 0, got " + std::to_string(leeway));
    if (static_cast<int64_t>(text.size()) <= length + leeway) return Value::string(input);
    std::u32string kept = text.substr(0, static_cast<size_t>(length) - end.size());
    if (!args[1].truthy()) {
        const size_t space = kept.rfind(U' ');
        if (space != std::u32string::npos) kept = kept.substr(0, space);
    }
    std::string truncated = encode_utf8(kept + end);
    budget.allocate_text(truncated.size());
    return Value::string(std::move(truncated));
}

Value filter_unique(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(
        a, "unique", {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
    const std::vector<Value> items = iterate(v, budget);
    budget.allocate_items(items.size());
    std::unordered_set<std::string> seen;
    std::vector<Value> out;
    for (const Value& item : items) {
        const std::string key =
            hash_key(sort_key(item, args[1], args[0].truthy(), budget), &budget);
        if (seen.insert(key).second) {
            out.push_back(item);
        }
    }
    return Value::iterator("generator", std::move(out));
}

Value filter_wordcount(const Value& v, Arguments& a, Budget& budget) {
    bind(a, "wordcount", {});
    const std::string text = to_str(v, budget);
    budget.charge_characters(text.size());
    int64_t words = 0;
    bool in_word = false;
    for (char32_t c : decode_utf8(text)) {
        const bool word = is_word(c);
        if (word && !in_word) ++words;
        in_word = word;
    }
    return Value::integer(words);
}

Value filter_filesizeformat(const Value& v, Arguments& a, Budget& budget) {
    const auto args = bind(a, "filesizeformat", {{"binary", Value::boolean(false)}});
    if (v.is_undefined()) throw Failure(v.undefined_message());
    std::optional<double> parsed;
    if (v.is_number()) parsed = v.as_float();
    if (v.is_string()) parsed = parse_python_float(v.as_string(), budget);
    if (!parsed) {
        throw Failure("could not convert " + v.type_name() + " to float: " + to_repr(v, budget));
    }
    const bool binary = args[0].truthy();
    const double bytes = *parsed;
    const double base = binary ? 1024.0 : 1000.0;
    static constexpr std::array<const char*, 8> kDecimal = {"kB", "MB", "GB", "TB",
                                                            "PB", "EB", "ZB", "YB"};
    static constexpr std::array<const char*, 8> kBinary = {"KiB", "MiB", "GiB", "TiB",
                                                           "PiB", "EiB", "ZiB", "YiB"};
    char buffer[64];
    if (bytes == 1.0) return Value::string("1 Byte");
    if (bytes < base) {
        std::snprintf(buffer, sizeof buffer, "%lld Bytes", static_cast<long long>(bytes));
        return Value::string(buffer);
    }
    double unit = base;
    for (size_t i = 0; i < 8; ++i) {
        unit = std::pow(base, static_cast<double>(i + 2));
        if (bytes < unit || i == 7) {
            std::snprintf(buffer, sizeof buffer, "%.1f %s", base * bytes / unit,
                          binary ? kBinary[i] : kDecimal[i]);
            return Value::string(buffer);
        }
    }
    return Value::string(buffer);
}

}  // namespace

FilterFunction find_filter(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, FilterFunction>, 47> kFilters = {{
        {"abs", filter_abs},
        {"attr", filter_attr},
        {"batch", filter_batch},
        {"capitalize", filter_capitalize},
        {"center", filter_center},
        {"count", filter_length},
        {"d", filter_default},
        {"default", filter_default},
        {"dictsort", filter_dictsort},
        {"e", filter_escape},
        {"escape", filter_escape},
        {"filesizeformat", filter_filesizeformat},
        {"first", filter_first},
        {"float", filter_float},
        {"forceescape", filter_escape},
        {"format", filter_format},
        {"groupby", filter_groupby},
        {"indent", filter_indent},
        {"int", filter_int},
        {"items", filter_items},
        {"join", filter_join},
        {"last", filter_last},
        {"length", filter_length},
        {"list", filter_list},
        {"lower", filter_lower},
        {"map", filter_map},
        {"max", filter_max},
        {"min", filter_min},
        {"reject", filter_reject},
        {"rejectattr", filter_rejectattr},
        {"replace", filter_replace},
        {"reverse", filter_reverse},
        {"round", filter_round},
        {"safe", filter_safe},
        {"select", filter_select},
        {"selectattr", filter_selectattr},
        {"slice", filter_slice},
        {"sort", filter_sort},
        {"string", filter_string},
        {"sum", filter_sum},
        {"title", filter_title},
        {"tojson", filter_tojson},
        {"trim", filter_trim},
        {"truncate", filter_truncate},
        {"unique", filter_unique},
        {"upper", filter_upper},
        {"wordcount", filter_wordcount},
    }};
    for (const auto& [filter_name, function] : kFilters) {
        if (filter_name == name) return function;
    }
    return nullptr;
}

}  // namespace tessera::jinja

#include "runtime/jinja/python_format.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>

#include "runtime/jinja/access.h"
#include "runtime/jinja/failure.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

// A parsed format spec: [[fill]align][sign][#][0][width][grouping][.precision][type].
struct Spec {
    char32_t fill = ' ';
    char align = 0;  // '<', '>', '^', '=' or 0 for the type's default
    char sign = 0;   // '+', ' ' or 0
    bool alternate = false;
    bool zero = false;
    int64_t width = 0;
    char grouping = 0;  // ',' or '_'
    std::optional<int64_t> precision;
    char type = 0;
};

bool is_align(char32_t c) {
    return c == '<' || c == '>' || c == '^' || c == '=';
}

int64_t parse_number(const std::u32string& text, size_t& i) {
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        n = n * 10 + (text[i] - '0');
        if (n > 100'000'000) throw Failure("Too many decimal digits in format string");
        ++i;
    }
    return n;
}

Spec parse_spec(const std::string& spec_text, Budget& budget) {
    budget.charge_characters(spec_text.size());
    const std::u32string text = decode_utf8(spec_text);
    Spec spec;
    size_t i = 0;
    if (text.size() >= 2 && is_align(text[1])) {
        spec.fill = text[0];
        spec.align = static_cast<char>(text[1]);
        i = 2;
    } else if (!text.empty() && is_align(text[0])) {
        spec.align = static_cast<char>(text[0]);
        i = 1;
    }
    if (i < text.size() && (text[i] == '+' || text[i] == '-' || text[i] == ' ')) {
        spec.sign = text[i] == '-' ? 0 : static_cast<char>(text[i]);
        ++i;
    }
    if (i < text.size() && text[i] == '#') {
        spec.alternate = true;
        ++i;
    }
    if (i < text.size() && text[i] == '0') {
        spec.zero = true;
        ++i;
    }
    spec.width = parse_number(text, i);
    if (i < text.size() && (text[i] == ',' || text[i] == '_'))
        spec.grouping = static_cast<char>(text[i++]);
    if (i < text.size() && text[i] == '.') {
        ++i;
        const size_t start = i;
        spec.precision = parse_number(text, i);
        if (i == start) throw Failure("Format specifier missing precision");
    }
    if (i < text.size() && text[i] < 0x80) spec.type = static_cast<char>(text[i++]);
    if (i < text.size()) throw Failure(concat("Invalid format specifier '", spec_text, "'"));
    return spec;
}

std::string repeat_fill(char32_t fill, size_t count) {
    std::string out;
    for (size_t i = 0; i < count; ++i) append_utf8(out, fill);
    return out;
}

// Pads prefix + body to the spec's width; '=' puts the padding between them.
std::string apply_width(const std::string& prefix, const std::string& body, const Spec& spec,
                        char default_align, Budget& budget) {
    const size_t length = code_point_count(prefix) + code_point_count(body);
    if (spec.width <= static_cast<int64_t>(length)) return prefix + body;
    const size_t padding = static_cast<size_t>(spec.width) - length;
    budget.check_text(prefix.size() + body.size() + padding * 4);
    budget.charge_characters(length + padding);
    char32_t fill = spec.fill;
    char align = spec.align != 0 ? spec.align : default_align;
    if (spec.zero && spec.align == 0) {
        fill = '0';
        align = default_align == '<' ? '<' : '=';
    }
    switch (align) {
        case '<':
            return prefix + body + repeat_fill(fill, padding);
        case '^':
            return repeat_fill(fill, padding / 2) + prefix + body +
                   repeat_fill(fill, padding - padding / 2);
        case '=':
            return prefix + repeat_fill(fill, padding) + body;
        default:
            return repeat_fill(fill, padding) + prefix + body;
    }
}

// Inserts the grouping separator into the leading run of digits of `body`.
std::string group_digits(const std::string& body, char separator, size_t every) {
    if (separator == 0) return body;
    size_t digits_end = 0;
    while (digits_end < body.size() &&
           std::isxdigit(static_cast<unsigned char>(body[digits_end]))) {
        ++digits_end;
    }
    std::string out;
    for (size_t i = 0; i < digits_end; ++i) {
        if (i > 0 && (digits_end - i) % every == 0) out += separator;
        out += body[i];
    }
    return out + body.substr(digits_end);
}

std::string sign_prefix(bool negative, char sign) {
    if (negative) return "-";
    if (sign == '+') return "+";
    if (sign == ' ') return " ";
    return "";
}

std::string to_base(uint64_t magnitude, int base, bool upper) {
    if (magnitude == 0) return "0";
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    while (magnitude > 0) {
        out.insert(out.begin(), digits[magnitude % static_cast<uint64_t>(base)]);
        magnitude /= static_cast<uint64_t>(base);
    }
    return out;
}

uint64_t magnitude_of(int64_t v) {
    return v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
}

// printf of one double with C's conversion (glibc rounds exactly, as Python does).
std::string c_format(double v, char conversion, int64_t precision, bool alternate, Budget& budget) {
    budget.check_text(static_cast<size_t>(precision) + 32);
    // Formatted twice: once to measure, once to write.
    budget.charge(kFloatReprSteps);
    budget.charge_characters(2 * static_cast<size_t>(precision));
    const std::string format = std::string("%") + (alternate ? "#" : "") + ".*" + conversion;
    const int size = std::snprintf(nullptr, 0, format.c_str(), static_cast<int>(precision), v);
    std::string out(static_cast<size_t>(size) + 1, '\0');
    std::snprintf(out.data(), out.size(), format.c_str(), static_cast<int>(precision), v);
    out.resize(static_cast<size_t>(size));
    return out;
}

std::string strip_fraction_zeros(std::string text) {
    const size_t e = text.find_first_of("eE");
    std::string mantissa = text.substr(0, e);
    const std::string exponent = e == std::string::npos ? "" : text.substr(e);
    if (mantissa.find('.') != std::string::npos) {
        while (!mantissa.empty() && mantissa.back() == '0') mantissa.pop_back();
        if (!mantissa.empty() && mantissa.back() == '.') mantissa.pop_back();
    }
    return mantissa + exponent;
}

// Python's float formatting without the type letter but with a precision: like 'g', but
// scientific from exponent precision-1, and always a digit after the point.
std::string general_repr_style(double magnitude, int64_t precision, bool alternate,
                               Budget& budget) {
    const int64_t p = precision == 0 ? 1 : precision;
    const std::string scientific = c_format(magnitude, 'e', p - 1, false, budget);
    const int exponent = std::atoi(scientific.c_str() + scientific.find('e') + 1);
    if (exponent >= -4 && exponent < p - 1) {
        std::string fixed = c_format(magnitude, 'f', p - 1 - exponent, alternate, budget);
        if (!alternate) fixed = strip_fraction_zeros(fixed);
        if (fixed.find('.') == std::string::npos) fixed += ".0";
        return fixed;
    }
    return alternate ? scientific : strip_fraction_zeros(scientific);
}

std::string format_float(double v, const Spec& spec, Budget& budget) {
    const bool negative = std::signbit(v) && !std::isnan(v);
    const double magnitude = std::fabs(v);
    const char type = spec.type;
    const bool upper = type == 'E' || type == 'F' || type == 'G';
    std::string body;
    if (!std::isfinite(v)) {
        body = std::isnan(v) ? "nan" : "inf";
        if (upper) body = std::isnan(v) ? "NAN" : "INF";
        if (type == '%') body += '%';
    } else if (type == 0) {
        budget.charge(kFloatReprSteps);
        body = spec.precision
                   ? general_repr_style(magnitude, *spec.precision, spec.alternate, budget)
                   : float_repr(magnitude);
    } else if (type == '%') {
        body =
            c_format(magnitude * 100.0, 'f', spec.precision.value_or(6), spec.alternate, budget) +
            "%";
    } else if (type == 'e' || type == 'E' || type == 'f' || type == 'F' || type == 'g' ||
               type == 'G' || type == 'n') {
        const char conversion = type == 'n' ? 'g' : type;
        body = c_format(magnitude, conversion, spec.precision.value_or(6), spec.alternate, budget);
    } else {
        throw Failure(std::string("Unknown format code '") + type + "' for object of type 'float'");
    }
    body = group_digits(body, spec.grouping, 3);
    return apply_width(sign_prefix(negative, spec.sign), body, spec, '>', budget);
}

std::string format_integer(int64_t v, const Spec& spec, Budget& budget) {
    const char type = spec.type;
    if (type == 'e' || type == 'E' || type == 'f' || type == 'F' || type == 'g' || type == 'G' ||
        type == '%') {
        return format_float(static_cast<double>(v), spec, budget);
    }
    if (spec.precision) throw Failure("Precision not allowed in integer format specifier");
    if (type == 'c') {
        std::string one;
        append_utf8(one, static_cast<char32_t>(v));
        return apply_width("", one, spec, '<', budget);
    }
    int base = 10;
    std::string base_prefix;
    if (type == 'b') base = 2, base_prefix = "0b";
    if (type == 'o') base = 8, base_prefix = "0o";
    if (type == 'x') base = 16, base_prefix = "0x";
    if (type == 'X') base = 16, base_prefix = "0X";
    if (type != 0 && type != 'd' && type != 'n' && base == 10) {
        throw Failure(std::string("Unknown format code '") + type + "' for object of type 'int'");
    }
    std::string body = to_base(magnitude_of(v), base, type == 'X');
    body = group_digits(body, spec.grouping, base == 10 ? 3 : 4);
    std::string prefix = sign_prefix(v < 0, spec.sign);
    if (spec.alternate) prefix += base_prefix;
    return apply_width(prefix, body, spec, '>', budget);
}

std::string truncate_code_points(const std::string& text, int64_t count, Budget& budget) {
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    if (static_cast<int64_t>(code_points.size()) <= count) return text;
    return encode_utf8(std::u32string_view(code_points).substr(0, static_cast<size_t>(count)));
}

std::string ascii_repr(const Value& value, Budget& budget) {
    const std::string repr = to_repr(value, budget);
    budget.charge_characters(repr.size());
    TextBuilder out(budget);
    for (char32_t c : decode_utf8(repr)) {
        if (c < 0x80) {
            out += static_cast<char>(c);
            continue;
        }
        char buffer[16];
        if (c < 0x100) {
            std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(c));
        } else if (c < 0x10000) {
            std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
        } else {
            std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(c));
        }
        out += buffer;
    }
    return out.take();
}

// The integer a %d, %x or %c conversion takes.
int64_t integer_for(const Value& v, char conversion) {
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (v.is_integral()) return v.as_int();
    if (v.is_float() && (conversion == 'd' || conversion == 'i' || conversion == 'u')) {
        const double d = v.as_float();
        if (!std::isfinite(d))
            throw Failure("cannot convert float " + float_repr(d) + " to integer");
        if (std::fabs(d) >= 9.2e18) throw Failure("integer result does not fit in 64 bits");
        return static_cast<int64_t>(d);
    }
    if (conversion == 'd' || conversion == 'i' || conversion == 'u') {
        throw Failure(std::string("%") + conversion + " format: a real number is required, not " +
                      v.type_name());
    }
    throw Failure(std::string("%") + conversion + " format: an integer is required, not " +
                  v.type_name());
}

double float_for(const Value& v) {
    if (v.is_undefined()) throw Failure(v.undefined_message());
    if (!v.is_number()) throw Failure("must be real number, not " + v.type_name());
    return v.as_float();
}

// One %-conversion of `value`.
std::string percent_conversion(const Value& value, char conversion, Spec spec, Budget& budget) {
    switch (conversion) {
        case 's':
        case 'r':
        case 'a': {
            std::string text = conversion == 's'   ? to_str(value, budget)
                               : conversion == 'r' ? to_repr(value, budget)
                                                   : ascii_repr(value, budget);
            if (spec.precision) text = truncate_code_points(text, *spec.precision, budget);
            spec.zero = false;
            return apply_width("", text, spec, '>', budget);
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            const int64_t v = integer_for(value, conversion);
            const int base = conversion == 'o'                          ? 8
                             : (conversion == 'x' || conversion == 'X') ? 16
                                                                        : 10;
            std::string digits = to_base(magnitude_of(v), base, conversion == 'X');
            if (spec.precision && static_cast<int64_t>(digits.size()) < *spec.precision) {
                budget.check_text(static_cast<size_t>(*spec.precision));
                digits.insert(0, static_cast<size_t>(*spec.precision) - digits.size(), '0');
            }
            std::string prefix = sign_prefix(v < 0, spec.sign);
            if (spec.alternate && base == 16) prefix += conversion == 'X' ? "0X" : "0x";
            if (spec.alternate && base == 8) prefix += "0o";
            return apply_width(prefix, digits, spec, '>', budget);
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G': {
            spec.type = conversion;
            if (!spec.precision) spec.precision = 6;
            return format_float(float_for(value), spec, budget);
        }
        case 'c': {
            if (value.is_string() && code_point_count(value.as_string()) == 1) {
                return apply_width("", value.as_string(), spec, '>', budget);
            }
            std::string one;
            append_utf8(one, static_cast<char32_t>(integer_for(value, 'c')));
            return apply_width("", one, spec, '>', budget);
        }
        default:
            throw Failure(std::string("unsupported format character '") + conversion + "'");
    }
}

}  // namespace

std::string percent_format(const std::string& format, const Value& arguments, Budget& budget) {
    budget.charge_characters(format.size());
    std::vector<Value> positional;
    const Dict* mapping = nullptr;
    bool single_mapping = false;
    if (arguments.is_tuple()) {
        budget.charge(arguments.sequence().items.size());
        positional = arguments.sequence().items;
    } else {
        positional.push_back(arguments);
        if (arguments.is_dict()) mapping = &arguments.dict();
        single_mapping = arguments.is_dict() || arguments.is_list();
    }
    size_t next = 0;
    const auto take = [&]() -> const Value& {
        if (next >= positional.size()) throw Failure("not enough arguments for format string");
        return positional[next++];
    };
    TextBuilder out(budget);
    size_t i = 0;
    bool used_mapping = false;
    while (i < format.size()) {
        const char c = format[i++];
        if (c != '%') {
            out += c;
            continue;
        }
        if (i >= format.size()) throw Failure("incomplete format");
        const Value* value = nullptr;
        Value keyed;
        if (format[i] == '(') {
            if (mapping == nullptr) throw Failure("format requires a mapping");
            int depth = 1;
            const size_t start = ++i;
            while (i < format.size() && depth > 0) {
                if (format[i] == '(') ++depth;
                if (format[i] == ')') --depth;
                ++i;
            }
            if (depth > 0) throw Failure("incomplete format key");
            const std::string key = format.substr(start, i - start - 1);
            const Value* found = mapping->find(std::string_view(key), budget);
            if (found == nullptr) throw Failure("'" + key + "'");
            keyed = *found;
            value = &keyed;
            used_mapping = true;
        }
        Spec spec;
        bool left = false;
        for (; i < format.size(); ++i) {
            const char flag = format[i];
            if (flag == '-')
                left = true;
            else if (flag == '+')
                spec.sign = '+';
            else if (flag == ' ' && spec.sign != '+')
                spec.sign = ' ';
            else if (flag == '#')
                spec.alternate = true;
            else if (flag == '0')
                spec.zero = true;
            else
                break;
        }
        const auto read_count = [&]() -> int64_t {
            if (i < format.size() && format[i] == '*') {
                ++i;
                const Value& v = take();
                if (!v.is_integral()) throw Failure("* wants int");
                return v.as_int();
            }
            int64_t n = 0;
            while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
                n = n * 10 + (format[i++] - '0');
                if (n > 100'000'000) throw Failure("width too big");
            }
            return n;
        };
        spec.width = read_count();
        if (spec.width < 0) {
            left = true;
            spec.width = -spec.width;
        }
        if (i < format.size() && format[i] == '.') {
            ++i;
            spec.precision = std::max<int64_t>(read_count(), 0);
        }
        while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
        if (i >= format.size()) throw Failure("incomplete format");
        const char conversion = format[i++];
        if (conversion == '%') {
            out += '%';
            continue;
        }
        if (left) {
            spec.align = '<';
            spec.zero = false;
        }
        out += percent_conversion(value != nullptr ? *value : take(), conversion, spec, budget);
    }
    if (next < positional.size() && !single_mapping && !used_mapping) {
        throw Failure("not all arguments converted during string formatting");
    }
    return out.take();
}

std::string format_value(const Value& value, const std::string& spec_text, Budget& budget) {
    if (spec_text.empty()) return to_str(value, budget);
    if (value.is_string()) {
        const Spec spec = parse_spec(spec_text, budget);
        if (spec.type != 0 && spec.type != 's') {
            throw Failure(std::string("Unknown format code '") + spec.type +
                          "' for object of type 'str'");
        }
        if (spec.sign != 0) throw Failure("Sign not allowed in string format specifier");
        if (spec.align == '=')
            throw Failure("'=' alignment not allowed in string format specifier");
        std::string text = value.as_string();
        if (spec.precision) text = truncate_code_points(text, *spec.precision, budget);
        return apply_width("", text, spec, '<', budget);
    }
    if (value.is_integral()) {
        return format_integer(value.as_int(), parse_spec(spec_text, budget), budget);
    }
    if (value.is_float()) {
        return format_float(value.as_float(), parse_spec(spec_text, budget), budget);
    }
    throw Failure("unsupported format string passed to " + value.type_name() + ".__format__");
}

namespace {

// The value a replacement field names: "0", "name", "0.attr", "items[1]".
Value resolve_field(const std::string& field, const Arguments& arguments, size_t& auto_index,
                    int& numbering, Budget& budget) {
    budget.charge(1);
    size_t end = 0;
    while (end < field.size() && field[end] != '.' && field[end] != '[') ++end;
    const std::string first = field.substr(0, end);
    Value value;
    const bool numeric =
        !first.empty() && first.find_first_not_of("0123456789") == std::string::npos;
    if (first.empty() || numeric) {
        size_t index;
        if (first.empty()) {
            if (numbering == 2) {
                throw Failure(
                    "cannot switch from manual field specification to automatic field numbering");
            }
            numbering = 1;
            index = auto_index++;
        } else {
            if (numbering == 1) {
                throw Failure(
                    "cannot switch from automatic field numbering to manual field specification");
            }
            numbering = 2;
            index = std::stoul(first.substr(0, 9));
        }
        if (index >= arguments.positional.size()) {
            throw Failure("Replacement index " + std::to_string(index) +
                          " out of range for positional args tuple");
        }
        value = arguments.positional[index];
    } else {
        bool found = false;
        for (const auto& [name, v] : arguments.keyword) {
            if (name == first) {
                value = v;
                found = true;
            }
        }
        if (!found) throw Failure("'" + first + "'");
    }
    size_t i = end;
    while (i < field.size()) {
        if (field[i] == '.') {
            size_t j = i + 1;
            while (j < field.size() && field[j] != '.' && field[j] != '[') ++j;
            value = get_attribute(value, field.substr(i + 1, j - i - 1), budget);
            i = j;
        } else {
            const size_t close = field.find(']', i);
            if (close == std::string::npos) throw Failure("Missing ']' in format string");
            const std::string key = field.substr(i + 1, close - i - 1);
            const bool digits =
                !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
            value = get_item(
                value, digits ? Value::integer(std::stoll(key.substr(0, 18))) : Value::string(key),
                budget);
            i = close + 1;
        }
    }
    return value;
}

}  // namespace

std::string brace_format(const std::string& format, const Arguments& arguments, Budget& budget) {
    budget.charge_characters(format.size());
    TextBuilder out(budget);
    size_t auto_index = 0;
    int numbering = 0;  // 0: not yet, 1: automatic, 2: manual
    size_t i = 0;
    while (i < format.size()) {
        const char c = format[i];
        if (c == '}') {
            if (i + 1 < format.size() && format[i + 1] == '}') {
                out += '}';
                i += 2;
                continue;
            }
            throw Failure("Single '}' encountered in format string");
        }
        if (c != '{') {
            out += c;
            ++i;
            continue;
        }
        if (i + 1 < format.size() && format[i + 1] == '{') {
            out += '{';
            i += 2;
            continue;
        }
        // The field runs to the matching '}' (the spec may hold nested fields).
        int depth = 1;
        size_t j = i + 1;
        while (j < format.size() && depth > 0) {
            if (format[j] == '{') ++depth;
            if (format[j] == '}') --depth;
            if (depth > 0) ++j;
        }
        if (depth > 0) throw Failure("expected '}' before end of string");
        const std::string field = format.substr(i + 1, j - i - 1);
        i = j + 1;
        size_t name_end = 0;
        int bracket = 0;
        while (name_end < field.size()) {
            const char f = field[name_end];
            if (f == '[') ++bracket;
            if (f == ']') --bracket;
            if (bracket == 0 && (f == '!' || f == ':')) break;
            ++name_end;
        }
        const std::string name = field.substr(0, name_end);
        char conversion = 0;
        std::string spec;
        size_t k = name_end;
        if (k < field.size() && field[k] == '!') {
            if (k + 1 >= field.size())
                throw Failure("end of string while looking for conversion specifier");
            conversion = field[k + 1];
            k += 2;
            if (k < field.size() && field[k] != ':')
                throw Failure("expected ':' after conversion specifier");
        }
        if (k < field.size() && field[k] == ':') spec = field.substr(k + 1);
        if (spec.find('{') != std::string::npos) {
            // Nested fields in the spec share the numbering.
            Arguments nested = arguments;
            std::string expanded;
            size_t s = 0;
            while (s < spec.size()) {
                if (spec[s] == '{') {
                    const size_t close = spec.find('}', s);
                    if (close == std::string::npos) throw Failure("unmatched '{' in format spec");
                    expanded += to_str(resolve_field(spec.substr(s + 1, close - s - 1), nested,
                                                     auto_index, numbering, budget),
                                       budget);
                    s = close + 1;
                } else {
                    expanded += spec[s++];
                }
            }
            spec = expanded;
        }
        Value value = resolve_field(name, arguments, auto_index, numbering, budget);
        if (conversion == 'r') {
            value = Value::string(to_repr(value, budget));
        } else if (conversion == 's') {
            value = Value::string(to_str(value, budget));
        } else if (conversion == 'a') {
            value = Value::string(ascii_repr(value, budget));
        } else if (conversion != 0) {
            throw Failure(std::string("Unknown conversion specifier ") + conversion);
        }
        out += format_value(value, spec, budget);
    }
    return out.take();
}

}  // namespace tessera::jinja

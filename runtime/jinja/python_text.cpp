#include "runtime/jinja/python_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

// Containers being printed, outermost first: a list that holds itself prints as [...].
using Visiting = std::vector<const void*>;

void append_repr_of(TextBuilder& out, const Value& value, Visiting& visiting);

void append_items(TextBuilder& out, const std::vector<Value>& items, Visiting& visiting) {
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        append_repr_of(out, items[i], visiting);
    }
}

void append_dict(TextBuilder& out, const Dict& dict, Visiting& visiting) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : dict.entries()) {
        if (!first) out += ", ";
        first = false;
        append_repr_of(out, key, visiting);
        out += ": ";
        append_repr_of(out, item, visiting);
    }
    out += '}';
}

// Deeper than Python prints (it stops near 1000 frames); keeps the recursion bounded.
constexpr size_t kMaxReprDepth = 500;

bool entered(const void* container, Visiting& visiting, Budget& budget) {
    // Looks through the containers being printed: deep nesting makes this dear.
    budget.charge_bytes(visiting.size() * sizeof(const void*));
    for (const void* v : visiting) {
        if (v == container) return false;
    }
    if (visiting.size() >= kMaxReprDepth) {
        throw Failure("maximum recursion depth exceeded while getting the repr of an object");
    }
    visiting.push_back(container);
    return true;
}

void append_sequence(TextBuilder& out, const Sequence& sequence, Visiting& visiting) {
    switch (sequence.kind) {
        case SequenceKind::List:
            out += '[';
            append_items(out, sequence.items, visiting);
            out += ']';
            return;
        case SequenceKind::Tuple:
        case SequenceKind::Group:
            out += '(';
            append_items(out, sequence.items, visiting);
            if (sequence.items.size() == 1) out += ',';
            out += ')';
            return;
        case SequenceKind::DictKeys:
        case SequenceKind::DictValues:
        case SequenceKind::DictItems:
            out += sequence.kind == SequenceKind::DictKeys     ? "dict_keys(["
                   : sequence.kind == SequenceKind::DictValues ? "dict_values(["
                                                               : "dict_items([";
            append_items(out, sequence.items, visiting);
            out += "])";
            return;
    }
}

void append_hex(TextBuilder& out, char32_t c, int digits) {
    static const char* const kDigits = "0123456789abcdef";
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kDigits[(c >> shift) & 15];
}

void append_string_repr(TextBuilder& out, std::string_view text) {
    out.budget().charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    const bool has_single = code_points.find(U'\'') != std::u32string::npos;
    const bool has_double = code_points.find(U'"') != std::u32string::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    out += quote;
    for (char32_t c : code_points) {
        if (c == static_cast<char32_t>(quote) || c == U'\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == U'\n') {
            out += "\\n";
        } else if (c == U'\r') {
            out += "\\r";
        } else if (c == U'\t') {
            out += "\\t";
        } else if (is_printable(c)) {
            out.append_code_point(c);
        } else if (c < 0x100) {
            out += "\\x";
            append_hex(out, c, 2);
        } else if (c < 0x10000) {
            out += "\\u";
            append_hex(out, c, 4);
        } else {
            out += "\\U";
            append_hex(out, c, 8);
        }
    }
    out += quote;
}

void append_repr_of(TextBuilder& out, const Value& value, Visiting& visiting) {
    out.budget().charge(1);
    if (value.is_undefined()) {
        out += "Undefined";
    } else if (value.is_string()) {
        append_string_repr(out, value.as_string());
    } else if (value.is_sequence()) {
        const Sequence& sequence = value.sequence();
        if (!entered(&sequence, visiting, out.budget())) {
            out += sequence.kind == SequenceKind::List ? "[...]" : "(...)";
            return;
        }
        append_sequence(out, sequence, visiting);
        visiting.pop_back();
    } else if (value.is_dict()) {
        if (!entered(&value.dict(), visiting, out.budget())) {
            out += "{...}";
            return;
        }
        append_dict(out, value.dict(), visiting);
        visiting.pop_back();
    } else if (value.is_namespace()) {
        if (!entered(&value.namespace_(), visiting, out.budget())) {
            out += "<Namespace {...}>";
            return;
        }
        out += "<Namespace ";
        append_dict(out, value.namespace_().attributes, visiting);
        out += '>';
        visiting.pop_back();
    } else {
        append_str(out, value);
    }
}

}  // namespace

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    // The shortest round-trip digits, then laid out by Python's rule: positional notation when
    // the decimal exponent is in [-5, 16), scientific otherwise.
    char buffer[64];
    const auto result =
        std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::scientific);
    const std::string text(buffer, result.ptr);
    const size_t e_pos = text.find('e');
    std::string mantissa = text.substr(0, e_pos);
    const int exponent = std::atoi(text.c_str() + e_pos + 1);
    std::string sign;
    if (mantissa[0] == '-') {
        sign = "-";
        mantissa.erase(0, 1);
    }
    std::string digits;
    for (char c : mantissa) {
        if (c != '.') digits += c;
    }
    if (exponent < -4 || exponent >= 16) {
        std::string out = sign + digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char exp_text[16];
        std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+',
                      std::abs(exponent));
        return out + exp_text;
    }
    if (exponent < 0) {
        return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
    const size_t integer_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= integer_digits) {
        return sign + digits + std::string(integer_digits - digits.size(), '0') + ".0";
    }
    return sign + digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
}

void append_str(TextBuilder& out, const Value& value) {
    if (value.is_undefined()) return;
    if (value.is_none()) {
        out += "None";
    } else if (value.is_bool()) {
        out += value.as_bool() ? "True" : "False";
    } else if (value.is_int()) {
        out += std::to_string(value.as_int());
    } else if (value.is_float()) {
        out.budget().charge(kFloatReprSteps);
        out += float_repr(value.as_float());
    } else if (value.is_string()) {
        out += value.as_string();
    } else if (value.is_iterator()) {
        out += concat("<", value.iterator().type_name, " object>");
    } else if (value.is_object()) {
        out += value.object().repr();
    } else {
        append_repr(out, value);
    }
}

void append_repr(TextBuilder& out, const Value& value) {
    Visiting visiting;
    append_repr_of(out, value, visiting);
}

std::string to_str(const Value& value, Budget& budget) {
    TextBuilder out(budget);
    append_str(out, value);
    return out.take();
}

std::string to_repr(const Value& value, Budget& budget) {
    TextBuilder out(budget);
    append_repr(out, value);
    return out.take();
}

}  // namespace tessera::jinja

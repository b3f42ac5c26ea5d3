#include "runtime/jinja/string_methods.h"

#include <algorithm>
#include <array>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/python_format.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/text_search.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

constexpr std::array<std::string_view, 47> kPythonStringMethods = {
    "capitalize",   "casefold",    "center",    "count",      "encode",       "endswith",
    "expandtabs",   "find",        "format",    "format_map", "index",        "isalnum",
    "isalpha",      "isascii",     "isdecimal", "isdigit",    "isidentifier", "islower",
    "isnumeric",    "isprintable", "isspace",   "istitle",    "isupper",      "join",
    "ljust",        "lower",       "lstrip",    "maketrans",  "partition",    "removeprefix",
    "removesuffix", "replace",     "rfind",     "rindex",     "rjust",        "rpartition",
    "rsplit",       "rstrip",      "split",     "splitlines", "startswith",   "strip",
    "swapcase",     "title",       "translate", "upper",      "zfill",
};

const std::string& string_argument(const Value& v, std::string_view method, const char* what) {
    if (!v.is_string()) {
        throw Failure(std::string(method) + "() " + what + " must be str, not " + v.type_name());
    }
    return v.as_string();
}

int64_t integer_argument(const Value& v, std::string_view method) {
    if (!v.is_integral()) {
        throw Failure("'" + v.type_name() + "' object cannot be interpreted as an integer (in " +
                      std::string(method) + "())");
    }
    return v.as_int();
}

// The code-point range [first, last) that optional start/end arguments select, as slices do;
// `beyond` when start is past the end (Python's find and count then find nothing).
struct Range {
    size_t first;
    size_t last;
    bool beyond;
};

Range range_arguments(const Value& start, const Value& end, size_t size, std::string_view method) {
    const auto n = static_cast<int64_t>(size);
    const auto resolve = [&](const Value& v, int64_t if_none) {
        if (v.is_none() || v.is_undefined()) return if_none;
        int64_t i = integer_argument(v, method);
        if (i < 0) i = std::max<int64_t>(i + n, 0);
        return i;
    };
    const int64_t first = resolve(start, 0);
    const int64_t last = std::min(resolve(end, n), n);
    const int64_t clamped_first = std::min(first, n);
    return {static_cast<size_t>(clamped_first), static_cast<size_t>(std::max(clamped_first, last)),
            first > n};
}

bool is_char_in(char32_t c, const std::u32string& set) {
    return set.find(c) != std::u32string::npos;
}

// Adds one part of a split to `parts`, counted as a new item and its text as it is made, so that
// splitting a long string into a million pieces fails at the limit rather than after.
void add_part(std::vector<std::string>& parts, std::string part, Budget& budget) {
    budget.check_items(parts.size() + 1);
    budget.allocate_items(1);
    budget.allocate_text(part.size());
    parts.push_back(std::move(part));
}

// str.split / str.rsplit with no separator: runs of whitespace, no empty parts.
std::vector<std::string> split_whitespace(const std::string& self, int64_t max_split,
                                          bool from_right, Budget& budget) {
    budget.charge_characters(self.size());
    const std::u32string text = decode_utf8(self);
    const auto piece = [&](size_t begin, size_t end) {
        return encode_utf8(std::u32string_view(text).substr(begin, end - begin));
    };
    std::vector<std::string> parts;
    if (!from_right) {
        size_t i = 0;
        while (true) {
            while (i < text.size() && is_space(text[i])) ++i;
            if (i >= text.size()) break;
            if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
                size_t end = text.size();
                while (end > i && is_space(text[end - 1])) --end;
                add_part(parts, piece(i, end), budget);
                break;
            }
            size_t j = i;
            while (j < text.size() && !is_space(text[j])) ++j;
            add_part(parts, piece(i, j), budget);
            i = j;
        }
        return parts;
    }
    size_t end = text.size();
    while (true) {
        while (end > 0 && is_space(text[end - 1])) --end;
        if (end == 0) break;
        if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
            size_t begin = 0;
            while (begin < end && is_space(text[begin])) ++begin;
            add_part(parts, piece(begin, end), budget);
            break;
        }
        size_t begin = end;
        while (begin > 0 && !is_space(text[begin - 1])) --begin;
        add_part(parts, piece(begin, end), budget);
        end = begin;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
}

std::vector<std::string> split_on(const std::string& text, const std::string& separator,
                                  int64_t max_split, bool from_right, Budget& budget) {
    const std::string_view view(text);
    std::vector<std::string> parts;
    if (!from_right) {
        size_t start = 0;
        while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
            const size_t found = find_text(view.substr(start), separator, budget);
            if (found == kNotFound) break;
            add_part(parts, text.substr(start, found), budget);
            start += found + separator.size();
        }
        add_part(parts, text.substr(start), budget);
        return parts;
    }
    size_t end = text.size();
    while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
        const size_t found = rfind_text(view.substr(0, end), separator, budget);
        if (found == kNotFound) break;
        add_part(parts, text.substr(found + separator.size(), end - found - separator.size()),
                 budget);
        end = found;
    }
    add_part(parts, text.substr(0, end), budget);
    std::reverse(parts.begin(), parts.end());
    return parts;
}

// A list of parts already counted by add_part.
Value string_list(const std::vector<std::string>& parts) {
    std::vector<Value> items;
    items.reserve(parts.size());
    for (const std::string& p : parts) items.push_back(Value::string(p));
    return Value::list(std::move(items));
}

Value split(const std::string& self, Arguments& arguments, bool from_right, Budget& budget) {
    const char* name = from_right ? "rsplit" : "split";
    const auto a =
        bind(arguments, name, {{"sep", Value::none()}, {"maxsplit", Value::integer(-1)}});
    const int64_t max_split = integer_argument(a[1], name);
    if (a[0].is_none()) return string_list(split_whitespace(self, max_split, from_right, budget));
    const std::string& separator = string_argument(a[0], name, "separator");
    if (separator.empty()) throw Failure("empty separator");
    return string_list(split_on(self, separator, max_split, from_right, budget));
}

bool affix_matches(const std::string& self, const Value& affix, const Value& start,
                   const Value& end, bool at_start, Budget& budget) {
    budget.charge_characters(self.size());
    const std::u32string text = decode_utf8(self);
    const Range range =
        range_arguments(start, end, text.size(), at_start ? "startswith" : "endswith");
    if (range.beyond) return false;
    const std::u32string window = text.substr(range.first, range.last - range.first);
    const auto test = [&](const Value& candidate) {
        const std::string& affix_text =
            string_argument(candidate, at_start ? "startswith" : "endswith", "arg");
        budget.charge_characters(affix_text.size());
        const std::u32string a = decode_utf8(affix_text);
        if (a.size() > window.size()) return false;
        return at_start ? window.compare(0, a.size(), a) == 0
                        : window.compare(window.size() - a.size(), a.size(), a) == 0;
    };
    if (affix.is_tuple()) {
        for (const Value& candidate : affix.sequence().items) {
            if (test(candidate)) return true;
        }
        return false;
    }
    if (!affix.is_string()) {
        throw Failure(std::string(at_start ? "startswith" : "endswith") +
                      " first arg must be str or a tuple of str, not " + affix.type_name());
    }
    return test(affix);
}

// find / rfind / index / rindex / count over code points.
Value search(const std::string& self, std::string_view method, Arguments& arguments,
             Budget& budget) {
    const auto a =
        bind(arguments, method, {{"sub", {}}, {"start", Value::none()}, {"end", Value::none()}});
    const std::string& sub_text = string_argument(a[0], method, "argument");
    budget.charge_characters(self.size() + sub_text.size());
    const std::u32string text = decode_utf8(self);
    const std::u32string sub = decode_utf8(sub_text);
    const Range range = range_arguments(a[1], a[2], text.size(), method);
    const std::u32string_view window =
        std::u32string_view(text).substr(range.first, range.last - range.first);
    if (method == "count") {
        if (range.beyond) return Value::integer(0);
        if (sub.empty()) return Value::integer(static_cast<int64_t>(window.size() + 1));
        int64_t count = 0;
        size_t i = 0;
        while (true) {
            const size_t found = find_text(window.substr(i), sub, budget);
            if (found == kNotFound) break;
            budget.charge(1);
            ++count;
            i += found + sub.size();
        }
        return Value::integer(count);
    }
    const bool from_right = method == "rfind" || method == "rindex";
    int64_t found = -1;
    if (!range.beyond) {
        const size_t at =
            from_right ? rfind_text(window, sub, budget) : find_text(window, sub, budget);
        if (at != kNotFound) found = static_cast<int64_t>(range.first + at);
    }
    if (found < 0 && (method == "index" || method == "rindex")) {
        throw Failure("substring not found");
    }
    return Value::integer(found);
}

template <typename Predicate>
bool all_chars(const std::string& self, Predicate predicate, Budget& budget) {
    budget.charge_characters(self.size());
    const std::u32string text = decode_utf8(self);
    if (text.empty()) return false;
    return std::all_of(text.begin(), text.end(), predicate);
}

// isupper / islower: some cased character, and none of the other case.
bool cased_all(const std::string& self, bool upper, Budget& budget) {
    budget.charge_characters(self.size());
    bool cased = false;
    for (char32_t c : decode_utf8(self)) {
        if (upper ? is_lower(c) : is_upper(c)) return false;
        if (upper ? is_upper(c) : is_lower(c)) cased = true;
    }
    return cased;
}

bool is_title_text(const std::string& self, Budget& budget) {
    budget.charge_characters(self.size());
    bool cased = false;
    bool previous_cased = false;
    for (char32_t c : decode_utf8(self)) {
        if (is_upper(c)) {
            if (previous_cased) return false;
            previous_cased = cased = true;
        } else if (is_lower(c)) {
            if (!previous_cased) return false;
            previous_cased = cased = true;
        } else {
            previous_cased = false;
        }
    }
    return cased;
}

// Case-maps one character at a time, each into a string of its own: a step a character.
std::string title_text(const std::string& self, Budget& budget) {
    budget.charge(code_point_count(self));
    std::u32string out;
    bool previous_cased = false;
    for (char32_t c : decode_utf8(self)) {
        out += previous_cased ? to_lower(std::u32string_view(&c, 1)) : title_char(c);
        previous_cased = is_cased(c);
    }
    std::string encoded = encode_utf8(out);
    budget.allocate_text(encoded.size());
    return encoded;
}

std::string swapcase_text(const std::string& self, Budget& budget) {
    budget.charge(code_point_count(self));
    std::u32string out;
    for (char32_t c : decode_utf8(self)) {
        const std::u32string_view one(&c, 1);
        out += is_upper(c) ? to_lower(one) : is_lower(c) ? to_upper(one) : std::u32string(one);
    }
    std::string encoded = encode_utf8(out);
    budget.allocate_text(encoded.size());
    return encoded;
}

char32_t fill_argument(const Value& v, std::string_view method, Budget& budget) {
    const std::string& text = string_argument(v, method, "fillchar");
    budget.charge_characters(text.size());
    const std::u32string fill = decode_utf8(text);
    if (fill.size() != 1) throw Failure("The fill character must be exactly one character long");
    return fill[0];
}

std::string justify(const std::string& self, int64_t width, char32_t fill, bool left,
                    Budget& budget) {
    budget.allocate_text(self.size());
    const auto length = static_cast<int64_t>(code_point_count(self));
    if (width <= length) return self;
    budget.check_text(self.size() + static_cast<size_t>(width - length) * 4);
    budget.charge_characters(static_cast<size_t>(width - length));
    std::string padding;
    for (int64_t i = 0; i < width - length; ++i) append_utf8(padding, fill);
    budget.allocate_text(padding.size());
    return left ? self + padding : padding + self;
}

Value partition(const std::string& self, const Value& separator_value, bool from_right,
                Budget& budget) {
    const std::string& separator =
        string_argument(separator_value, from_right ? "rpartition" : "partition", "separator");
    if (separator.empty()) throw Failure("empty separator");
    const size_t found =
        from_right ? rfind_text(self, separator, budget) : find_text(self, separator, budget);
    budget.allocate_items(3);
    budget.allocate_text(self.size());
    if (found == kNotFound) {
        return from_right
                   ? Value::tuple({Value::string(""), Value::string(""), Value::string(self)})
                   : Value::tuple({Value::string(self), Value::string(""), Value::string("")});
    }
    return Value::tuple({Value::string(self.substr(0, found)), Value::string(separator),
                         Value::string(self.substr(found + separator.size()))});
}

std::string join_strings(const std::string& separator, const Value& iterable, Budget& budget) {
    const std::vector<Value> items = iterate(iterable, budget);
    TextBuilder out(budget);
    for (size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_string()) {
            throw Failure("sequence item " + std::to_string(i) + ": expected str instance, " +
                          items[i].type_name() + " found");
        }
        if (i > 0) out += separator;
        out += items[i].as_string();
    }
    return out.take();
}

std::string zfill(const std::string& self, int64_t width, Budget& budget) {
    budget.allocate_text(self.size());
    const auto length = static_cast<int64_t>(code_point_count(self));
    if (width <= length) return self;
    budget.check_text(static_cast<size_t>(width));
    budget.allocate_text(static_cast<size_t>(width - length));
    const std::string zeros(static_cast<size_t>(width - length), '0');
    if (!self.empty() && (self[0] == '+' || self[0] == '-')) {
        return self.substr(0, 1) + zeros + self.substr(1);
    }
    return zeros + self;
}

}  // namespace

bool is_python_string_method(std::string_view name) {
    return std::find(kPythonStringMethods.begin(), kPythonStringMethods.end(), name) !=
           kPythonStringMethods.end();
}

std::string strip_chars(const std::string& text, const Value& chars, bool left, bool right,
                        Budget& budget) {
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    const bool whitespace = chars.is_none() || chars.is_undefined();
    std::u32string set;
    if (!whitespace) {
        const std::string& set_text = string_argument(chars, "strip", "arg");
        budget.charge_characters(set_text.size());
        set = decode_utf8(set_text);
    }
    // Each character stripped is looked for in the set.
    const auto strip = [&](char32_t c) {
        if (whitespace) return is_space(c);
        budget.charge_bytes(set.size() * sizeof(char32_t));
        return is_char_in(c, set);
    };
    size_t begin = 0;
    size_t end = code_points.size();
    if (left) {
        while (begin < end && strip(code_points[begin])) ++begin;
    }
    if (right) {
        while (end > begin && strip(code_points[end - 1])) --end;
    }
    std::string out = encode_utf8(std::u32string_view(code_points).substr(begin, end - begin));
    budget.allocate_text(out.size());
    return out;
}

std::string replace_text(const std::string& text, const std::string& old_text,
                         const std::string& new_text, int64_t count, Budget& budget) {
    TextBuilder out(budget);
    int64_t done = 0;
    if (old_text.empty()) {
        // Python inserts the replacement before every character and at the end.
        budget.charge_characters(text.size());
        for (char32_t c : decode_utf8(text)) {
            if (count < 0 || done < count) {
                out += new_text;
                ++done;
            }
            out.append_code_point(c);
        }
        if (count < 0 || done < count) out += new_text;
        return out.take();
    }
    const std::string_view view(text);
    size_t start = 0;
    while (count < 0 || done < count) {
        const size_t found = find_text(view.substr(start), old_text, budget);
        if (found == kNotFound) break;
        budget.charge(1);
        out += view.substr(start, found);
        out += new_text;
        start += found + old_text.size();
        ++done;
    }
    out += view.substr(start);
    return out.take();
}

std::string capitalize_text(const std::string& text, Budget& budget) {
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    if (code_points.empty()) return text;
    std::u32string out = title_char(code_points[0]);
    out += to_lower(std::u32string_view(code_points).substr(1));
    std::string encoded = encode_utf8(out);
    budget.allocate_text(encoded.size());
    return encoded;
}

std::string upper_text(const std::string& text, Budget& budget) {
    budget.charge_characters(text.size());
    std::string out = encode_utf8(to_upper(decode_utf8(text)));
    budget.allocate_text(out.size());
    return out;
}

std::string lower_text(const std::string& text, Budget& budget) {
    budget.charge_characters(text.size());
    std::string out = encode_utf8(to_lower(decode_utf8(text)));
    budget.allocate_text(out.size());
    return out;
}

std::vector<std::string> split_lines(const std::string& text, bool keep_ends, Budget& budget) {
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    std::vector<std::string> lines;
    size_t start = 0;
    size_t i = 0;
    while (i < code_points.size()) {
        const char32_t c = code_points[i];
        const bool is_break = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C ||
                              c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!is_break) {
            ++i;
            continue;
        }
        size_t end_of_break = i + 1;
        if (c == '\r' && end_of_break < code_points.size() && code_points[end_of_break] == '\n') {
            ++end_of_break;
        }
        const size_t end = keep_ends ? end_of_break : i;
        add_part(lines, encode_utf8(std::u32string_view(code_points).substr(start, end - start)),
                 budget);
        start = i = end_of_break;
    }
    if (start < code_points.size()) {
        add_part(lines, encode_utf8(std::u32string_view(code_points).substr(start)), budget);
    }
    return lines;
}

std::string center_text(const std::string& text, int64_t width, char32_t fill, Budget& budget) {
    budget.allocate_text(text.size());
    const auto length = static_cast<int64_t>(code_point_count(text));
    if (width <= length) return text;
    budget.check_text(text.size() + static_cast<size_t>(width - length) * 4);
    budget.charge_characters(static_cast<size_t>(width - length));
    budget.allocate_text(static_cast<size_t>(width - length));
    // CPython: left = pad / 2 + (pad & width & 1).
    const int64_t pad = width - length;
    const int64_t left = pad / 2 + (pad & width & 1);
    std::string out;
    for (int64_t i = 0; i < left; ++i) append_utf8(out, fill);
    out += text;
    for (int64_t i = 0; i < pad - left; ++i) append_utf8(out, fill);
    return out;
}

namespace {

// The str methods that take no arguments.
using NoArgumentMethod = Value (*)(const std::string&, Budget&);

NoArgumentMethod find_no_argument_method(std::string_view name) {
    using B = Budget;
    static constexpr std::array<std::pair<std::string_view, NoArgumentMethod>, 18> kMethods = {{
        {"upper", [](const std::string& s, B& b) { return Value::string(upper_text(s, b)); }},
        {"lower", [](const std::string& s, B& b) { return Value::string(lower_text(s, b)); }},
        {"casefold", [](const std::string& s, B& b) { return Value::string(lower_text(s, b)); }},
        {"title", [](const std::string& s, B& b) { return Value::string(title_text(s, b)); }},
        {"capitalize",
         [](const std::string& s, B& b) { return Value::string(capitalize_text(s, b)); }},
        {"swapcase", [](const std::string& s, B& b) { return Value::string(swapcase_text(s, b)); }},
        {"isdigit",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_digit, b)); }},
        {"isdecimal",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_decimal, b)); }},
        {"isnumeric",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_numeric, b)); }},
        {"isalpha",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_alpha, b)); }},
        {"isalnum",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_alnum, b)); }},
        {"isspace",
         [](const std::string& s, B& b) { return Value::boolean(all_chars(s, is_space, b)); }},
        {"isupper",
         [](const std::string& s, B& b) { return Value::boolean(cased_all(s, true, b)); }},
        {"islower",
         [](const std::string& s, B& b) { return Value::boolean(cased_all(s, false, b)); }},
        {"istitle", [](const std::string& s, B& b) { return Value::boolean(is_title_text(s, b)); }},
        {"isascii",
         [](const std::string& s, B& b) {
             b.charge_bytes(s.size());
             return Value::boolean(std::all_of(
                 s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }));
         }},
        {"isprintable",
         [](const std::string& s, B& b) {
             b.charge_characters(s.size());
             const std::u32string text = decode_utf8(s);
             return Value::boolean(std::all_of(text.begin(), text.end(), is_printable));
         }},
        {"isidentifier",
         [](const std::string& s, B& b) {
             b.charge_characters(s.size());
             const std::u32string text = decode_utf8(s);
             bool ok = !text.empty() && (text[0] == '_' || is_alpha(text[0]));
             for (char32_t c : text) ok = ok && (c == '_' || is_alnum(c));
             return Value::boolean(ok);
         }},
    }};
    for (const auto& [method, function] : kMethods) {
        if (method == name) return function;
    }
    return nullptr;
}

}  // namespace

Value call_string_method(const std::string& self, std::string_view name, Arguments& arguments,
                         Budget& budget) {
    if (const NoArgumentMethod method = find_no_argument_method(name)) {
        if (!arguments.empty()) {
            throw Failure("str." + std::string(name) + "() takes no arguments");
        }
        return method(self, budget);
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const auto a = bind(arguments, name, {{"chars", Value::none()}});
        return Value::string(strip_chars(self, a[0], name != "rstrip", name != "lstrip", budget));
    }
    if (name == "split") return split(self, arguments, false, budget);
    if (name == "rsplit") return split(self, arguments, true, budget);
    if (name == "splitlines") {
        const auto a = bind(arguments, name, {{"keepends", Value::boolean(false)}});
        return string_list(split_lines(self, a[0].truthy(), budget));
    }
    if (name == "startswith" || name == "endswith") {
        const auto a = bind(arguments, name,
                            {{"prefix", {}}, {"start", Value::none()}, {"end", Value::none()}});
        return Value::boolean(affix_matches(self, a[0], a[1], a[2], name == "startswith", budget));
    }
    if (name == "replace") {
        const auto a =
            bind(arguments, name, {{"old", {}}, {"new", {}}, {"count", Value::integer(-1)}});
        return Value::string(replace_text(self, string_argument(a[0], name, "old"),
                                          string_argument(a[1], name, "new"),
                                          integer_argument(a[2], name), budget));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" ||
        name == "count") {
        return search(self, name, arguments, budget);
    }
    if (name == "format") return Value::string(brace_format(self, arguments, budget));
    if (name == "join") {
        const auto a = bind(arguments, name, {{"iterable", {}}});
        return Value::string(join_strings(self, a[0], budget));
    }
    if (name == "center" || name == "ljust" || name == "rjust") {
        const auto a = bind(arguments, name, {{"width", {}}, {"fillchar", Value::string(" ")}});
        const int64_t width = integer_argument(a[0], name);
        const char32_t fill = fill_argument(a[1], name, budget);
        if (name == "center") return Value::string(center_text(self, width, fill, budget));
        return Value::string(justify(self, width, fill, name == "ljust", budget));
    }
    if (name == "zfill") {
        const auto a = bind(arguments, name, {{"width", {}}});
        return Value::string(zfill(self, integer_argument(a[0], name), budget));
    }
    if (name == "partition" || name == "rpartition") {
        const auto a = bind(arguments, name, {{"sep", {}}});
        return partition(self, a[0], name == "rpartition", budget);
    }
    if (name == "removeprefix" || name == "removesuffix") {
        const auto a = bind(arguments, name, {{"affix", {}}});
        const std::string& affix = string_argument(a[0], name, "argument");
        budget.charge_bytes(affix.size());
        budget.allocate_text(self.size());
        if (name == "removeprefix") {
            return Value::string(self.rfind(affix, 0) == 0 ? self.substr(affix.size()) : self);
        }
        const bool ends = self.size() >= affix.size() &&
                          self.compare(self.size() - affix.size(), affix.size(), affix) == 0;
        return Value::string(ends ? self.substr(0, self.size() - affix.size()) : self);
    }
    throw Failure("unknown method 'str." + std::string(name) + "'");
}

}  // namespace tessera::jinja

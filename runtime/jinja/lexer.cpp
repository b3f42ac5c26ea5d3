#include "runtime/jinja/lexer.h"

#include <array>
#include <cstdlib>

#include "formats/error.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// jinja2 normalizes every line ending to "\n" and, with keep_trailing_newline off, drops one
// final newline.
std::string normalize_newlines(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

class Lexer {
  public:
    Lexer(std::string_view source, const std::string& name)
        : source_(normalize_newlines(source)), name_(name) {}

    std::vector<Token> run() {
        while (position_ < source_.size()) lex_root();
        Token end;
        end.kind = TokenKind::End;
        end.line = line_of(source_.size());
        tokens_.push_back(end);
        return std::move(tokens_);
    }

  private:
    [[noreturn]] void fail(size_t at, const std::string& what) {
        throw Error(name_ + ":" + std::to_string(line_of(at)) + ": " + what);
    }

    // Lines are asked for in increasing order of position, so a cursor suffices.
    int line_of(size_t at) {
        if (at < line_cursor_) {
            line_cursor_ = 0;
            line_ = 1;
        }
        for (; line_cursor_ < at && line_cursor_ < source_.size(); ++line_cursor_) {
            if (source_[line_cursor_] == '\n') ++line_;
        }
        return line_;
    }

    void emit(TokenKind kind, size_t at, std::string text = {}) {
        Token token;
        token.kind = kind;
        token.text = std::move(text);
        token.line = line_of(at);
        tokens_.push_back(std::move(token));
    }

    bool starts_with(size_t at, std::string_view text) const {
        return source_.compare(at, text.size(), text) == 0;
    }

    // Unicode whitespace (Python's \s) starting at `at`: its length in bytes.
    size_t space_length(size_t at) const {
        if (at >= source_.size()) return 0;
        const auto c = static_cast<unsigned char>(source_[at]);
        if (c < 0x80) return is_space(c) ? 1 : 0;
        const std::u32string one = decode_utf8(std::string_view(source_).substr(at, 4));
        if (one.empty() || !is_space(one[0])) return 0;
        std::string encoded;
        append_utf8(encoded, one[0]);
        return encoded.size();
    }
    size_t skip_spaces(size_t at) const {
        while (size_t n = space_length(at)) at += n;
        return at;
    }

    // Applies the whitespace rules to the text before a tag: "-" strips all whitespace;
    // otherwise lstrip_blocks drops spaces and tabs between a line start and a block tag.
    std::string strip_before_tag(std::string text, char sign, bool lstrip) const {
        if (sign == '-') {
            const std::u32string code_points = decode_utf8(text);
            size_t end = code_points.size();
            while (end > 0 && is_space(code_points[end - 1])) --end;
            return encode_utf8(std::u32string_view(code_points).substr(0, end));
        }
        if (sign == '+' || !lstrip) return text;
        const size_t newline = text.rfind('\n');
        const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
        if (line_start == 0 && !line_starting_) return text;
        if (text.find_first_not_of(" \t", line_start) == std::string::npos) {
            text.resize(line_start);
        }
        return text;
    }

    // The end of "{%[-+]? raw ( -%}\s* | %} )" at `at`, or 0.
    size_t raw_begin_end(size_t at) const {
        size_t i = at + 2;
        if (i < source_.size() && (source_[i] == '-' || source_[i] == '+')) ++i;
        i = skip_spaces(i);
        if (!starts_with(i, "raw")) return 0;
        i = skip_spaces(i + 3);
        if (starts_with(i, "-%}")) return skip_spaces(i + 3);
        if (starts_with(i, "%}")) return i + 2;
        return 0;
    }

    void lex_root() {
        size_t tag = position_;
        while (true) {
            tag = source_.find('{', tag);
            if (tag == std::string::npos || tag + 1 >= source_.size()) {
                emit(TokenKind::Data, position_, source_.substr(position_));
                position_ = source_.size();
                return;
            }
            const char next = source_[tag + 1];
            if (next == '{' || next == '%' || next == '#') break;
            ++tag;
        }
        const char kind = source_[tag + 1];
        const size_t raw_end = kind == '%' ? raw_begin_end(tag) : 0;
        const char sign =
            tag + 2 < source_.size() && (source_[tag + 2] == '-' || source_[tag + 2] == '+')
                ? source_[tag + 2]
                : '\0';
        const std::string text =
            strip_before_tag(source_.substr(position_, tag - position_), sign, kind != '{');
        if (!text.empty()) emit(TokenKind::Data, position_, text);
        if (raw_end != 0) {
            line_starting_ = source_[raw_end - 1] == '\n';
            position_ = raw_end;
            lex_raw(tag);
            return;
        }
        position_ = tag + 2 + (sign != '\0' ? 1 : 0);
        line_starting_ = false;
        if (kind == '#') {
            lex_comment(tag);
        } else if (kind == '{') {
            emit(TokenKind::VariableBegin, tag);
            lex_tag(false);
        } else {
            emit(TokenKind::BlockBegin, tag);
            lex_tag(true);
        }
    }

    // After "{% raw %}": everything up to "{% endraw %}" is text.
    void lex_raw(size_t begin) {
        for (size_t at = source_.find("{%", position_); at != std::string::npos;
             at = source_.find("{%", at + 1)) {
            size_t i = at + 2;
            const char sign =
                i < source_.size() && (source_[i] == '-' || source_[i] == '+') ? source_[i] : '\0';
            if (sign != '\0') ++i;
            i = skip_spaces(i);
            if (!starts_with(i, "endraw")) continue;
            i = skip_spaces(i + 6);
            size_t end;
            if (starts_with(i, "+%}")) {
                end = i + 3;
            } else if (starts_with(i, "-%}")) {
                end = skip_spaces(i + 3);
            } else if (starts_with(i, "%}")) {
                end = i + 2;
                if (end < source_.size() && source_[end] == '\n') ++end;
            } else {
                continue;
            }
            const std::string text =
                strip_before_tag(source_.substr(position_, at - position_), sign, true);
            if (!text.empty()) emit(TokenKind::Data, position_, text);
            position_ = end;
            line_starting_ = source_[end - 1] == '\n';
            return;
        }
        fail(begin, "missing end of raw directive");
    }

    void lex_comment(size_t begin) {
        const size_t close = source_.find("#}", position_);
        if (close == std::string::npos) fail(begin, "missing end of comment tag");
        const char sign = close > position_ ? source_[close - 1] : '\0';
        size_t end = close + 2;
        if (sign == '-') {
            end = skip_spaces(end);
        } else if (sign != '+' && end < source_.size() && source_[end] == '\n') {
            ++end;
        }
        position_ = end;
        line_starting_ = source_[end - 1] == '\n';
    }

    // The tokens of a {{ ... }} or {% ... %} tag, through its end.
    void lex_tag(bool block) {
        while (position_ < source_.size()) {
            if (balancing_.empty() && lex_tag_end(block)) return;
            const size_t start = position_;
            if (const size_t n = space_length(position_)) {
                position_ = skip_spaces(position_ + n);
                line_starting_ = source_[position_ - 1] == '\n';
                continue;
            }
            line_starting_ = false;
            if (lex_number()) continue;
            const char c = source_[position_];
            if (is_name_start(c)) {
                size_t end = position_;
                while (end < source_.size() && is_name_char(source_[end])) ++end;
                emit(TokenKind::Name, start, source_.substr(position_, end - position_));
                position_ = end;
                continue;
            }
            if ((c == '\'' || c == '"') && lex_string(c)) continue;
            if (lex_operator()) continue;
            std::string shown;
            append_utf8(shown, decode_utf8(std::string_view(source_).substr(position_, 4))[0]);
            fail(position_, "unexpected char '" + shown + "' at " + std::to_string(position_));
        }
    }

    bool lex_tag_end(bool block) {
        const size_t start = position_;
        size_t end = 0;
        if (block) {
            if (starts_with(position_, "+%}")) {
                end = position_ + 3;
            } else if (starts_with(position_, "-%}")) {
                end = skip_spaces(position_ + 3);
            } else if (starts_with(position_, "%}")) {
                end = position_ + 2;
                if (end < source_.size() && source_[end] == '\n') ++end;
            }
        } else if (starts_with(position_, "-}}")) {
            end = skip_spaces(position_ + 3);
        } else if (starts_with(position_, "}}")) {
            end = position_ + 2;
        }
        if (end == 0) return false;
        emit(block ? TokenKind::BlockEnd : TokenKind::VariableEnd, start);
        position_ = end;
        line_starting_ = source_[end - 1] == '\n';
        return true;
    }

    // Digits with single underscores between them, from `at`; the end, or `at` if none.
    size_t digit_run(size_t at) const {
        size_t i = at;
        if (i >= source_.size() || !is_digit(source_[i])) return at;
        while (i < source_.size()) {
            if (is_digit(source_[i])) {
                ++i;
            } else if (source_[i] == '_' && i + 1 < source_.size() && is_digit(source_[i + 1])) {
                ++i;
            } else {
                break;
            }
        }
        return i;
    }

    static std::string without_underscores(std::string_view text) {
        std::string out;
        for (char c : text) {
            if (c != '_') out += c;
        }
        return out;
    }

    // jinja2's float_re, then integer_re.
    bool lex_number() {
        const size_t start = position_;
        if (!is_digit(source_[start])) return false;
        if (start == 0 || source_[start - 1] != '.') {
            const size_t mantissa_end = digit_run(start);
            size_t i = mantissa_end;
            bool fraction = false;
            if (i < source_.size() && source_[i] == '.') {
                const size_t after = digit_run(i + 1);
                if (after > i + 1) {
                    i = after;
                    fraction = true;
                }
            }
            bool exponent = false;
            if (i < source_.size() && (source_[i] == 'e' || source_[i] == 'E')) {
                size_t j = i + 1;
                if (j < source_.size() && (source_[j] == '+' || source_[j] == '-')) ++j;
                const size_t after = digit_run(j);
                if (after > j) {
                    i = after;
                    exponent = true;
                }
            }
            if (fraction || exponent) {
                Token token;
                token.kind = TokenKind::Float;
                token.number = std::strtod(
                    without_underscores(source_.substr(start, i - start)).c_str(), nullptr);
                token.line = line_of(start);
                tokens_.push_back(token);
                position_ = i;
                return true;
            }
        }
        int base = 10;
        size_t digits_start = start;
        if (source_[start] == '0' && start + 1 < source_.size()) {
            const char prefix = static_cast<char>(source_[start + 1] | 0x20);
            if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
                base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
                digits_start = start + 2;
            }
        }
        const auto digit_ok = [&](char c) {
            if (base == 16) return is_hex(c);
            return c >= '0' && c < static_cast<char>('0' + base);
        };
        size_t i = digits_start;
        if (base != 10) {
            while (i < source_.size()) {
                if (digit_ok(source_[i])) {
                    ++i;
                } else if (source_[i] == '_' && i + 1 < source_.size() &&
                           digit_ok(source_[i + 1])) {
                    i += 2;
                } else {
                    break;
                }
            }
            if (i == digits_start) {
                base = 10;  // "0x" without digits: the integer 0, then a name
                i = digits_start = start;
            }
        }
        if (base == 10) {
            if (source_[start] == '0') {
                i = start + 1;
                while (i < source_.size() &&
                       (source_[i] == '0' ||
                        (source_[i] == '_' && i + 1 < source_.size() && source_[i + 1] == '0'))) {
                    i += source_[i] == '_' ? 2 : 1;
                }
            } else {
                i = digit_run(start);
            }
        }
        const std::string digits =
            without_underscores(source_.substr(digits_start, i - digits_start));
        uint64_t value = 0;
        for (char c : digits) {
            const uint64_t d = is_digit(c) ? static_cast<uint64_t>(c - '0')
                                           : static_cast<uint64_t>((c | 0x20) - 'a' + 10);
            if (value > (static_cast<uint64_t>(INT64_MAX) - d) / static_cast<uint64_t>(base)) {
                fail(start, "integer literal too large");
            }
            value = value * static_cast<uint64_t>(base) + d;
        }
        Token token;
        token.kind = TokenKind::Integer;
        token.integer = static_cast<int64_t>(value);
        token.line = line_of(start);
        tokens_.push_back(token);
        position_ = i;
        return true;
    }

    // A quoted string with Python's escapes (jinja2 decodes them as unicode-escape).
    bool lex_string(char quote) {
        const size_t start = position_;
        size_t i = start + 1;
        while (i < source_.size() && source_[i] != quote) {
            i += source_[i] == '\\' ? 2 : 1;
        }
        if (i >= source_.size()) return false;
        Token token;
        token.kind = TokenKind::String;
        token.text = unescape(start + 1, i);
        token.line = line_of(start);
        tokens_.push_back(std::move(token));
        position_ = i + 1;
        return true;
    }

    std::string unescape(size_t begin, size_t end) {
        std::string out;
        size_t i = begin;
        const auto hex_value = [&](size_t at, size_t count, const char* what) {
            if (at + count > end) fail(begin, std::string("truncated ") + what + " escape");
            uint32_t v = 0;
            for (size_t k = at; k < at + count; ++k) {
                if (!is_hex(source_[k])) fail(begin, std::string("truncated ") + what + " escape");
                const char c = source_[k];
                v = v * 16 + static_cast<uint32_t>(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
            }
            return v;
        };
        while (i < end) {
            const char c = source_[i];
            if (c != '\\' || i + 1 >= end) {
                out += c;
                ++i;
                continue;
            }
            const char e = source_[i + 1];
            i += 2;
            switch (e) {
                case '\n':
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '\'':
                    out += '\'';
                    break;
                case '"':
                    out += '"';
                    break;
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case 'x':
                    append_utf8(out, hex_value(i, 2, "\\xXX"));
                    i += 2;
                    break;
                case 'u':
                    append_utf8(out, hex_value(i, 4, "\\uXXXX"));
                    i += 4;
                    break;
                case 'U': {
                    const uint32_t v = hex_value(i, 8, "\\UXXXXXXXX");
                    if (v > 0x10FFFF) fail(begin, "illegal Unicode character");
                    append_utf8(out, v);
                    i += 8;
                    break;
                }
                case 'N':
                    fail(begin, "named unicode escapes (\\N{...}) are not supported");
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t v = static_cast<uint32_t>(e - '0');
                        for (int k = 0; k < 2 && i < end && source_[i] >= '0' && source_[i] <= '7';
                             ++k) {
                            v = v * 8 + static_cast<uint32_t>(source_[i++] - '0');
                        }
                        append_utf8(out, v);
                    } else {
                        out += '\\';
                        out += e;
                    }
            }
        }
        return out;
    }

    bool lex_operator() {
        static constexpr std::array<std::string_view, 6> kTwoCharacter = {
            "//", "**", "==", "!=", ">=", "<="};
        static constexpr std::string_view kOneCharacter = "+-/*%~[](){}><=.:|,;";
        const size_t start = position_;
        std::string symbol;
        for (std::string_view op : kTwoCharacter) {
            if (starts_with(start, op)) symbol = op;
        }
        if (symbol.empty()) {
            if (kOneCharacter.find(source_[start]) == std::string_view::npos) return false;
            symbol = source_.substr(start, 1);
        }
        const char c = symbol[0];
        if (symbol.size() == 1 && (c == '{' || c == '(' || c == '[')) {
            balancing_.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
        } else if (symbol.size() == 1 && (c == '}' || c == ')' || c == ']')) {
            if (balancing_.empty()) fail(start, std::string("unexpected '") + c + "'");
            const char expected = balancing_.back();
            balancing_.pop_back();
            if (expected != c) {
                fail(start, std::string("unexpected '") + c + "', expected '" + expected + "'");
            }
        }
        emit(TokenKind::Operator, start, symbol);
        position_ = start + symbol.size();
        return true;
    }

    std::string source_;
    const std::string& name_;
    size_t position_ = 0;
    bool line_starting_ = true;
    std::vector<char> balancing_;
    std::vector<Token> tokens_;
    size_t line_cursor_ = 0;
    int line_ = 1;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& name) {
    return Lexer(source, name).run();
}

const char* token_kind_name(TokenKind kind) {
    switch (kind) {
        case TokenKind::Data:
            return "template data";
        case TokenKind::VariableBegin:
            return "begin of print statement";
        case TokenKind::VariableEnd:
            return "end of print statement";
        case TokenKind::BlockBegin:
            return "begin of statement block";
        case TokenKind::BlockEnd:
            return "end of statement block";
        case TokenKind::Name:
            return "name";
        case TokenKind::String:
            return "string";
        case TokenKind::Integer:
            return "integer";
        case TokenKind::Float:
            return "float";
        case TokenKind::Operator:
            return "operator";
        case TokenKind::End:
            return "end of template";
    }
    return "token";
}

}  // namespace tessera::jinja

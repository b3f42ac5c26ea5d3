#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

constexpr char32_t kEscapedByteBase = 0xDC00;  // U+DC80..U+DCFF stand for bytes 0x80..0xFF

bool in(char32_t c, char32_t first, char32_t last) {
    return c >= first && c <= last;
}

// Upper case to lower case for one code point, where the mapping is one to one.
// The Latin digraphs with three forms (DŽ, Dž, dž): upper, title, lower in a row.
bool is_digraph(char32_t c) {
    return in(c, 0x1C4, 0x1CC) || in(c, 0x1F1, 0x1F3);
}
char32_t digraph_base(char32_t c) {
    return c >= 0x1F1 ? 0x1F1 : 0x1C4 + (c - 0x1C4) / 3 * 3;
}

char32_t simple_lower(char32_t c) {
    if (c < 0x80) return in(c, 'A', 'Z') ? c + 32 : c;
    if (is_digraph(c)) return digraph_base(c) + 2;
    if (in(c, 0xC0, 0xDE) && c != 0xD7) return c + 32;
    if (in(c, 0x100, 0x137) && c != 0x130) return (c % 2 == 0) ? c + 1 : c;
    if (in(c, 0x139, 0x148)) return (c % 2 == 1) ? c + 1 : c;
    if (in(c, 0x14A, 0x177)) return (c % 2 == 0) ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    if (in(c, 0x179, 0x17E)) return (c % 2 == 1) ? c + 1 : c;
    if (in(c, 0x1CD, 0x1DC)) return (c % 2 == 1) ? c + 1 : c;
    if (in(c, 0x1DE, 0x1EF) || in(c, 0x1F8, 0x21F) || in(c, 0x222, 0x233) || in(c, 0x246, 0x24F)) {
        return (c % 2 == 0) ? c + 1 : c;
    }
    if (in(c, 0x391, 0x3AB) && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (in(c, 0x388, 0x38A)) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (in(c, 0x3D8, 0x3EF)) return (c % 2 == 0) ? c + 1 : c;
    if (in(c, 0x400, 0x40F)) return c + 80;
    if (in(c, 0x410, 0x42F)) return c + 32;
    if (in(c, 0x460, 0x481) || in(c, 0x48A, 0x4BF) || in(c, 0x4D0, 0x52F)) {
        return (c % 2 == 0) ? c + 1 : c;
    }
    if (c == 0x4C0) return 0x4CF;
    if (in(c, 0x4C1, 0x4CE)) return (c % 2 == 1) ? c + 1 : c;
    if (in(c, 0x531, 0x556)) return c + 48;
    if (in(c, 0x1E00, 0x1E95) || in(c, 0x1EA0, 0x1EFF)) return (c % 2 == 0) ? c + 1 : c;
    if (c == 0x1E9E) return 0xDF;
    if (in(c, 0xFF21, 0xFF3A)) return c + 32;
    return c;
}

// Lower case to upper case for one code point, where the mapping is one to one.
char32_t simple_upper(char32_t c) {
    if (c < 0x80) return in(c, 'a', 'z') ? c - 32 : c;
    if (is_digraph(c)) return digraph_base(c);
    if (in(c, 0xE0, 0xFE) && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if (in(c, 0x100, 0x137) && c != 0x131) return (c % 2 == 1) ? c - 1 : c;
    if (in(c, 0x139, 0x148)) return (c % 2 == 0) ? c - 1 : c;
    if (in(c, 0x14A, 0x177)) return (c % 2 == 1) ? c - 1 : c;
    if (in(c, 0x179, 0x17E)) return (c % 2 == 0) ? c - 1 : c;
    if (in(c, 0x1CD, 0x1DC)) return (c % 2 == 0) ? c - 1 : c;
    if (in(c, 0x1DE, 0x1EF) || in(c, 0x1F8, 0x21F) || in(c, 0x222, 0x233) || in(c, 0x246, 0x24F)) {
        return (c % 2 == 1) ? c - 1 : c;
    }
    if (in(c, 0x3B1, 0x3CB) && c != 0x3C2) return c - 32;
    if (c == 0x3C2) return 0x3A3;
    if (c == 0x3AC) return 0x386;
    if (in(c, 0x3AD, 0x3AF)) return c - 37;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 63;
    if (in(c, 0x3D8, 0x3EF)) return (c % 2 == 1) ? c - 1 : c;
    if (in(c, 0x430, 0x44F)) return c - 32;
    if (in(c, 0x450, 0x45F)) return c - 80;
    if (in(c, 0x460, 0x481) || in(c, 0x48A, 0x4BF) || in(c, 0x4D0, 0x52F)) {
        return (c % 2 == 1) ? c - 1 : c;
    }
    if (c == 0x4CF) return 0x4C0;
    if (in(c, 0x4C1, 0x4CE)) return (c % 2 == 0) ? c - 1 : c;
    if (in(c, 0x561, 0x586)) return c - 48;
    if (in(c, 0x1E00, 0x1E95) || in(c, 0x1EA0, 0x1EFF)) return (c % 2 == 1) ? c - 1 : c;
    if (in(c, 0xFF41, 0xFF5A)) return c - 32;
    return c;
}

// Characters whose upper case is more than one code point.
std::u32string_view special_upper(char32_t c) {
    switch (c) {
        case 0xDF:
            return U"SS";
        case 0x149:
            return U"\u02BCN";
        case 0xFB00:
            return U"FF";
        case 0xFB01:
            return U"FI";
        case 0xFB02:
            return U"FL";
        case 0xFB03:
            return U"FFI";
        case 0xFB04:
            return U"FFL";
        case 0xFB05:
        case 0xFB06:
            return U"ST";
        default:
            return {};
    }
}

// Ignored when deciding whether a capital sigma ends a word.
bool is_case_ignorable(char32_t c) {
    return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xB7 || c == 0x2019 ||
           in(c, 0x300, 0x36F);
}

bool is_final_sigma(std::u32string_view text, size_t index) {
    size_t before = index;
    bool cased_before = false;
    while (before > 0) {
        const char32_t c = text[--before];
        if (is_case_ignorable(c)) continue;
        cased_before = is_cased(c);
        break;
    }
    if (!cased_before) return false;
    for (size_t after = index + 1; after < text.size(); ++after) {
        if (is_case_ignorable(text[after])) continue;
        return !is_cased(text[after]);
    }
    return true;
}

}  // namespace

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (in(c, kEscapedByteBase + 0x80, kEscapedByteBase + 0xFF)) {
        out += static_cast<char>(c - kEscapedByteBase);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

namespace {
// Length of the valid UTF-8 sequence at text[i] and its code point, or 0 when invalid.
size_t sequence_at(std::string_view text, size_t i, char32_t* code_point) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    size_t length;
    char32_t c;
    char32_t minimum;
    if ((lead & 0xE0) == 0xC0) {
        length = 2, c = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3, c = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4, c = lead & 0x07, minimum = 0x10000;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    for (size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        c = (c << 6) | (byte(i + k) & 0x3F);
    }
    if (c < minimum || c > 0x10FFFF || in(c, 0xD800, 0xDFFF)) return 0;
    *code_point = c;
    return length;
}
}  // namespace

std::u32string decode_utf8(std::string_view text) {
    std::u32string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        char32_t c = 0;
        const size_t length = sequence_at(text, i, &c);
        if (length == 0) {
            out += kEscapedByteBase + static_cast<unsigned char>(text[i]);
            ++i;
        } else {
            out += c;
            i += length;
        }
    }
    return out;
}

std::string encode_utf8(std::u32string_view code_points) {
    std::string out;
    out.reserve(code_points.size());
    for (char32_t c : code_points) append_utf8(out, c);
    return out;
}

size_t code_point_count(std::string_view text) {
    size_t count = 0;
    size_t i = 0;
    while (i < text.size()) {
        char32_t c = 0;
        const size_t length = sequence_at(text, i, &c);
        i += length == 0 ? 1 : length;
        ++count;
    }
    return count;
}

size_t code_point_offset(std::string_view text, size_t index) {
    size_t i = 0;
    for (size_t count = 0; count < index && i < text.size(); ++count) {
        char32_t c = 0;
        const size_t length = sequence_at(text, i, &c);
        i += length == 0 ? 1 : length;
    }
    return i;
}

bool is_space(char32_t c) {
    return in(c, 0x09, 0x0D) || in(c, 0x1C, 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           in(c, 0x2000, 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Title-case digraphs (Dž) are neither upper nor lower case, but cased.
bool is_upper(char32_t c) {
    if (is_digraph(c)) return c == digraph_base(c);
    return simple_lower(c) != c || c == 0x130;
}

bool is_lower(char32_t c) {
    if (is_digraph(c)) return c == digraph_base(c) + 2;
    return simple_upper(c) != c || !special_upper(c).empty();
}

bool is_cased(char32_t c) {
    return is_upper(c) || is_lower(c) || is_digraph(c);
}

bool is_alpha(char32_t c) {
    if (c < 0x80) return in(c, 'a', 'z') || in(c, 'A', 'Z');
    if (is_cased(c)) return true;
    return c == 0xAA || c == 0xBA || in(c, 0x100, 0x2C1) || in(c, 0x370, 0x373) ||
           in(c, 0x376, 0x377) || in(c, 0x37A, 0x37D) || in(c, 0x388, 0x3FF) ||
           in(c, 0x400, 0x481) || in(c, 0x48A, 0x52F) || in(c, 0x531, 0x556) ||
           in(c, 0x560, 0x588) || in(c, 0x5D0, 0x5EA) || in(c, 0x620, 0x64A) ||
           in(c, 0x66E, 0x6D3) || in(c, 0x904, 0x939) || c == 0x93D || c == 0x950 ||
           in(c, 0x958, 0x961) || in(c, 0xE01, 0xE30) || in(c, 0xE32, 0xE33) ||
           in(c, 0xE40, 0xE46) || in(c, 0x10A0, 0x10FF) || in(c, 0x1100, 0x11FF) ||
           in(c, 0x1E00, 0x1FFF) || in(c, 0x3041, 0x3096) || in(c, 0x309D, 0x309F) ||
           in(c, 0x30A1, 0x30FA) || in(c, 0x30FC, 0x30FF) || in(c, 0x3105, 0x312F) ||
           in(c, 0x3131, 0x318E) || in(c, 0x3400, 0x4DBF) || in(c, 0x4E00, 0x9FFF) ||
           in(c, 0xAC00, 0xD7A3) || in(c, 0xF900, 0xFAFF) || in(c, 0xFF21, 0xFF3A) ||
           in(c, 0xFF41, 0xFF5A) || in(c, 0xFF66, 0xFF9F) || in(c, 0x20000, 0x2FA1F);
}

bool is_decimal(char32_t c) {
    return in(c, '0', '9') || in(c, 0x660, 0x669) || in(c, 0x6F0, 0x6F9) || in(c, 0x966, 0x96F) ||
           in(c, 0xFF10, 0xFF19);
}

bool is_digit(char32_t c) {
    return is_decimal(c) || c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0x2070 ||
           in(c, 0x2074, 0x2079) || in(c, 0x2080, 0x2089) || in(c, 0x2460, 0x2468) ||
           in(c, 0x2474, 0x247C) || in(c, 0x2488, 0x2490) || in(c, 0x24F5, 0x24FD) ||
           in(c, 0x2776, 0x277E) || in(c, 0x2780, 0x2788) || in(c, 0x278A, 0x2792);
}

bool is_numeric(char32_t c) {
    if (is_digit(c)) return true;
    switch (c) {
        case 0x3007:
        case 0x4E00:
        case 0x4E8C:
        case 0x4E09:
        case 0x56DB:
        case 0x4E94:
        case 0x516D:
        case 0x4E03:
        case 0x516B:
        case 0x4E5D:
        case 0x5341:
        case 0x767E:
        case 0x5343:
        case 0x4E07:
        case 0x5104:
        case 0x96F6:
            return true;
        default:
            return in(c, 0xBC, 0xBE) || in(c, 0x2150, 0x2189) || in(c, 0x2469, 0x2473) ||
                   in(c, 0x247D, 0x2487) || in(c, 0x2491, 0x249B);
    }
}

bool is_alnum(char32_t c) {
    return is_alpha(c) || is_numeric(c);
}

bool is_word(char32_t c) {
    return c == '_' || is_alnum(c);
}

bool is_printable(char32_t c) {
    if (c < 0x20 || in(c, 0x7F, 0xA0) || c == 0xAD) return false;
    if (c < 0x600) return true;
    return !(in(c, 0x600, 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E ||
             c == 0x1680 || in(c, 0x2000, 0x200F) || in(c, 0x2028, 0x202F) ||
             in(c, 0x205F, 0x206F) || c == 0x3000 || in(c, 0xD800, 0xF8FF) || c == 0xFEFF ||
             in(c, 0xFFF9, 0xFFFB) || c == 0xFFFE || c == 0xFFFF || c >= 0xF0000);
}

std::u32string to_upper(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        const std::u32string_view special = special_upper(c);
        if (!special.empty()) {
            out += special;
        } else {
            out += simple_upper(c);
        }
    }
    return out;
}

std::u32string to_lower(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char32_t c = text[i];
        if (c == 0x130) {
            out += U"i\u0307";
        } else if (c == 0x3A3) {
            out += is_final_sigma(text, i) ? char32_t{0x3C2} : char32_t{0x3C3};
        } else {
            out += simple_lower(c);
        }
    }
    return out;
}

std::u32string title_char(char32_t c) {
    switch (c) {
        case 0xDF:
            return U"Ss";
        case 0xFB00:
            return U"Ff";
        case 0xFB01:
            return U"Fi";
        case 0xFB02:
            return U"Fl";
        case 0xFB03:
            return U"Ffi";
        case 0xFB04:
            return U"Ffl";
        case 0xFB05:
        case 0xFB06:
            return U"St";
        default:
            if (is_digraph(c)) return std::u32string(1, digraph_base(c) + 1);
            return to_upper(std::u32string_view(&c, 1));
    }
}

}  // namespace tessera::jinja

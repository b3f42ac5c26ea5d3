// Text as Python sees it: UTF-8 strings as sequences of code points, and the character classes
// and case mappings that str methods use. Bytes that are not valid UTF-8 decode one by one to
// the lone surrogates U+DC80..U+DCFF (Python's "surrogateescape") and encode back to themselves,
// so any byte string survives a round trip.
//
// Case mapping and classification cover ASCII, Latin-1, Latin Extended-A/B, Greek, Cyrillic,
// Armenian and the fullwidth forms; letters of other scripts (CJK, kana, Hangul, Arabic, Hebrew,
// Indic, Thai) are classified as uncased letters. That is what chat templates meet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

std::u32string decode_utf8(std::string_view text);
std::string encode_utf8(std::u32string_view code_points);
void append_utf8(std::string& out, char32_t code_point);
// Number of code points, without decoding into a buffer.
size_t code_point_count(std::string_view text);
// The byte at which the code point `index` starts (text.size() when there are not that many),
// counting code points as decode_utf8 does, without decoding into a buffer.
size_t code_point_offset(std::string_view text, size_t index);

bool is_space(char32_t c);    // str.isspace
bool is_alpha(char32_t c);    // str.isalpha
bool is_decimal(char32_t c);  // str.isdecimal (ASCII, fullwidth and Arabic-Indic digits)
bool is_digit(char32_t c);    // str.isdigit: decimals and superscripts
bool is_numeric(char32_t c);  // str.isnumeric: digits, vulgar fractions, CJK numerals
bool is_alnum(char32_t c);
bool is_upper(char32_t c);  // a cased letter in upper case
bool is_lower(char32_t c);  // a cased letter in lower case
bool is_cased(char32_t c);
bool is_printable(char32_t c);  // str.isprintable, for repr()
bool is_word(char32_t c);       // matches \w in Python's re

// Full case mappings as str.upper() and str.lower() apply them ("ß".upper() is "SS").
std::u32string to_upper(std::u32string_view text);
std::u32string to_lower(std::u32string_view text);
// Title case of one character (the first letter of a capitalized word).
std::u32string title_char(char32_t c);

}  // namespace tessera::jinja

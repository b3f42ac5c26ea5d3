// UTF-8 as the tokenizers need it: where a character ends, whether text is valid, and how much
// of a byte buffer is whole characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::utf8 {

// The length a lead byte announces, as llama.cpp counts it when it cuts text into characters:
// 1 for ASCII and for stray continuation bytes, 2, 3 or 4 from the high bits otherwise.
size_t sequence_length(uint8_t lead);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool is_valid(std::string_view text);

// How the bytes at `text[at]` begin a character.
struct Sequence {
    enum Status : uint8_t {
        Complete,    // a whole, valid character of `length` bytes
        Incomplete,  // a valid start that the buffer ends inside of
        Invalid,     // `length` bytes that no continuation can make valid (one U+FFFD)
    };
    Status status;
    size_t length;
};
Sequence inspect(std::string_view text, size_t at);

// U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

}  // namespace tessera::utf8

#include "runtime/tokenizer/utf8.h"

namespace tessera::utf8 {

size_t sequence_length(uint8_t lead) {
    static constexpr uint8_t kByHighBits[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kByHighBits[lead >> 4];
}

namespace {

bool is_continuation(uint8_t byte) {
    return (byte & 0xC0) == 0x80;
}

// The range the second byte must fall in after `lead` (Unicode Table 3-7): it excludes overlong
// forms, surrogates and code points past U+10FFFF. Later bytes are any continuation byte.
struct SecondByteRange {
    uint8_t low;
    uint8_t high;
};

SecondByteRange second_byte_range(uint8_t lead) {
    if (lead == 0xE0) return {0xA0, 0xBF};
    if (lead == 0xED) return {0x80, 0x9F};
    if (lead == 0xF0) return {0x90, 0xBF};
    if (lead == 0xF4) return {0x80, 0x8F};
    return {0x80, 0xBF};
}

// The number of bytes a valid character starting with `lead` has; 0 when no character starts
// with it (continuation bytes, C0, C1, F5 to FF).
size_t valid_length(uint8_t lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

}  // namespace

Sequence inspect(std::string_view text, size_t at) {
    const auto lead = static_cast<uint8_t>(text[at]);
    const size_t length = valid_length(lead);
    if (length == 0) return {Sequence::Invalid, 1};
    if (length == 1) return {Sequence::Complete, 1};
    // Each byte either continues the character or ends the invalid part before it, so that a
    // broken character costs one U+FFFD and the byte after it starts afresh.
    for (size_t i = 1; i < length; ++i) {
        if (at + i >= text.size()) return {Sequence::Incomplete, i};
        const auto byte = static_cast<uint8_t>(text[at + i]);
        if (i == 1) {
            const SecondByteRange range = second_byte_range(lead);
            if (byte < range.low || byte > range.high) return {Sequence::Invalid, 1};
        } else if (!is_continuation(byte)) {
            return {Sequence::Invalid, i};
        }
    }
    return {Sequence::Complete, length};
}

bool is_valid(std::string_view text) {
    for (size_t at = 0; at < text.size();) {
        const Sequence sequence = inspect(text, at);
        if (sequence.status != Sequence::Complete) return false;
        at += sequence.length;
    }
    return true;
}

}  // namespace tessera::utf8

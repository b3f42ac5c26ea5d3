#include "runtime/jinja/text_search.h"

#include <string>

namespace tessera::jinja {

namespace {

// What trying the pattern at one place costs beyond comparing its characters: the call that
// found the place and the call that compares, a few nanoseconds (as many bytes as that buys).
constexpr size_t kPlaceBytes = 4;

template <typename Char>
size_t find_in(std::basic_string_view<Char> text, std::basic_string_view<Char> pattern,
               Budget& budget) {
    using Traits = std::char_traits<Char>;
    const size_t m = pattern.size();
    if (m == 0) return 0;
    if (text.size() < m) return kNotFound;
    const size_t places = text.size() - m + 1;  // where the pattern may start
    size_t i = 0;
    while (i < places) {
        const Char* at = Traits::find(text.data() + i, places - i, pattern[0]);
        const size_t found = at == nullptr ? places : static_cast<size_t>(at - text.data());
        budget.charge_bytes((found - i) * sizeof(Char));
        if (at == nullptr) return kNotFound;
        budget.charge_bytes(m * sizeof(Char) + kPlaceBytes);
        if (Traits::compare(at + 1, pattern.data() + 1, m - 1) == 0) return found;
        i = found + 1;
    }
    return kNotFound;
}

template <typename Char>
size_t rfind_in(std::basic_string_view<Char> text, std::basic_string_view<Char> pattern,
                Budget& budget) {
    using Traits = std::char_traits<Char>;
    const size_t m = pattern.size();
    if (m == 0) return text.size();
    if (text.size() < m) return kNotFound;
    size_t places = text.size() - m + 1;  // the places not yet tried are [0, places)
    while (places > 0) {
        size_t at = places - 1;
        while (at > 0 && !Traits::eq(text[at], pattern[0])) --at;
        budget.charge_bytes((places - at) * sizeof(Char));
        if (!Traits::eq(text[at], pattern[0])) return kNotFound;
        budget.charge_bytes(m * sizeof(Char) + kPlaceBytes);
        if (Traits::compare(text.data() + at + 1, pattern.data() + 1, m - 1) == 0) return at;
        places = at;
    }
    return kNotFound;
}

}  // namespace

size_t find_text(std::string_view text, std::string_view pattern, Budget& budget) {
    return find_in(text, pattern, budget);
}
size_t find_text(std::u32string_view text, std::u32string_view pattern, Budget& budget) {
    return find_in(text, pattern, budget);
}
size_t rfind_text(std::string_view text, std::string_view pattern, Budget& budget) {
    return rfind_in(text, pattern, budget);
}
size_t rfind_text(std::u32string_view text, std::u32string_view pattern, Budget& budget) {
    return rfind_in(text, pattern, budget);
}

}  // namespace tessera::jinja

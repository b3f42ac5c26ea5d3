// A string a render builds piece by piece: a repr, a JSON text, a join, a formatted string, the
// output. Each piece is charged to the budget as it is appended, and the whole is checked
// against max_text_bytes as it grows, so that a string that would be too long fails when it
// passes the limit rather than after it has been built (printing a list of lists that would
// make 300 MB stops at 32).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "runtime/jinja/budget.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

class TextBuilder {
  public:
    explicit TextBuilder(Budget& budget) : budget_(budget) {}

    TextBuilder& operator+=(std::string_view piece) {
        grow(piece.size());
        text_ += piece;
        return *this;
    }
    TextBuilder& operator+=(char c) {
        grow(1);
        text_ += c;
        return *this;
    }
    // Appends the code point as UTF-8 (charged once appended: it is at most 4 bytes).
    void append_code_point(char32_t c) {
        const size_t before = text_.size();
        append_utf8(text_, c);
        budget_.check_text(text_.size());
        budget_.allocate_text(text_.size() - before);
    }

    Budget& budget() { return budget_; }
    // The text built; the builder is left empty.
    std::string take() { return std::exchange(text_, std::string()); }

  private:
    void grow(size_t bytes) {
        budget_.check_text(text_.size() + bytes);
        budget_.allocate_text(bytes);
    }

    Budget& budget_;
    std::string text_;
};

}  // namespace tessera::jinja

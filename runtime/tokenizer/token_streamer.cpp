#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace tessera {

namespace {

// Takes the whole characters from the front of `pending`, with U+FFFD for each invalid
// sequence; an unfinished character at the end stays unless `final`, when it is invalid too.
std::string take_complete(std::string& pending, bool final) {
    std::string out;
    size_t at = 0;
    while (at < pending.size()) {
        const utf8::Sequence sequence = utf8::inspect(pending, at);
        if (sequence.status == utf8::Sequence::Incomplete && !final) break;
        if (sequence.status == utf8::Sequence::Complete) {
            out.append(pending, at, sequence.length);
        } else {
            out.append(utf8::kReplacement);
        }
        at += sequence.length;
    }
    pending.erase(0, at);
    return out;
}

}  // namespace

TokenStreamer::TokenStreamer(const Tokenizer& tokenizer, bool special)
    : tokenizer_(tokenizer), special_(special) {}

std::string TokenStreamer::push(int32_t id) {
    std::string piece = tokenizer_.token_to_piece(id, special_);
    if (piece.empty()) return "";
    if (first_ && tokenizer_.adds_space_prefix() && piece.front() == ' ') piece.erase(0, 1);
    first_ = false;
    pending_ += piece;
    return take_complete(pending_, false);
}

std::string TokenStreamer::flush() {
    return take_complete(pending_, true);
}

}  // namespace tessera

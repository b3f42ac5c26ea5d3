#include "runtime/tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>
#include <string>

#include "runtime/tokenizer/utf8.h"

namespace tessera {

namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581 ▁

// A run of characters in the escaped text; merged symbols absorb their right neighbour and are
// unlinked from the chain.
struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t offset;
    uint32_t length;  // 0 once merged into its left neighbour
};

// A candidate merge of two adjacent symbols into one token. It is stale once either symbol has
// changed, which shows as their lengths no longer adding up to `length`.
struct Bigram {
    int32_t left;
    int32_t right;
    float score;
    uint32_t length;
};

// The best score first; among equal scores, the leftmost pair.
struct WorseBigram {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

void SpmTokenizer::encode(std::string_view text, bool space_prefix,
                          std::vector<int32_t>& out) const {
    std::string escaped;
    escaped.reserve(text.size() + (space_prefix ? kEscapedSpace.size() : 0));
    if (space_prefix) escaped.append(kEscapedSpace);
    for (char c : text) {
        if (c == ' ') {
            escaped.append(kEscapedSpace);
        } else {
            escaped.push_back(c);
        }
    }
    if (escaped.empty()) return;

    // One symbol per character as a lead byte announces it (a broken character's bytes go
    // together, cut short at the end of the text).
    std::vector<Symbol> symbols;
    symbols.reserve(escaped.size());
    for (size_t offset = 0; offset < escaped.size();) {
        const size_t length = std::min(utf8::sequence_length(static_cast<uint8_t>(escaped[offset])),
                                       escaped.size() - offset);
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({index - 1, offset + length == escaped.size() ? -1 : index + 1,
                           static_cast<uint32_t>(offset), static_cast<uint32_t>(length)});
        offset += length;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, WorseBigram> queue;
    const auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t length = symbols[left].length + symbols[right].length;
        const std::optional<int32_t> token =
            vocab_.find(std::string_view(escaped).substr(symbols[left].offset, length));
        if (!token) return;
        queue.push({left, right, vocab_.scores[*token], length});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
            continue;
        }
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    for (int32_t i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece =
            std::string_view(escaped).substr(symbols[i].offset, symbols[i].length);
        if (const std::optional<int32_t> token = vocab_.find(piece)) {
            out.push_back(*token);
            continue;
        }
        // Every merge made a token, so this is one character the vocabulary lacks: its bytes,
        // or the unknown token when a byte has no token.
        const bool all_bytes = std::all_of(piece.begin(), piece.end(), [&](char c) {
            return vocab_.byte_tokens[static_cast<uint8_t>(c)] >= 0;
        });
        if (all_bytes) {
            for (char c : piece) out.push_back(vocab_.byte_tokens[static_cast<uint8_t>(c)]);
        } else if (vocab_.unknown >= 0) {
            out.push_back(vocab_.unknown);
        }
    }
}

}  // namespace tessera

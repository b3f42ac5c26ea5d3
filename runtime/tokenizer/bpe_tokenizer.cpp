#include "runtime/tokenizer/bpe_tokenizer.h"

#include <cstddef>
#include <limits>
#include <memory_resource>
#include <queue>
#include <utility>

#include "formats/error.h"

namespace tessera {

namespace {

// GPT-2's bytes_to_unicode(): the printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
// for themselves; the other 68 (controls, space, DEL, no-break space, soft hyphen) take the code
// points from U+0100 on, in byte order. Every byte thus becomes one printable character.
constexpr std::array<uint16_t, 256> make_byte_code_points() {
    std::array<uint16_t, 256> code_points{};
    uint16_t next_extra = 256;
    for (int byte = 0; byte < 256; ++byte) {
        const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
                               (byte >= 0xAE && byte <= 0xFF);
        code_points[byte] = printable ? static_cast<uint16_t>(byte) : next_extra++;
    }
    return code_points;
}
constexpr std::array<uint16_t, 256> kByteCodePoints = make_byte_code_points();
constexpr uint32_t kMappedCodePointEnd = 256 + 68;

// The byte each mapped code point stands for, -1 for code points outside the mapping.
constexpr std::array<int16_t, kMappedCodePointEnd> make_code_point_bytes() {
    std::array<int16_t, kMappedCodePointEnd> bytes{};
    for (int16_t& b : bytes) b = -1;
    for (int byte = 0; byte < 256; ++byte)
        bytes[kByteCodePoints[byte]] = static_cast<int16_t>(byte);
    return bytes;
}
constexpr std::array<int16_t, kMappedCodePointEnd> kCodePointBytes = make_code_point_bytes();

// The mapped character of one byte: one code point below U+0144, so one or two UTF-8 bytes.
void append_byte_char(uint8_t byte, std::string& out) {
    const uint16_t code_point = kByteCodePoints[byte];
    if (code_point < 0x80) {
        out.push_back(static_cast<char>(code_point));
    } else {
        out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
}

std::string byte_level_text(std::string_view bytes) {
    std::string text;
    text.reserve(bytes.size() * 2);
    for (char c : bytes) append_byte_char(static_cast<uint8_t>(c), text);
    return text;
}

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

}  // namespace

BpeTokenizer::BpeTokenizer(std::span<const std::string> tokens, std::span<const std::string> merges,
                           bool ignore_merges)
    : ignore_merges_(ignore_merges) {
    if (tokens.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2) ||
        merges.size() >= std::numeric_limits<uint32_t>::max()) {
        throw Error("byte-level BPE: " + std::to_string(tokens.size()) + " tokens and " +
                    std::to_string(merges.size()) + " merges are more than ids can count");
    }
    n_tokens_ = static_cast<int32_t>(tokens.size());
    symbols_.reserve(tokens.size() + tokens.size() / 8);
    // A text that several tokens share finds the last of them, as llama.cpp's lookup does.
    for (size_t id = 0; id < tokens.size(); ++id) {
        symbols_.insert_or_assign(tokens[id], static_cast<int32_t>(id));
    }

    // Halves first, since a pair's result may be a half that only a later merge names.
    struct Pair {
        std::string_view left;
        std::string_view right;
    };
    std::vector<Pair> pairs;
    pairs.reserve(merges.size());
    int32_t next_symbol = n_tokens_;
    const auto intern = [&](std::string_view text) {
        auto found = symbols_.find(text);
        if (found != symbols_.end()) return found->second;
        symbols_.emplace(std::string(text), next_symbol);
        return next_symbol++;
    };
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const std::string& merge = merges[rank];
        // Searching from the second byte lets a vocabulary whose tokens keep raw spaces have the
        // token " " as a left half, as llama.cpp reads merges.
        const size_t space = merge.find(' ', 1);
        if (space == std::string::npos || space + 1 == merge.size()) {
            throw Error("byte-level BPE: tokenizer.ggml.merges[" + std::to_string(rank) + "] = \"" +
                        merge + "\" is not two texts joined by a space");
        }
        const std::string_view text(merge);
        const Pair pair{text.substr(0, space), text.substr(space + 1)};
        const int32_t left = intern(pair.left);
        const int32_t right = intern(pair.right);
        // A pair listed twice keeps its first (lowest) rank.
        merges_.try_emplace(pair_key(left, right), Merge{static_cast<uint32_t>(rank), -1});
        pairs.push_back(pair);
    }
    std::string joined;
    for (size_t rank = 0; rank < pairs.size(); ++rank) {
        Merge& merge =
            merges_.at(pair_key(symbol_of(pairs[rank].left), symbol_of(pairs[rank].right)));
        if (merge.rank != rank) continue;
        joined.assign(pairs[rank].left);
        joined.append(pairs[rank].right);
        merge.result = symbol_of(joined);
    }

    std::string byte_char;
    for (int byte = 0; byte < 256; ++byte) {
        byte_char.clear();
        append_byte_char(static_cast<uint8_t>(byte), byte_char);
        byte_symbols_[byte] = symbol_of(byte_char);
    }
}

int32_t BpeTokenizer::symbol_of(std::string_view text) const {
    auto found = symbols_.find(text);
    return found == symbols_.end() ? -1 : found->second;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        const int32_t whole = symbol_of(byte_level_text(word));
        if (whole >= 0 && whole < n_tokens_) {
            out.push_back(whole);
            return;
        }
    }

    // One symbol per byte, in a doubly linked list over the word; merging absorbs the right
    // symbol into the left one, so a symbol's index is where its bytes start.
    struct Symbol {
        int32_t id;  // -1: a text that is no symbol, which never merges again
        uint32_t length;
        int32_t prev;
        int32_t next;
    };
    // Most words are a few bytes: their symbols and candidates live in this buffer, and only
    // long words reach the heap.
    std::array<std::byte, 4096> arena;
    std::pmr::monotonic_buffer_resource memory(arena.data(), arena.size());
    const auto n = static_cast<int32_t>(word.size());
    std::pmr::vector<Symbol> symbols(word.size(), &memory);
    for (int32_t i = 0; i < n; ++i) {
        symbols[i] = {byte_symbols_[static_cast<uint8_t>(word[i])], 1, i - 1,
                      i + 1 < n ? i + 1 : -1};
    }

    // Candidate merges of adjacent symbols, lowest rank first and leftmost first among equal
    // ranks. A candidate goes stale when either symbol has since merged with another; it is
    // recognised by the lengths no longer adding up, since symbols only ever grow.
    struct Candidate {
        uint32_t rank;
        int32_t left;
        int32_t right;
        uint32_t length;
        int32_t result;
    };
    const auto later = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    };
    std::pmr::vector<Candidate> candidates(&memory);
    candidates.reserve(word.size() * 2);
    std::priority_queue<Candidate, std::pmr::vector<Candidate>, decltype(later)> queue(
        later, std::move(candidates));
    const auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& a = symbols[left];
        const Symbol& b = symbols[right];
        if (a.id < 0 || b.id < 0) return;
        auto found = merges_.find(pair_key(a.id, b.id));
        if (found == merges_.end()) return;
        queue.push({found->second.rank, left, right, a.length + b.length, found->second.result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

    while (!queue.empty()) {
        const Candidate candidate = queue.top();
        queue.pop();
        Symbol& left = symbols[candidate.left];
        Symbol& right = symbols[candidate.right];
        if (left.length == 0 || right.length == 0 ||
            left.length + right.length != candidate.length) {
            continue;
        }
        left.id = candidate.result;
        left.length += right.length;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = candidate.left;
        right.length = 0;
        consider(left.prev, candidate.left);
        consider(candidate.left, left.next);
    }

    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        const Symbol& symbol = symbols[i];
        if (symbol.id >= 0 && symbol.id < n_tokens_) {
            out.push_back(symbol.id);
            continue;
        }
        for (uint32_t k = 0; k < symbol.length; ++k) {
            const int32_t byte_token = byte_symbols_[static_cast<uint8_t>(word[i + k])];
            if (byte_token >= 0 && byte_token < n_tokens_) out.push_back(byte_token);
        }
    }
}

std::string BpeTokenizer::token_bytes(std::string_view token_text) {
    std::string bytes;
    bytes.reserve(token_text.size());
    size_t at = 0;
    while (at < token_text.size()) {
        const auto lead = static_cast<uint8_t>(token_text[at]);
        // Only one- and two-byte characters can be mapped bytes (all are below U+0144); longer
        // characters, and bytes that are no character, are kept as they are.
        if (lead < 0x80) {
            const int16_t byte = kCodePointBytes[lead];
            bytes.push_back(byte >= 0 ? static_cast<char>(byte) : static_cast<char>(lead));
            ++at;
            continue;
        }
        if (lead >= 0xC2 && lead < 0xE0 && at + 1 < token_text.size() &&
            (static_cast<uint8_t>(token_text[at + 1]) & 0xC0) == 0x80) {
            const uint32_t code_point =
                ((lead & 0x1Fu) << 6) | (static_cast<uint8_t>(token_text[at + 1]) & 0x3Fu);
            if (code_point < kMappedCodePointEnd && kCodePointBytes[code_point] >= 0) {
                bytes.push_back(static_cast<char>(kCodePointBytes[code_point]));
            } else {
                bytes.append(token_text.substr(at, 2));
            }
            at += 2;
            continue;
        }
        bytes.push_back(static_cast<char>(lead));
        ++at;
    }
    return bytes;
}

}  // namespace tessera

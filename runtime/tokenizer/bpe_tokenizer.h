// Byte-level BPE (GPT-2 style): a word's bytes are mapped to printable characters, then merged
// pair by pair, lowest merge rank first, into vocabulary tokens.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessera {

class BpeTokenizer {
  public:
    // `tokens` is the vocabulary as stored (byte-level text, "Ġthe"); `merges` the ranked pairs
    // "A B", rank = index. `ignore_merges`: a word that is itself a token is taken whole (llama3).
    // Throws tessera::Error, naming the merge index, for a merge that is not two non-empty texts
    // joined by a space. Halves that are not tokens are accepted, as llama.cpp accepts them.
    BpeTokenizer(std::span<const std::string> tokens, std::span<const std::string> merges,
                 bool ignore_merges);

    // Appends the ids of one pre-tokenized word (raw UTF-8 bytes, or any bytes). A piece that
    // ends up as no token (a merge whose result is not in the vocabulary, a byte whose character
    // is missing) gives the tokens of its bytes' characters, skipping those that are missing.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

    // The raw bytes a byte-level token text stands for ("Ġthe" -> " the"). Characters outside
    // the byte mapping are kept as their UTF-8.
    static std::string token_bytes(std::string_view token_text);

  private:
    struct TextHash {
        using is_transparent = void;
        size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };
    struct Merge {
        uint32_t rank;
        int32_t result;  // the symbol the pair becomes; -1 when that text is no symbol
    };

    int32_t symbol_of(std::string_view text) const;

    // Symbols are the token ids, then ids from n_tokens_ on for merge halves that are not tokens.
    std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> symbols_;
    int32_t n_tokens_ = 0;
    std::unordered_map<uint64_t, Merge> merges_;  // (left symbol << 32 | right symbol) -> merge
    std::array<int32_t, 256> byte_symbols_{};     // the symbol of each byte's character, or -1
    bool ignore_merges_;
};

}  // namespace tessera

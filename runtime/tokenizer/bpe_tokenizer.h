// Byte-level BPE (GPT-2 style): a word's bytes are mapped to printable characters, then merged
// pair by pair, lowest merge rank first, into vocabulary tokens.
#pragma once

#include <cstdint>
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
    // Throws tessera::Error, naming the merge index, for a merge that is not two tokens' texts.
    BpeTokenizer(std::span<const std::string> tokens, std::span<const std::string> merges,
                 bool ignore_merges);

    // Appends the ids of one pre-tokenized word (raw UTF-8 bytes).
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

    // The raw bytes a byte-level token text stands for ("Ġthe" -> " the"). Characters outside
    // the byte mapping are kept as their UTF-8.
    static std::string token_bytes(std::string_view token_text);

  private:
    std::unordered_map<std::string, int32_t> ids_;
    std::unordered_map<std::string, uint32_t> ranks_;  // "A B" -> rank
    bool ignore_merges_;
};

}  // namespace tessera

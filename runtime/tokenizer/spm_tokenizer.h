// SentencePiece-style tokenizing as llama.cpp does it for "llama" vocabularies: spaces become
// U+2581 (▁), the text is cut into characters, and the adjacent pair whose concatenation is the
// best-scored token is merged until no pair forms a token; what is left and is not a token is
// spelt with byte tokens (<0xNN>), or as the unknown token where the vocabulary has none.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/vocab.h"

namespace tessera {

class SpmTokenizer {
  public:
    // Keeps a reference: the vocabulary must outlive the tokenizer.
    explicit SpmTokenizer(const Vocab& vocab) : vocab_(vocab) {}

    // Appends the ids of a piece of text that holds no special token. `space_prefix`: put a
    // space in front first (the vocabulary's add_space_prefix, at the start of the text and
    // after a special token).
    void encode(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const;

  private:
    const Vocab& vocab_;
};

}  // namespace tessera

// Prompt lookup (Saxena 2023, "prompt lookup decoding"): the drafts are what followed the last
// time the sequence's most recent tokens occurred in it. It needs no second model and shines
// where the output repeats the input: editing, quoting or summarising a given text or code.
#pragma once

#include "runtime/speculative/drafter.h"

namespace tessera {

struct NgramOptions {
    size_t max_ngram = 3;  // the longest suffix looked up; shorter ones are tried after it
    size_t min_ngram = 1;
};

class NgramDrafter : public Drafter {
  public:
    // Throws tessera::Error when min_ngram is 0 or above max_ngram.
    explicit NgramDrafter(const NgramOptions& options = {});
    // The continuation of the most recent earlier occurrence of the longest suffix (max_ngram
    // tokens down to min_ngram) that occurs earlier, up to max_tokens of it.
    std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) override;

  private:
    NgramOptions options_;
};

}  // namespace tessera

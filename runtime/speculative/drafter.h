// A drafter proposes the tokens a target model is likely to produce next; speculative decoding
// (runtime/speculative/speculative_decoder.h) verifies them in one target pass and keeps the
// longest correct prefix. A drafter only guesses: whatever it proposes, the output is the
// target's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tessera {

class Drafter {
  public:
    virtual ~Drafter() = default;
    // Up to max_tokens guesses of the tokens that follow `history` (the whole sequence so far:
    // prompt and generated tokens, the last one included). May return fewer, or none.
    virtual std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) = 0;
};

}  // namespace tessera

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

class Context;

class Drafter {
  public:
    virtual ~Drafter() = default;
    // Up to max_tokens guesses of the tokens that follow `history` (the whole sequence so far:
    // prompt and generated tokens, the last one included). May return fewer, or none.
    virtual std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) = 0;

    // Whether candidates() ranks several guesses per position, what a draft tree is built from
    // (runtime/speculative/draft_tree.h).
    virtual bool proposes_candidates() const { return false; }
    // Ranked guesses for the tokens after `history`: element p holds the best widths[p] guesses,
    // best first, for the token p + 1 places after history's last. Empty when the drafter has
    // no guess; otherwise one element per width, each of that many tokens.
    virtual std::vector<std::vector<int32_t>> candidates(std::span<const int32_t> history,
                                                         std::span<const uint32_t> widths) {
        static_cast<void>(history);
        static_cast<void>(widths);
        return {};
    }

    // Whether the drafter reads the target's final hidden states (draft heads): the target
    // context must then keep them (ContextOptions::keep_hidden_states).
    virtual bool reads_hidden_states() const { return false; }
    // Whether it needs the hidden state of every token the target decodes, the prompt's
    // included (next-n blocks keep a cache of them), rather than the last one of each pass.
    virtual bool reads_every_hidden_state() const { return false; }
    // Called after each pass of the target (a decode or a verification), before the next
    // draft(): the target's hidden_states() are those of the tokens just decoded, which end at
    // target.position(). The context may have been truncated since the previous call.
    virtual void after_target_pass(const Context& target) { static_cast<void>(target); }
};

}  // namespace tessera

// Speculative decoding (Leviathan et al. 2023; Chen et al. 2023): each step a drafter guesses a
// few tokens, the target verifies them all in one pass (Context::verify, on the device) and keeps
// the longest accepted prefix plus one token of its own. The tokens produced are exactly the
// target's: bit for bit its greedy choices when greedy, and its sampling distribution otherwise.
// A step whose drafter has no guess is a plain decode and sample. Given a draft tree shape, each
// step builds a tree from the drafter's ranked candidates (runtime/speculative/draft_tree.h) and
// the target verifies every path of it in one pass (Context::verify_tree), keeping the longest
// accepted one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "runtime/context.h"
#include "runtime/sampler.h"
#include "runtime/speculative/draft_tree.h"
#include "runtime/speculative/drafter.h"
#include "runtime/speculative/speculative_stats.h"

namespace tessera {

// Throws tessera::Error when speculation cannot reproduce the sampling: repetition, frequency or
// presence penalties depend on each accepted token in turn, which verification on the device
// does not see.
void check_speculative_sampling(const SamplerParams& sampling);

class SpeculativeDecoder {
  public:
    // Decodes the prompt into `target` and samples the first token; the target and the drafter
    // must outlive the decoder. The target may already hold the prompt's first position()
    // tokens (a prefix kept from an earlier sequence, as a chat keeps its earlier turns); the
    // caller vouches that they are the prompt's, and the decoder decodes the rest, at least one
    // token. A chain pass asks for up to draft_max drafts, fewer while recent passes rejected
    // some (the length adapts). With `tree`, each pass verifies a tree of that shape built from the
    // drafter's candidates, or, where the tree does not fit the context or a pass, a chain of up to
    // draft_max drafts. Throws tessera::Error for an empty or too-long prompt, a target holding
    // all of it or more, draft_max 0, sampling that check_speculative_sampling refuses, a
    // drafter that reads hidden states with a target context that does not keep them, or a tree
    // with a drafter that proposes no candidates. `acceptance` matters only when sampling:
    // Exact keeps the target's distribution; Typical (Medusa's typical acceptance) accepts more
    // drafts and gives up that guarantee (backends/backend.h, DRAFT_VERIFY).
    SpeculativeDecoder(Context& target, Drafter& drafter, const SamplerParams& sampling,
                       size_t draft_max, std::span<const int32_t> prompt,
                       std::optional<DraftTreeShape> tree = std::nullopt,
                       backend::Acceptance acceptance = backend::Acceptance::Exact);

    // The next tokens, one or more, in order: the first call gives the token sampled after the
    // prompt (no pass), each later call runs one target pass and gives the accepted drafts and
    // the target's own next token. Throws tessera::Error when the context is full (check room()
    // first).
    std::vector<int32_t> step();
    // Whether the context has room for another step.
    bool room() const { return target_.position() < target_.n_ctx(); }

    const SpeculativeStats& stats() const { return stats_; }

  private:
    // One pass over a tree of the drafter's candidates; empty when the drafter has no guess.
    std::vector<int32_t> verify_tree_step(int32_t last);

    Context& target_;
    Drafter& drafter_;
    Sampler sampler_;
    backend::VerifyParams verify_;
    Xoshiro256 seeds_;  // one seed per verification pass
    size_t draft_max_;
    size_t draft_limit_;  // this pass's most drafts, adapting within 1..draft_max_
    std::optional<DraftTreeShape> tree_;
    std::vector<int32_t> history_;  // prompt and produced tokens; the last not yet decoded
    size_t returned_ = 0;           // tokens of history_ the caller has (the prompt counts)
    SpeculativeStats stats_;
};

}  // namespace tessera

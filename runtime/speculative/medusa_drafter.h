// Drafts with the model's Medusa heads (Cai et al. 2024): head k reads the target's hidden state
// at the last decoded index alone and predicts the token k+1 places after the one that state
// predicts; the drafts are each head's greedy choice, a chain (runtime/speculative/draft_heads.h),
// or each head's top candidates, from which a draft tree is built (runtime/speculative/
// draft_tree.h).
// The heads hold no state, so a rejection costs them nothing.
#pragma once

#include <memory>
#include <vector>

#include "runtime/model.h"
#include "runtime/speculative/draft_heads.h"
#include "runtime/speculative/drafter.h"

namespace tessera {

class MedusaDrafter : public Drafter {
  public:
    // Throws tessera::Error naming the file and the key medusa.head_count when the model has no
    // Medusa heads, and when the heads cannot be set up.
    MedusaDrafter(std::shared_ptr<const Model> model, const DraftHeadsOptions& options);

    // One draft per head, up to max_tokens; none before the target has decoded anything.
    std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) override;
    // The top widths[k] tokens of head k by its logits, best first (the lower id on ties, so
    // the first is the chain's draft); none before the target has decoded anything. Throws
    // tessera::Error when widths asks for more heads than the file has, or for a width of 0 or
    // over the vocabulary.
    std::vector<std::vector<int32_t>> candidates(std::span<const int32_t> history,
                                                 std::span<const uint32_t> widths) override;
    bool proposes_candidates() const override { return true; }
    bool reads_hidden_states() const override { return true; }
    // Keeps the hidden state of the last token the target decoded.
    void after_target_pass(const Context& target) override;

  private:
    // Whether the kept hidden state is that of the token before history's last (it predicted
    // it), so that the heads can draft after history.
    bool can_draft_after(std::span<const int32_t> history) const;

    DraftHeads heads_;
    uint32_t n_embd_;
    std::vector<float> last_hidden_;
    uint32_t last_position_ = 0;  // the target's position when last_hidden_ was taken
};

}  // namespace tessera

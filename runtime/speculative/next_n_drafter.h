// Drafts with the model's own next-n (multi-token prediction) block, DeepSeek-V3 style: the block
// reads the target's hidden state at index i and the embedding of token i+1 and predicts token
// i+2; further drafts feed the block its own output (runtime/speculative/draft_heads.h). The
// block's KV cache follows the target's sequence with the target's hidden states; the columns
// it filled from its own guesses are rolled back (DraftHeads::truncate) before each draft.
#pragma once

#include <memory>
#include <vector>

#include "runtime/model.h"
#include "runtime/speculative/draft_heads.h"
#include "runtime/speculative/drafter.h"

namespace tessera {

class NextNDrafter : public Drafter {
  public:
    // Throws tessera::Error naming the file and the key <arch>.nextn_predict_layers when the
    // model has no next-n block, and when the heads cannot be set up.
    NextNDrafter(std::shared_ptr<const Model> model, const DraftHeadsOptions& options);

    // The block's greedy chain after `history`, up to max_tokens; none before the target has
    // decoded anything or when the heads' cache is full.
    std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) override;
    bool reads_hidden_states() const override { return true; }
    bool reads_every_hidden_state() const override { return true; }
    // Takes the target's new hidden states; they enter the block's cache at the next draft(),
    // once the token after each is known.
    void after_target_pass(const Context& target) override;

  private:
    DraftHeads heads_;
    uint32_t n_embd_;
    // Indices [0, fed_) are in the block's cache from the target's own hidden states.
    uint32_t fed_ = 0;
    // The target's hidden states of indices [fed_, fed_ + pending rows), not yet fed.
    std::vector<float> pending_;
    // Set when the target skipped indices the block never saw (a pass this drafter was not told
    // of): its cache cannot continue, so it drafts nothing until it is reset at index 0.
    bool lost_ = false;
};

}  // namespace tessera

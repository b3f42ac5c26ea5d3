// Drafts from a smaller model with the same vocabulary: it runs greedily in its own context, which
// follows the target's sequence (on each call the context keeps the prefix it shares with the
// history and decodes the rest), so a rejection costs the draft nothing but a truncate.
#pragma once

#include <memory>

#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/drafter.h"

namespace tessera {

class DraftModelDrafter : public Drafter {
  public:
    // Throws tessera::Error when the vocabularies are incompatible
    // (runtime/speculative/vocabulary_compatibility.h) or the context cannot be created.
    DraftModelDrafter(const Model& target, std::shared_ptr<const Model> draft,
                      const ContextOptions& options);
    // The draft model's greedy continuation of `history`, up to max_tokens; it stops early at a
    // token the target's vocabulary lacks or where the draft context is full.
    std::vector<int32_t> draft(std::span<const int32_t> history, size_t max_tokens) override;

  private:
    uint32_t target_vocabulary_;
    Context context_;
    std::vector<int32_t> held_;  // the tokens context_ holds, in order
};

}  // namespace tessera

#include "runtime/speculative/draft_model_drafter.h"

#include <algorithm>

#include "formats/error.h"
#include "runtime/speculative/vocabulary_compatibility.h"

namespace tessera {

namespace {

// The draft model, once its vocabulary is known to fit the target's.
std::shared_ptr<const Model> compatible(const Model& target, std::shared_ptr<const Model> draft) {
    check_draft_vocabulary(target, *draft);
    return draft;
}

int32_t first_argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

DraftModelDrafter::DraftModelDrafter(const Model& target, std::shared_ptr<const Model> draft,
                                     const ContextOptions& options)
    : target_vocabulary_(target.hparams().n_vocab),
      context_(compatible(target, std::move(draft)), options) {}

std::vector<int32_t> DraftModelDrafter::draft(std::span<const int32_t> history, size_t max_tokens) {
    if (history.empty() || max_tokens == 0) return {};
    // Keep the shared prefix, less at least one token: its logits are needed again.
    const auto mismatch = std::mismatch(held_.begin(), held_.end(), history.begin(), history.end());
    size_t keep = static_cast<size_t>(mismatch.first - held_.begin());
    keep = std::min(keep, history.size() - 1);
    context_.truncate(static_cast<uint32_t>(keep));
    held_.resize(keep);
    const std::span<const int32_t> fresh = history.subspan(keep);
    if (context_.position() + fresh.size() + max_tokens > context_.n_ctx()) {
        // No room to draft: the target decodes on its own (the context is nearly full anyway).
        context_.reset();
        held_.clear();
        return {};
    }
    std::span<const float> logits = context_.decode(fresh, Logits::Last);
    held_.insert(held_.end(), fresh.begin(), fresh.end());

    std::vector<int32_t> drafts;
    while (drafts.size() < max_tokens) {
        const int32_t token = first_argmax(logits);
        if (static_cast<uint32_t>(token) >= target_vocabulary_) break;
        drafts.push_back(token);
        if (drafts.size() == max_tokens) break;
        logits = context_.decode({&token, 1}, Logits::Last);
        held_.push_back(token);
    }
    return drafts;
}

}  // namespace tessera

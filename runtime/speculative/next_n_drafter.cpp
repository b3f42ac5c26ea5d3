#include "runtime/speculative/next_n_drafter.h"

#include <string>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/hparams.h"

namespace tessera {

namespace {

std::shared_ptr<const Model> with_next_n(std::shared_ptr<const Model> model) {
    if (model->hparams().n_nextn_layer == 0) {
        throw Error(model->file().path() + ": no next-n (MTP) layers for --spec mtp: key " +
                    arch_key(model->hparams(), "nextn_predict_layers") +
                    " is absent or 0; try --spec medusa, ngram or auto");
    }
    return model;
}

}  // namespace

NextNDrafter::NextNDrafter(std::shared_ptr<const Model> model, const DraftHeadsOptions& options)
    : heads_(with_next_n(std::move(model)), options), n_embd_(heads_.model().hparams().n_embd) {}

void NextNDrafter::after_target_pass(const Context& target) {
    const std::span<const float> hidden = target.hidden_states();
    const auto n_rows = static_cast<uint32_t>(hidden.size() / n_embd_);
    const uint32_t first = target.position() - n_rows;
    const uint32_t known_end = fed_ + static_cast<uint32_t>(pending_.size() / n_embd_);
    if (first == 0) {  // a new sequence
        lost_ = false;
        fed_ = 0;
        pending_.clear();
    } else if (first < fed_) {  // the target went back (a truncated context): so does the block
        fed_ = first;
        pending_.clear();
    } else if (first <= known_end) {  // the rows from `first` on are replaced
        pending_.resize(size_t{first - fed_} * n_embd_);
    } else {
        lost_ = true;
        pending_.clear();
        return;
    }
    pending_.insert(pending_.end(), hidden.begin(), hidden.end());
}

std::vector<int32_t> NextNDrafter::draft(std::span<const int32_t> history, size_t max_tokens) {
    const auto pending_rows = static_cast<uint32_t>(pending_.size() / n_embd_);
    // The pending states end at the index before the last token of the history: each is fed
    // with the token after it, which the history now holds.
    if (lost_ || pending_rows == 0 || max_tokens == 0 ||
        size_t{fed_} + pending_rows + 1 != history.size()) {
        return {};
    }
    // Forget the columns the block filled from its own guesses at the last draft.
    heads_.truncate(fed_);
    const std::span<const int32_t> next_tokens = history.subspan(fed_ + 1, pending_rows);
    DraftOutput out = heads_.next_n(0, pending_, next_tokens);
    fed_ += pending_rows;
    pending_.clear();

    std::vector<int32_t> drafts;
    drafts.push_back(out.tokens.back());
    while (drafts.size() < max_tokens) {
        // The block's own output at the last index, with its own guess: the next index.
        const std::vector<float> hidden(out.hidden.end() - n_embd_, out.hidden.end());
        const int32_t token = drafts.back();
        out = heads_.next_n(0, hidden, {&token, 1});
        drafts.push_back(out.tokens.back());
    }
    return drafts;
}

}  // namespace tessera

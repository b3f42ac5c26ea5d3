#include "runtime/speculative/medusa_drafter.h"

#include <algorithm>
#include <string>

#include "formats/error.h"
#include "runtime/context.h"

namespace tessera {

namespace {

std::shared_ptr<const Model> with_medusa(std::shared_ptr<const Model> model) {
    if (model->hparams().n_medusa_head == 0) {
        throw Error(model->file().path() +
                    ": no Medusa heads for --spec medusa: key medusa.head_count is absent; try "
                    "--spec mtp, ngram or auto");
    }
    return model;
}

}  // namespace

MedusaDrafter::MedusaDrafter(std::shared_ptr<const Model> model, const DraftHeadsOptions& options)
    : heads_(with_medusa(std::move(model)), options), n_embd_(heads_.model().hparams().n_embd) {}

void MedusaDrafter::after_target_pass(const Context& target) {
    const std::span<const float> hidden = target.hidden_states();
    if (hidden.size() < n_embd_) {
        last_hidden_.clear();
        return;
    }
    last_hidden_.assign(hidden.end() - n_embd_, hidden.end());
    last_position_ = target.position();
}

std::vector<int32_t> MedusaDrafter::draft(std::span<const int32_t> history, size_t max_tokens) {
    // The kept state is that of the token before the history's last one (it predicted it).
    if (last_hidden_.empty() || max_tokens == 0 || size_t{last_position_} + 1 != history.size()) {
        return {};
    }
    const DraftOutput out = heads_.medusa(last_hidden_);
    // One column: row k is head k.
    const size_t n = std::min<size_t>(max_tokens, out.tokens.size());
    return {out.tokens.begin(), out.tokens.begin() + static_cast<std::ptrdiff_t>(n)};
}

}  // namespace tessera

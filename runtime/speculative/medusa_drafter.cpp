#include "runtime/speculative/medusa_drafter.h"

#include <algorithm>
#include <numeric>
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

bool MedusaDrafter::can_draft_after(std::span<const int32_t> history) const {
    return !last_hidden_.empty() && size_t{last_position_} + 1 == history.size();
}

std::vector<int32_t> MedusaDrafter::draft(std::span<const int32_t> history, size_t max_tokens) {
    if (max_tokens == 0 || !can_draft_after(history)) return {};
    const DraftOutput out = heads_.medusa(last_hidden_);
    // One column: row k is head k.
    const size_t n = std::min<size_t>(max_tokens, out.tokens.size());
    return {out.tokens.begin(), out.tokens.begin() + static_cast<std::ptrdiff_t>(n)};
}

std::vector<std::vector<int32_t>> MedusaDrafter::candidates(std::span<const int32_t> history,
                                                            std::span<const uint32_t> widths) {
    const uint32_t n_heads = heads_.n_medusa();
    const uint32_t n_vocab = heads_.model().hparams().n_vocab;
    if (widths.size() > n_heads) {
        throw Error(heads_.model().file().path() + ": a draft tree of depth " +
                    std::to_string(widths.size()) + " needs as many Medusa heads; the file has " +
                    std::to_string(n_heads));
    }
    for (const uint32_t width : widths) {
        if (width == 0 || width > n_vocab) {
            throw Error("Medusa candidates: a width of " + std::to_string(width) +
                        " is not between 1 and the vocabulary size " + std::to_string(n_vocab));
        }
    }
    if (widths.empty() || !can_draft_after(history)) return {};
    const DraftOutput out = heads_.medusa(last_hidden_);
    // One column: row k is head k.
    std::vector<std::vector<int32_t>> ranked(widths.size());
    std::vector<int32_t> ids(n_vocab);
    for (size_t head = 0; head < widths.size(); ++head) {
        const std::span<const float> logits = out.logits.subspan(head * n_vocab, n_vocab);
        std::iota(ids.begin(), ids.end(), 0);
        const auto better = [&](int32_t a, int32_t b) {
            const float la = logits[static_cast<size_t>(a)];
            const float lb = logits[static_cast<size_t>(b)];
            return la > lb || (la == lb && a < b);
        };
        const auto top = ids.begin() + static_cast<std::ptrdiff_t>(widths[head]);
        std::partial_sort(ids.begin(), top, ids.end(), better);
        ranked[head].assign(ids.begin(), top);
    }
    return ranked;
}

}  // namespace tessera

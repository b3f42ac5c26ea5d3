#include "runtime/speculative/speculative_decoder.h"

#include <algorithm>
#include <string>
#include <utility>

#include "formats/error.h"

namespace tessera {

namespace {

// Prompt tokens per pass when the drafter reads every hidden state: the pass then returns every
// row's logits, and this bounds their buffer.
constexpr size_t kPromptRowsPerPass = 64;

backend::VerifyParams verify_params(const SamplerParams& sampling, backend::Acceptance acceptance) {
    check_speculative_sampling(sampling);
    backend::VerifyParams params;
    params.acceptance = acceptance;
    params.temperature = sampling.temperature;
    params.top_k = sampling.top_k;
    params.top_p = sampling.top_p;
    params.min_p = sampling.min_p;
    return params;
}

}  // namespace

void check_speculative_sampling(const SamplerParams& sampling) {
    const bool penalties = sampling.penalty_last_n != 0 &&
                           (sampling.repeat_penalty != 1.0f || sampling.frequency_penalty != 0.0f ||
                            sampling.presence_penalty != 0.0f);
    if (penalties) {
        throw Error(
            "speculative decoding: repetition, frequency and presence penalties cannot be used "
            "with it (each would depend on every accepted token in turn); turn them off or "
            "turn speculation off");
    }
}

SpeculativeDecoder::SpeculativeDecoder(Context& target, Drafter& drafter,
                                       const SamplerParams& sampling, size_t draft_max,
                                       std::span<const int32_t> prompt,
                                       std::optional<DraftTreeShape> tree,
                                       backend::Acceptance acceptance)
    : target_(target),
      drafter_(drafter),
      sampler_(sampling),
      verify_(verify_params(sampling, acceptance)),
      // A stream apart from the sampler's own, from the same seed.
      seeds_(sampling.seed ^ 0x5bd1e9955bd1e995ull),
      draft_max_(draft_max),
      draft_limit_(draft_max),
      tree_(std::move(tree)) {
    if (draft_max == 0) throw Error("speculative decoding: the draft length must be at least 1");
    if (prompt.empty()) throw Error("speculative decoding: the prompt is empty");
    if (target.position() >= prompt.size()) {
        throw Error("speculative decoding: the target context holds " +
                    std::to_string(target.position()) + " tokens, not fewer than the prompt's " +
                    std::to_string(prompt.size()));
    }
    if (drafter.reads_hidden_states() && !target.keeps_hidden_states()) {
        throw Error(
            "speculative decoding: the drafter reads the target's hidden states; create the "
            "target context with ContextOptions::keep_hidden_states");
    }
    if (tree_ && !drafter.proposes_candidates()) {
        throw Error(
            "speculative decoding: a draft tree is built from ranked candidates per position, "
            "and this drafter proposes a single chain (Medusa heads propose candidates)");
    }
    // The longest passes this decoder will ask for, compiled before the prompt is decoded: a
    // device that cannot verify them (too long a row for its loops, say) refuses now, before
    // anything is generated. Shorter chains need no more of a device than the longest.
    const size_t longest_chain = std::min({draft_max, static_cast<size_t>(target.n_ctx()) - 1,
                                           static_cast<size_t>(target.n_batch()) - 1});
    if (longest_chain > 0) target_.prepare_verify(longest_chain, verify_, false);
    if (tree_ && tree_->n_nodes() < target.n_batch()) {
        target_.prepare_verify(tree_->n_nodes(), verify_, true);
    }
    const std::span<const int32_t> fresh = prompt.subspan(target.position());
    std::span<const float> logits;
    if (drafter.reads_every_hidden_state()) {
        // Every prompt token's hidden state, in passes of a bounded number of logits rows (all
        // rows' logits are computed to keep every row's hidden state).
        for (size_t first = 0; first < fresh.size(); first += kPromptRowsPerPass) {
            const size_t n = std::min(kPromptRowsPerPass, fresh.size() - first);
            logits = target_.decode(fresh.subspan(first, n), Logits::All);
            drafter_.after_target_pass(target_);
        }
        logits = logits.subspan(logits.size() - target_.n_vocab());
    } else {
        logits = target_.decode(fresh, Logits::Last);
        drafter_.after_target_pass(target_);
    }
    history_.assign(prompt.begin(), prompt.end());
    history_.push_back(sampler_.sample(logits));
    returned_ = prompt.size();
}

std::vector<int32_t> SpeculativeDecoder::step() {
    if (returned_ < history_.size()) {  // the token sampled after the prompt
        returned_ = history_.size();
        return {history_.back()};
    }
    if (!room()) throw Error("speculative decoding: the context is full");
    const int32_t last = history_.back();
    // Room for the last token and the drafts, in the cache and in one pass.
    const size_t room_left = target_.n_ctx() - target_.position() - 1;
    const size_t max_drafts =
        std::min({draft_limit_, room_left, static_cast<size_t>(target_.n_batch()) - 1});
    std::vector<int32_t> produced;
    if (tree_ && tree_->n_nodes() <= room_left && tree_->n_nodes() < target_.n_batch()) {
        produced = verify_tree_step(last);
    }
    if (!produced.empty()) {
        history_.insert(history_.end(), produced.begin(), produced.end());
        returned_ = history_.size();
        return produced;
    }
    std::vector<int32_t> drafts;
    if (max_drafts > 0) drafts = drafter_.draft(history_, max_drafts);
    if (drafts.size() > max_drafts) drafts.resize(max_drafts);

    if (drafts.empty()) {
        const std::span<const float> logits = target_.decode({&last, 1}, Logits::Last);
        produced.push_back(sampler_.sample(logits));
        drafter_.after_target_pass(target_);
        stats_.record(0, 0);
    } else {
        const Verdict verdict = target_.verify(last, drafts, verify_, seeds_.next());
        const auto n_accepted = static_cast<size_t>(verdict.n_accepted);
        produced.assign(drafts.begin(), drafts.begin() + static_cast<std::ptrdiff_t>(n_accepted));
        produced.push_back(verdict.next_token);
        drafter_.after_target_pass(target_);
        stats_.record(drafts.size(), n_accepted);
        // The draft length follows the drafter's luck: two more after a pass that accepted
        // every draft, one fewer after one that did not (a draft costs a column of the
        // target's pass, the LM head's included, whether or not it is accepted).
        draft_limit_ = n_accepted == drafts.size() ? std::min(draft_max_, draft_limit_ + 2)
                                                   : std::max<size_t>(1, draft_limit_ - 1);
    }
    history_.insert(history_.end(), produced.begin(), produced.end());
    returned_ = history_.size();
    return produced;
}

std::vector<int32_t> SpeculativeDecoder::verify_tree_step(int32_t last) {
    const std::vector<std::vector<int32_t>> candidates =
        drafter_.candidates(history_, tree_->widths());
    if (candidates.empty()) return {};
    const DraftTree tree = tree_->build(candidates);
    const TreeVerdict verdict =
        target_.verify_tree(last, tree.tokens, tree.parents, verify_, seeds_.next());
    std::vector<int32_t> produced;
    for (const int32_t node : verdict.accepted_nodes) {
        produced.push_back(tree.tokens[static_cast<size_t>(node)]);
    }
    produced.push_back(verdict.next_token);
    drafter_.after_target_pass(target_);
    stats_.record_tree(tree_->depth(), tree.tokens.size(), verdict.accepted_nodes.size());
    return produced;
}

}  // namespace tessera

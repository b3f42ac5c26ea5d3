// Speculative decoding against plain greedy decoding, measured in one run on one prompt, for
// `tessera bench --spec`: each repetition decodes the prompt, then generates the same number of
// tokens both ways, past any end of sequence as llama-bench's tg test does, and times the
// generation alone (from the end of the prompt to the last token).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_tree.h"
#include "runtime/speculative/drafter.h"
#include "runtime/speculative/speculative_stats.h"

namespace tessera::tools {

struct SpeculativeBenchOptions {
    ContextOptions plain_context;        // n_ctx is set to fit the prompt, the tokens and drafts
    ContextOptions speculative_context;  // the target's, as the drafter needs it
    size_t draft_max = 1;
    std::optional<DraftTreeShape> tree;  // none: chains
    uint32_t n_gen = 128;
    int repetitions = 1;
    bool warmup = true;  // one untimed run of each kind first
};

struct SpeculativeBenchResult {
    std::vector<uint64_t> plain_ns;  // per repetition
    std::vector<uint64_t> speculative_ns;
    std::vector<int32_t> plain_tokens;  // the last repetition's n_gen tokens
    std::vector<int32_t> speculative_tokens;
    SpeculativeStats stats;  // the last speculative repetition's

    bool identical() const { return plain_tokens == speculative_tokens; }
};

// Runs the comparison; `make_drafter` gives a fresh drafter for each speculative run, so that
// no run starts with what an earlier one cached. Throws tessera::Error when the prompt is
// empty or does not fit, or when the drafter cannot be made.
SpeculativeBenchResult measure_speculation(
    const std::shared_ptr<const Model>& target, std::span<const int32_t> prompt,
    const std::function<std::unique_ptr<Drafter>()>& make_drafter, SpeculativeBenchOptions options);

}  // namespace tessera::tools

#include "tools/speculative_flags.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "formats/error.h"
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/speculative/medusa_drafter.h"
#include "runtime/speculative/next_n_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "tools/commands.h"

namespace tessera::tools {

void SpeculativeFlags::add_to(ArgParser& parser) {
    parser.option("--spec", &spec, "MODE",
                  "speculative decoding: none, ngram (prompt lookup: drafts what followed the "
                  "last\noccurrence of the latest tokens), draft (a smaller model, --draft-model), "
                  "mtp (the\nfile's next-n layers), medusa (the file's Medusa heads) or auto (mtp "
                  "if the file\nhas next-n layers, else medusa if it has Medusa heads, else "
                  "ngram); the output is\nthe target's own either way (default: none)");
    parser.option("--draft-model", &draft_model, "FILE",
                  "the draft model for --spec draft: a GGUF file with the target's vocabulary");
    parser.option(
        "--draft-max", &draft_max, "K",
        "most draft tokens per target pass (default: " + std::to_string(kDefaultNgramDraftMax) +
            " for ngram, " + std::to_string(kDefaultModelDraftMax) + " for a draft model, " +
            std::to_string(kDefaultNextNDraftMax) + " for mtp, the head count for medusa)");
    parser.option("--draft-tree", &draft_tree, "WIDTHS",
                  "with --spec medusa, verify a tree of drafts in each target pass: the top W1 "
                  "tokens\nof the first head, under each the top W2 of the second, and so on "
                  "(\"4,2,2\": 4 + 8\n+ 16 nodes, at most " +
                      std::to_string(kMaxDraftTreeNodes) +
                      "); the longest path the target accepts wins (default:\na chain, one "
                      "draft per head)");
    parser.flag("--typical-acceptance", &typical_acceptance,
                "when sampling, accept a draft whose probability is above min(0.09, 0.3 "
                "exp(-entropy))\n(Medusa's typical acceptance): more drafts accepted, but the "
                "output no longer\nfollows the model's distribution exactly (default: exact "
                "rejection sampling)");
}

backend::Acceptance SpeculativeFlags::acceptance() const {
    return typical_acceptance ? backend::Acceptance::Typical : backend::Acceptance::Exact;
}

std::optional<DraftTreeShape> SpeculativeFlags::tree_shape() const {
    if (draft_tree.empty()) return std::nullopt;
    try {
        return DraftTreeShape::parse(draft_tree);
    } catch (const Error& error) {
        throw UsageError(std::string("--draft-tree: ") + error.what());
    }
}

SpecMode SpeculativeFlags::mode() const {
    SpecMode mode = SpecMode::None;
    if (spec == "none") {
        mode = SpecMode::None;
    } else if (spec == "ngram") {
        mode = SpecMode::Ngram;
    } else if (spec == "draft") {
        mode = SpecMode::Draft;
    } else if (spec == "mtp") {
        mode = SpecMode::NextN;
    } else if (spec == "medusa") {
        mode = SpecMode::Medusa;
    } else if (spec == "auto") {
        mode = SpecMode::Auto;
    } else {
        throw UsageError("--spec must be none, ngram, draft, mtp, medusa or auto, not '" + spec +
                         "'");
    }
    if (mode == SpecMode::Draft && draft_model.empty()) {
        throw UsageError("--spec draft needs --draft-model FILE");
    }
    if (mode != SpecMode::Draft && !draft_model.empty()) {
        throw UsageError("--draft-model is for --spec draft");
    }
    if (draft_max < 0) throw UsageError("--draft-max must be at least 1");
    if (typical_acceptance && mode == SpecMode::None) {
        throw UsageError("--typical-acceptance is for speculative decoding (--spec)");
    }
    if (!draft_tree.empty()) {
        if (mode != SpecMode::Medusa && mode != SpecMode::Auto) {
            throw UsageError(
                "--draft-tree needs --spec medusa: a tree is built from the Medusa "
                "heads' top candidates, and --spec " +
                spec + " drafts a single chain");
        }
        tree_shape();  // bad widths fail before anything loads
    }
    return mode;
}

SpecMode SpeculativeFlags::mode_for(const Model& target) const {
    const SpecMode given = mode();
    SpecMode resolved = given;
    if (given == SpecMode::Auto) {
        if (target.hparams().n_nextn_layer > 0) {
            resolved = SpecMode::NextN;
        } else if (target.hparams().n_medusa_head > 0) {
            resolved = SpecMode::Medusa;
        } else {
            resolved = SpecMode::Ngram;
        }
    }
    if (!draft_tree.empty() && resolved != SpecMode::Medusa) {
        throw UsageError(
            "--draft-tree needs Medusa heads: --spec auto chose " +
            std::string(resolved == SpecMode::NextN ? "mtp" : "ngram") +
            " for this file, which drafts a single chain; use --spec medusa with a file that has "
            "Medusa heads");
    }
    return resolved;
}

size_t SpeculativeFlags::draft_length(const Model& target) const {
    if (draft_max > 0) return static_cast<size_t>(draft_max);
    switch (mode_for(target)) {
        case SpecMode::Draft:
            return static_cast<size_t>(kDefaultModelDraftMax);
        case SpecMode::NextN:
            return static_cast<size_t>(kDefaultNextNDraftMax);
        case SpecMode::Medusa:
            return std::max<size_t>(target.hparams().n_medusa_head, 1);
        default:
            return static_cast<size_t>(kDefaultNgramDraftMax);
    }
}

ContextOptions SpeculativeFlags::target_context_options(const Model& target,
                                                        ContextOptions options) const {
    const SpecMode resolved = mode_for(target);
    if (resolved == SpecMode::NextN || resolved == SpecMode::Medusa) {
        options.keep_hidden_states = true;
    }
    return options;
}

std::unique_ptr<Drafter> SpeculativeFlags::make_drafter(
    const std::shared_ptr<const Model>& target, const ModelOptions& model_options,
    const ContextOptions& context_options) const {
    DraftHeadsOptions heads_options;
    heads_options.n_ctx = context_options.n_ctx;
    heads_options.n_threads = context_options.n_threads;
    heads_options.kv_type = context_options.kv_type;
    switch (mode_for(*target)) {
        case SpecMode::None:
            return nullptr;
        case SpecMode::Ngram:
        case SpecMode::Auto:
            return std::make_unique<NgramDrafter>();
        case SpecMode::Draft:
            return std::make_unique<DraftModelDrafter>(
                *target, Model::load(draft_model, model_options), context_options);
        case SpecMode::NextN:
            return std::make_unique<NextNDrafter>(target, heads_options);
        case SpecMode::Medusa:
            return std::make_unique<MedusaDrafter>(target, heads_options);
    }
    return nullptr;
}

void print_speculative_stats(const char* command, const SpeculativeStats& stats) {
    std::fprintf(stderr,
                 "%s: speculation: %llu drafted, %llu accepted (%.1f%%), %.2f tokens per target "
                 "pass (%llu passes)\n",
                 command, static_cast<unsigned long long>(stats.drafted),
                 static_cast<unsigned long long>(stats.accepted), 100.0 * stats.acceptance_rate(),
                 stats.tokens_per_pass(), static_cast<unsigned long long>(stats.target_passes));
    if (stats.tree_nodes > 0) {
        std::fprintf(stderr, "%s: draft trees: %llu nodes verified, %.1f per pass\n", command,
                     static_cast<unsigned long long>(stats.tree_nodes),
                     static_cast<double>(stats.tree_nodes) /
                         static_cast<double>(std::max<uint64_t>(stats.target_passes, 1)));
    }
    if (stats.drafted_at.empty()) return;
    std::fprintf(stderr, "%s: acceptance by draft %s:", command,
                 stats.tree_nodes > 0 ? "tree depth" : "position");
    for (size_t i = 0; i < stats.drafted_at.size(); ++i) {
        std::fprintf(stderr, " %.0f%%", 100.0 * stats.acceptance_at(i));
    }
    std::fprintf(stderr, "\n");
}

}  // namespace tessera::tools

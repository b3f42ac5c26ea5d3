#include "tools/speculative_flags.h"

#include <cstdio>
#include <string>

#include "formats/error.h"
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "tools/commands.h"

namespace tessera::tools {

void SpeculativeFlags::add_to(ArgParser& parser) {
    parser.option("--spec", &spec, "MODE",
                  "speculative decoding: none, ngram (prompt lookup: drafts what followed the "
                  "last\noccurrence of the latest tokens), draft (a smaller model, --draft-model) "
                  "or auto\n(ngram, as this build finds no MTP or Medusa heads to use); the output "
                  "is the\ntarget's own either way (default: none)");
    parser.option("--draft-model", &draft_model, "FILE",
                  "the draft model for --spec draft: a GGUF file with the target's vocabulary");
    parser.option(
        "--draft-max", &draft_max, "K",
        "most draft tokens per target pass (default: " + std::to_string(kDefaultNgramDraftMax) +
            " for ngram, " + std::to_string(kDefaultModelDraftMax) + " for a draft model)");
}

SpecMode SpeculativeFlags::mode() const {
    SpecMode mode = SpecMode::None;
    if (spec == "none") {
        mode = SpecMode::None;
    } else if (spec == "ngram" || spec == "auto") {
        mode = SpecMode::Ngram;
    } else if (spec == "draft") {
        mode = SpecMode::Draft;
    } else {
        throw UsageError("--spec must be none, ngram, draft or auto, not '" + spec + "'");
    }
    if (mode == SpecMode::Draft && draft_model.empty()) {
        throw UsageError("--spec draft needs --draft-model FILE");
    }
    if (mode != SpecMode::Draft && !draft_model.empty()) {
        throw UsageError("--draft-model is for --spec draft");
    }
    if (draft_max < 0) throw UsageError("--draft-max must be at least 1");
    return mode;
}

size_t SpeculativeFlags::draft_length() const {
    if (draft_max > 0) return static_cast<size_t>(draft_max);
    return static_cast<size_t>(mode() == SpecMode::Draft ? kDefaultModelDraftMax
                                                         : kDefaultNgramDraftMax);
}

std::unique_ptr<Drafter> SpeculativeFlags::make_drafter(
    const Model& target, const ModelOptions& model_options,
    const ContextOptions& context_options) const {
    switch (mode()) {
        case SpecMode::None:
            return nullptr;
        case SpecMode::Ngram:
            return std::make_unique<NgramDrafter>();
        case SpecMode::Draft:
            return std::make_unique<DraftModelDrafter>(
                target, Model::load(draft_model, model_options), context_options);
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
    if (stats.drafted_at.empty()) return;
    std::fprintf(stderr, "%s: acceptance by draft position:", command);
    for (size_t i = 0; i < stats.drafted_at.size(); ++i) {
        std::fprintf(stderr, " %.0f%%", 100.0 * stats.acceptance_at(i));
    }
    std::fprintf(stderr, "\n");
}

}  // namespace tessera::tools

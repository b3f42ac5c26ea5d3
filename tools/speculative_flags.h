// The speculative-decoding flags shared by the commands that generate text (run, chat, bench):
// --spec, --draft-model, --draft-max and --draft-tree, and the drafter they choose.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_tree.h"
#include "runtime/speculative/drafter.h"
#include "runtime/speculative/speculative_stats.h"
#include "tools/arg_parser.h"

namespace tessera::tools {

enum class SpecMode : uint8_t { None, Draft, Ngram, NextN, Medusa, Auto };

// Drafts per pass unless --draft-max says otherwise. N-gram drafts cost nothing to make and are
// only proposed where the sequence repeats itself, so long runs pay; a draft model or a next-n
// block spends one of its own passes per draft, and its acceptance falls with the position, so
// fewer; Medusa drafts one token per head.
inline constexpr int64_t kDefaultNgramDraftMax = 8;
inline constexpr int64_t kDefaultModelDraftMax = 5;
inline constexpr int64_t kDefaultNextNDraftMax = 3;

struct SpeculativeFlags {
    std::string spec = "none";
    std::string draft_model;
    int64_t draft_max = 0;   // 0: the mode's default
    std::string draft_tree;  // widths per depth, "4,2,2"; empty: chains
    bool typical_acceptance = false;

    void add_to(ArgParser& parser);
    // The mode as given. Throws UsageError for an unknown mode, --draft-model without --spec
    // draft or the other way round, a draft length below 1, or --draft-tree with widths that do
    // not parse or with a mode other than medusa or auto.
    SpecMode mode() const;
    // The mode for this target: auto is mtp when the file has next-n layers, else medusa when
    // it has Medusa heads, else ngram. Throws UsageError for --draft-tree when that is not
    // medusa.
    SpecMode mode_for(const Model& target) const;
    // The --draft-tree shape; none for chains. Throws UsageError when the widths do not parse.
    std::optional<DraftTreeShape> tree_shape() const;
    // Exact, or Typical with --typical-acceptance.
    backend::Acceptance acceptance() const;
    size_t draft_length(const Model& target) const;
    // The target context's options for the mode: the draft heads read its hidden states.
    ContextOptions target_context_options(const Model& target, ContextOptions options) const;
    // The drafter for the mode (nullptr for none); a draft model is loaded with the target's
    // options and checked against its vocabulary. Throws tessera::Error naming the file and the
    // key when the file lacks the heads asked for.
    std::unique_ptr<Drafter> make_drafter(const std::shared_ptr<const Model>& target,
                                          const ModelOptions& model_options,
                                          const ContextOptions& context_options) const;
};

// "speculation: 412 drafted, 301 accepted (73.1%), 2.84 tokens per target pass; by position:
// 91% 80% ..." on stderr, prefixed with the command's name.
void print_speculative_stats(const char* command, const SpeculativeStats& stats);

}  // namespace tessera::tools

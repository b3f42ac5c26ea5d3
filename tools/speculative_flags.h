// The speculative-decoding flags shared by the commands that generate text (run, chat, bench):
// --spec, --draft-model and --draft-max, and the drafter they choose.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/drafter.h"
#include "runtime/speculative/speculative_stats.h"
#include "tools/arg_parser.h"

namespace tessera::tools {

enum class SpecMode : uint8_t { None, Draft, Ngram };

// Drafts per pass unless --draft-max says otherwise. N-gram drafts cost nothing to make and are
// only proposed where the sequence repeats itself, so long runs pay; a draft model spends one
// of its own decodes per draft, and its acceptance falls with the position, so fewer.
inline constexpr int64_t kDefaultNgramDraftMax = 8;
inline constexpr int64_t kDefaultModelDraftMax = 5;

struct SpeculativeFlags {
    std::string spec = "none";
    std::string draft_model;
    int64_t draft_max = 0;  // 0: the mode's default

    void add_to(ArgParser& parser);
    // Throws UsageError for an unknown mode, --draft-model without --spec draft or the other way
    // round, or a draft length below 1. `auto` is n-gram lookup.
    SpecMode mode() const;
    size_t draft_length() const;
    // The drafter for the mode (nullptr for none); a draft model is loaded with the target's
    // options and checked against its vocabulary.
    std::unique_ptr<Drafter> make_drafter(const Model& target, const ModelOptions& model_options,
                                          const ContextOptions& context_options) const;
};

// "speculation: 412 drafted, 301 accepted (73.1%), 2.84 tokens per target pass; by position:
// 91% 80% ..." on stderr, prefixed with the command's name.
void print_speculative_stats(const char* command, const SpeculativeStats& stats);

}  // namespace tessera::tools

// Speculative decoding with draft trees (--draft-tree) against plain greedy decoding on the
// synthetic models of tests/fixtures/speculative/: the Medusa heads' top candidates make the
// tree, the target verifies it in one pass, and the greedy output is the plain greedy output
// token for token, for two tree shapes, on every backend built in and every architecture; the
// statistics count acceptance per depth; and a drafter without ranked candidates is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/speculative/draft_tree.h"
#include "runtime/speculative/medusa_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "runtime/speculative/speculative_decoder.h"
#include "tests/speculative_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

constexpr size_t kGenerated = 32;

std::vector<int32_t> prompt_for(uint32_t n_vocab) {
    std::vector<int32_t> prompt;
    for (int32_t t = 0; t < 24; ++t) {
        prompt.push_back((t * 37 + 5 + t / 11) % static_cast<int32_t>(n_vocab));
    }
    return prompt;
}

using Outcome = test::SpeculativeOutcome;

Outcome with_tree(const std::shared_ptr<const Model>& model, const std::vector<int32_t>& prompt,
                  const DraftTreeShape& shape) {
    MedusaDrafter drafter(model, test::small_heads());
    Context context(model, test::small_context(true));
    SpeculativeDecoder decoder(context, drafter, SamplerParams{.temperature = 0.0f}, 2, prompt,
                               shape);
    Outcome outcome;
    while (outcome.tokens.size() < kGenerated) {
        const std::vector<int32_t> tokens = decoder.step();
        outcome.tokens.insert(outcome.tokens.end(), tokens.begin(), tokens.end());
    }
    outcome.tokens.resize(kGenerated);
    outcome.stats = decoder.stats();
    return outcome;
}

TEST(SpeculativeTree, GreedyIsPlainGreedyForTwoShapesOnEveryBackendAndArchitecture) {
    for (const std::string& backend : test::backends_present()) {
        ModelOptions options;
        options.backend = backend;
        for (const std::string arch : test::kSpeculativeArchitectures) {
            const auto model = Model::load(test::speculative_model(arch), options);
            const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
            const std::vector<int32_t> want =
                test::plain_greedy(model, prompt, kGenerated, test::small_context(false));
            for (const std::string widths : {"3,2", "2,3"}) {
                const std::string what = backend + " " + arch + " tree " + widths;
                const DraftTreeShape shape = DraftTreeShape::parse(widths);
                ASSERT_LE(shape.depth(), model->hparams().n_medusa_head) << what;
                const Outcome got = with_tree(model, prompt, shape);
                EXPECT_EQ(got.tokens, want) << what;
                // Every pass after the first token verified a whole tree.
                EXPECT_GT(got.stats.tree_nodes, 0u) << what;
                EXPECT_EQ(got.stats.tree_nodes, got.stats.target_passes * shape.n_nodes()) << what;
                EXPECT_EQ(got.stats.drafted_at.size(), size_t{shape.depth()}) << what;
                EXPECT_EQ(got.stats.drafted, got.stats.target_passes * shape.depth()) << what;
            }
        }
    }
}

TEST(SpeculativeTree, MedusaCandidatesAreRankedAndLedByTheChainDraft) {
    const auto model = Model::load(test::speculative_model("qwen2"));
    const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
    Context context(model, test::small_context(true));
    context.decode(prompt);
    MedusaDrafter drafter(model, test::small_heads());
    drafter.after_target_pass(context);
    std::vector<int32_t> history = prompt;
    history.push_back(0);  // the token sampled after the prompt
    const std::vector<int32_t> chain = drafter.draft(history, 2);
    const std::vector<uint32_t> widths = {4, 3};
    const std::vector<std::vector<int32_t>> ranked = drafter.candidates(history, widths);
    ASSERT_EQ(chain.size(), 2u);
    ASSERT_EQ(ranked.size(), 2u);
    for (size_t head = 0; head < ranked.size(); ++head) {
        ASSERT_EQ(ranked[head].size(), size_t{widths[head]}) << head;
        EXPECT_EQ(ranked[head][0], chain[head]) << head;
        std::vector<int32_t> distinct = ranked[head];
        std::sort(distinct.begin(), distinct.end());
        EXPECT_EQ(std::adjacent_find(distinct.begin(), distinct.end()), distinct.end()) << head;
    }
    const std::vector<uint32_t> too_deep(model->hparams().n_medusa_head + 1, 1);
    EXPECT_THROW(drafter.candidates(history, too_deep), Error);
}

TEST(SpeculativeTree, ADrafterWithoutCandidatesIsRefused) {
    const auto model = Model::load(test::speculative_model("qwen2"));
    NgramDrafter drafter;
    Context context(model, test::small_context(false));
    const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
    try {
        SpeculativeDecoder decoder(context, drafter, SamplerParams{.temperature = 0.0f}, 2, prompt,
                                   DraftTreeShape::parse("3,2"));
        FAIL() << "a tree with the n-gram drafter was accepted";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("candidates"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace tessera

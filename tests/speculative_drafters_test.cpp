// Every drafter against plain greedy decoding on the synthetic models of
// tests/fixtures/speculative/ (every supported architecture, with a next-n block and Medusa
// heads): greedy speculative output is the plain greedy output token for token, with the n-gram,
// draft-model, next-n (mtp) and Medusa drafters, on every backend built in; sampling runs with
// the head drafters; and asking a file for heads it lacks fails naming the file and the key.
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
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/speculative/medusa_drafter.h"
#include "runtime/speculative/next_n_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "runtime/speculative/speculative_decoder.h"
#include "tests/speculative_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

constexpr size_t kGenerated = 40;

// A prompt long enough to take two prompt passes of a drafter that reads every hidden state
// (64 rows each), repeating itself so that prompt lookup finds matches.
std::vector<int32_t> prompt_for(uint32_t n_vocab) {
    std::vector<int32_t> prompt;
    for (int repeat = 0; repeat < 7; ++repeat) {
        for (int32_t t = 0; t < 11; ++t) {
            prompt.push_back((t * 37 + 5 + repeat / 3) % static_cast<int32_t>(n_vocab));
        }
    }
    return prompt;
}

using Outcome = test::SpeculativeOutcome;

Outcome speculative(const std::shared_ptr<const Model>& model, Drafter& drafter,
                    const std::vector<int32_t>& prompt, const SamplerParams& sampling,
                    size_t draft_max) {
    Context context(model, test::small_context(drafter.reads_hidden_states()));
    SpeculativeDecoder decoder(context, drafter, sampling, draft_max, prompt);
    Outcome outcome;
    while (outcome.tokens.size() < kGenerated) {
        const std::vector<int32_t> tokens = decoder.step();
        outcome.tokens.insert(outcome.tokens.end(), tokens.begin(), tokens.end());
    }
    outcome.tokens.resize(kGenerated);
    outcome.stats = decoder.stats();
    return outcome;
}

std::unique_ptr<Drafter> make(const std::string& kind, const std::shared_ptr<const Model>& model) {
    if (kind == "ngram") return std::make_unique<NgramDrafter>();
    if (kind == "mtp") return std::make_unique<NextNDrafter>(model, test::small_heads());
    return std::make_unique<MedusaDrafter>(model, test::small_heads());
}

TEST(SpeculativeDrafters, GreedyIsPlainGreedyForEveryDrafterBackendAndArchitecture) {
    for (const std::string& backend : test::backends_present()) {
        ModelOptions options;
        options.backend = backend;
        for (const std::string arch : test::kSpeculativeArchitectures) {
            const auto model = Model::load(test::speculative_model(arch), options);
            const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
            const std::vector<int32_t> want =
                test::plain_greedy(model, prompt, kGenerated, test::small_context(false));
            for (const std::string kind : {"ngram", "mtp", "medusa"}) {
                const std::string what = backend + " " + arch + " " + kind;
                const std::unique_ptr<Drafter> drafter = make(kind, model);
                const Outcome got =
                    speculative(model, *drafter, prompt, SamplerParams{.temperature = 0.0f}, 4);
                EXPECT_EQ(got.tokens, want) << what;
                EXPECT_GT(got.stats.drafted, 0u) << what << ": nothing was drafted";
            }
        }
    }
}

// The synthetic models carry no vocabulary, which the draft-model drafter's check needs: the
// tiny fixtures do. Each drafts for itself, in its own context that follows the target's
// sequence through every verification; where batch and single-token rounding differ, it is
// rejected like any draft.
TEST(SpeculativeDrafters, DraftModelGreedyIsPlainGreedyOnEveryBackendAndArchitecture) {
    for (const std::string& backend : test::backends_present()) {
        ModelOptions options;
        options.backend = backend;
        for (const std::string arch : test::kSpeculativeArchitectures) {
            const auto model =
                Model::load(test::source_dir() + "/tests/fixtures/tiny/" + arch + ".gguf", options);
            const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
            DraftModelDrafter drafter(*model, model, test::small_context(false));
            const Outcome got =
                speculative(model, drafter, prompt, SamplerParams{.temperature = 0.0f}, 4);
            const std::string what = backend + " " + arch;
            EXPECT_EQ(got.tokens,
                      test::plain_greedy(model, prompt, kGenerated, test::small_context(false)))
                << what;
            EXPECT_GT(got.stats.accepted, 0u) << what;
        }
    }
}

TEST(SpeculativeDrafters, SamplingRunsWithTheHeadDrafters) {
    const auto model = Model::load(test::speculative_model("llama"));
    const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
    SamplerParams sampling;
    sampling.temperature = 0.8f;
    sampling.top_k = 40;
    sampling.seed = 7;
    for (const std::string kind : {"mtp", "medusa"}) {
        const std::unique_ptr<Drafter> drafter = make(kind, model);
        const Outcome first = speculative(model, *drafter, prompt, sampling, 3);
        ASSERT_EQ(first.tokens.size(), kGenerated) << kind;
        for (const int32_t token : first.tokens) {
            EXPECT_GE(token, 0) << kind;
            EXPECT_LT(static_cast<uint32_t>(token), model->hparams().n_vocab) << kind;
        }
        EXPECT_GT(first.stats.drafted, 0u) << kind;
        // The same seed gives the same tokens.
        const std::unique_ptr<Drafter> again = make(kind, model);
        EXPECT_EQ(speculative(model, *again, prompt, sampling, 3).tokens, first.tokens) << kind;
    }
}

// Typical acceptance is opt-in and trades exactness for acceptance: the random heads' drafts,
// which exact verification rejects about as often as chance says, mostly pass its threshold on
// the near-uniform distributions of a random model.
TEST(SpeculativeDrafters, TypicalAcceptanceAcceptsMoreThanExact) {
    const auto model = Model::load(test::speculative_model("llama"));
    const std::vector<int32_t> prompt = prompt_for(model->hparams().n_vocab);
    SamplerParams sampling;
    sampling.temperature = 0.8f;
    sampling.top_k = 0;
    sampling.top_p = 1.0f;
    sampling.min_p = 0.0f;
    sampling.seed = 11;
    SpeculativeStats stats[2];
    for (const backend::Acceptance acceptance :
         {backend::Acceptance::Exact, backend::Acceptance::Typical}) {
        MedusaDrafter drafter(model, test::small_heads());
        Context context(model, test::small_context(true));
        SpeculativeDecoder decoder(context, drafter, sampling, 2, prompt, std::nullopt, acceptance);
        size_t produced = 0;
        while (produced < kGenerated) produced += decoder.step().size();
        stats[acceptance == backend::Acceptance::Typical] = decoder.stats();
    }
    EXPECT_GT(stats[1].accepted, stats[0].accepted)
        << "exact " << stats[0].accepted << " of " << stats[0].drafted << ", typical "
        << stats[1].accepted << " of " << stats[1].drafted;
}

TEST(SpeculativeDrafters, HeadDraftersNeedTheTargetsHiddenStates) {
    const auto model = Model::load(test::speculative_model("qwen2"));
    MedusaDrafter drafter(model, test::small_heads());
    Context context(model, test::small_context(false));
    const std::vector<int32_t> prompt = {1, 2, 3};
    try {
        SpeculativeDecoder decoder(context, drafter, SamplerParams{.temperature = 0.0f}, 2, prompt);
        FAIL() << "a target without hidden states was accepted";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("keep_hidden_states"), std::string::npos)
            << error.what();
    }
}

TEST(SpeculativeDrafters, MissingHeadsAreNamedWithTheFileAndKey) {
    const std::string plain = test::source_dir() + "/tests/fixtures/tiny/llama.gguf";
    const auto model = Model::load(plain);
    try {
        NextNDrafter drafter(model, test::small_heads());
        FAIL() << "a file without next-n layers was accepted";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("llama.gguf"), std::string::npos) << message;
        EXPECT_NE(message.find("llama.nextn_predict_layers"), std::string::npos) << message;
    }
    try {
        MedusaDrafter drafter(model, test::small_heads());
        FAIL() << "a file without Medusa heads was accepted";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("llama.gguf"), std::string::npos) << message;
        EXPECT_NE(message.find("medusa.head_count"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace tessera

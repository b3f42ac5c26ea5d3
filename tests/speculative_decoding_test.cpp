// Speculative decoding end to end: Context::verify's rollback leaves the cache as if the rejected
// drafts had never been decoded; greedy speculative output is the plain greedy output token for
// token, with the n-gram and the draft-model drafters, on every backend built in, on a tiny
// fixture model and on the real default model; and the drafters and the vocabulary check behave.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "runtime/speculative/speculative_decoder.h"
#include "tests/speculative_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

const ContextOptions kContextOptions{.n_ctx = 512, .n_batch = 64, .n_threads = 2};

std::string tiny_model(const std::string& arch) {
    return test::source_dir() + "/tests/fixtures/tiny/" + arch + ".gguf";
}

SamplerParams greedy() {
    SamplerParams params;
    params.temperature = 0.0f;
    return params;
}

std::vector<int32_t> speculative_greedy(const std::shared_ptr<const Model>& model, Drafter& drafter,
                                        const std::vector<int32_t>& prompt, size_t n,
                                        size_t draft_max, SpeculativeStats* stats) {
    Context context(model, kContextOptions);
    SpeculativeDecoder decoder(context, drafter, greedy(), draft_max, prompt);
    std::vector<int32_t> out;
    while (out.size() < n) {
        const std::vector<int32_t> tokens = decoder.step();
        out.insert(out.end(), tokens.begin(), tokens.end());
    }
    out.resize(n);
    if (stats != nullptr) *stats = decoder.stats();
    return out;
}

// A prompt that repeats itself, so that prompt lookup finds matches.
std::vector<int32_t> repetitive_prompt(uint32_t n_vocab) {
    std::vector<int32_t> prompt;
    for (int repeat = 0; repeat < 3; ++repeat) {
        for (int32_t t = 0; t < 12; ++t)
            prompt.push_back((t * 37 + 5) % static_cast<int32_t>(n_vocab));
    }
    return prompt;
}

TEST(NgramDrafter, ProposesWhatFollowedTheLatestLongestMatch) {
    NgramDrafter drafter;
    // "1 2 3" occurred twice before; the later occurrence is followed by 7 8.
    const std::vector<int32_t> history = {1, 2, 3, 4, 5, 1, 2, 3, 7, 8, 9, 1, 2, 3};
    EXPECT_EQ(drafter.draft(history, 2), (std::vector<int32_t>{7, 8}));
    EXPECT_EQ(drafter.draft(history, 10), (std::vector<int32_t>{7, 8, 9, 1, 2, 3}));
    // Only the last token matches (9 ... 9): the 1-gram continuation.
    EXPECT_EQ(drafter.draft(std::vector<int32_t>{9, 4, 6, 9}, 3), (std::vector<int32_t>{4, 6, 9}));
    EXPECT_TRUE(drafter.draft(std::vector<int32_t>{1, 2, 3}, 4).empty());
    EXPECT_TRUE(drafter.draft(history, 0).empty());
    EXPECT_THROW(NgramDrafter(NgramOptions{.max_ngram = 2, .min_ngram = 3}), Error);
}

TEST(SpeculativeDecoding, VerifyRollsBackRejectedDraftsExactly) {
    const auto model = Model::load(tiny_model("llama"));
    const ContextOptions options{.n_ctx = 128, .n_batch = 32, .n_threads = 2};
    const std::vector<int32_t> prompt = repetitive_prompt(model->hparams().n_vocab);
    const int32_t n_vocab = static_cast<int32_t>(model->hparams().n_vocab);

    // The greedy continuation, to make drafts of which exactly the first two are right.
    const std::vector<int32_t> truth = test::plain_greedy(model, prompt, 4, kContextOptions);
    const int32_t last = truth[0];
    const std::vector<int32_t> drafts = {truth[1], truth[2], (truth[3] + 1) % n_vocab, 3, 4};

    Context speculative(model, options);
    speculative.decode(prompt);
    const Verdict verdict = speculative.verify(last, drafts, backend::VerifyParams{}, 0);
    EXPECT_EQ(verdict.n_accepted, 2);
    EXPECT_EQ(verdict.next_token, truth[3]);
    EXPECT_EQ(speculative.position(), prompt.size() + 3);

    // The same tokens decoded by a context that never saw the rejected drafts, in the same batch
    // shapes: the next logits agree bit for bit.
    Context plain(model, options);
    plain.decode(prompt);
    std::vector<int32_t> kept = {last, truth[1], truth[2], drafts[2], 3, 4};
    plain.decode(kept, Logits::All);
    plain.truncate(static_cast<uint32_t>(prompt.size() + 3));
    const std::span<const float> want = plain.decode({&verdict.next_token, 1});
    const std::vector<float> want_copy(want.begin(), want.end());
    const std::span<const float> got = speculative.decode({&verdict.next_token, 1});
    ASSERT_EQ(got.size(), want_copy.size());
    EXPECT_EQ(std::memcmp(got.data(), want_copy.data(), got.size() * sizeof(float)), 0);

    // And a context that decoded only the accepted tokens gives the same greedy token.
    Context fresh(model, options);
    fresh.decode(prompt);
    const std::vector<int32_t> accepted = {last, truth[1], truth[2], truth[3]};
    EXPECT_EQ(test::argmax(fresh.decode(accepted)), test::argmax(want_copy));
}

TEST(SpeculativeDecoding, VerifyChecksItsArguments) {
    const auto model = Model::load(tiny_model("llama"));
    Context context(model, ContextOptions{.n_ctx = 16, .n_batch = 4, .n_threads = 1});
    context.decode(std::vector<int32_t>{1, 2});
    const backend::VerifyParams params;
    EXPECT_THROW(context.verify(1, {}, params, 0), Error);
    EXPECT_THROW(context.verify(1, std::vector<int32_t>{1, 2, 3, 4}, params, 0),
                 Error);  // > n_batch
    EXPECT_THROW(context.verify(1, std::vector<int32_t>{-1}, params, 0), Error);
    EXPECT_THROW(context.verify(1, std::vector<int32_t>{1}, params, 0, std::vector<float>(3)),
                 Error);
    EXPECT_EQ(context.position(), 2u);
}

TEST(SpeculativeDecoding, GreedyNgramIsPlainGreedyOnEveryBackend) {
    for (const std::string& backend : test::backends_present()) {
        for (const std::string arch : {"llama", "gemma3"}) {
            ModelOptions model_options;
            model_options.backend = backend;
            const auto model = Model::load(tiny_model(arch), model_options);
            const std::vector<int32_t> prompt = repetitive_prompt(model->hparams().n_vocab);
            const std::vector<int32_t> want =
                test::plain_greedy(model, prompt, 48, kContextOptions);
            NgramDrafter drafter;
            SpeculativeStats stats;
            const std::vector<int32_t> got =
                speculative_greedy(model, drafter, prompt, 48, 6, &stats);
            EXPECT_EQ(got, want) << backend << " " << arch;
            EXPECT_GT(stats.drafted, 0u) << backend << " " << arch << ": nothing was drafted";
        }
    }
}

TEST(SpeculativeDecoding, SampledSpeculationRunsAndPenaltiesAreRefused) {
    const auto model = Model::load(tiny_model("llama"));
    Context context(model, ContextOptions{.n_ctx = 256, .n_batch = 16, .n_threads = 2});
    NgramDrafter drafter;
    SamplerParams sampling;  // llama.cpp's defaults: temperature 0.8, top-k 40, ...
    sampling.seed = 5;
    SpeculativeDecoder decoder(context, drafter, sampling, 4,
                               repetitive_prompt(model->hparams().n_vocab));
    size_t produced = 0;
    while (produced < 40) {
        for (const int32_t token : decoder.step()) {
            EXPECT_GE(token, 0);
            EXPECT_LT(token, static_cast<int32_t>(model->hparams().n_vocab));
            ++produced;
        }
    }
    EXPECT_EQ(decoder.stats().generated + 1, produced);

    Context other(model, ContextOptions{.n_ctx = 64, .n_batch = 16, .n_threads = 1});
    sampling.repeat_penalty = 1.1f;
    const std::vector<int32_t> prompt = {1, 2, 3};
    try {
        SpeculativeDecoder refused(other, drafter, sampling, 4, prompt);
        FAIL() << "penalties were accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("penalties"), std::string::npos) << e.what();
    }
}

class SpeculativeGemma : public ::testing::Test {
  protected:
    void SetUp() override {
#if defined(__SANITIZE_ADDRESS__)
        GTEST_SKIP() << "runs in the release suite: the whole model under AddressSanitizer would "
                        "take minutes; the tiny models cover the same code";
#endif
        found_ = find_default_model();
        if (!found_) {
            GTEST_SKIP() << "the default model (" << kDefaultModelFile << ") is not in "
                         << default_model_dir() << "; run scripts/fetch_model.py to test it";
        }
        model_ = Model::load(*found_);
    }
    std::vector<int32_t> code_prompt() const {
        return model_->tokenizer()->encode(
            "Repeat this code exactly:\nint add(int a, int b) {\n    return a + b;\n}\n"
            "int sub(int a, int b) {\n    return a - b;\n}\nRepeated:\n",
            {.add_special = true});
    }
    std::optional<std::string> found_;
    std::shared_ptr<const Model> model_;
};

TEST_F(SpeculativeGemma, GreedyNgramAndDraftModelArePlainGreedy) {
    const std::vector<int32_t> prompt = code_prompt();
    const std::vector<int32_t> want = test::plain_greedy(model_, prompt, 32, kContextOptions);
    NgramDrafter ngram;
    SpeculativeStats stats;
    EXPECT_EQ(speculative_greedy(model_, ngram, prompt, 32, 8, &stats), want);
    std::printf("[ stats ] ngram: %.2f tokens per pass, %.0f%% accepted\n", stats.tokens_per_pass(),
                100.0 * stats.acceptance_rate());
    EXPECT_GT(stats.tokens_per_pass(), 1.0);

    // The same file as its own draft model: its greedy drafts are the target's, all accepted
    // unless batch and single-token logits part at a near-tie.
    DraftModelDrafter draft(*model_, Model::load(*found_),
                            ContextOptions{.n_ctx = 512, .n_batch = 64, .n_threads = 2});
    EXPECT_EQ(speculative_greedy(model_, draft, prompt, 32, 5, &stats), want);
    std::printf("[ stats ] draft model: %.2f tokens per pass, %.0f%% accepted\n",
                stats.tokens_per_pass(), 100.0 * stats.acceptance_rate());
    EXPECT_GT(stats.acceptance_rate(), 0.8);
}

TEST_F(SpeculativeGemma, DraftModelWithAnotherVocabularyIsRefusedByName) {
    const auto tiny = Model::load(tiny_model("llama"));
    try {
        DraftModelDrafter drafter(*model_, tiny, ContextOptions{.n_ctx = 64});
        FAIL() << "an incompatible draft model was accepted";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("incompatible vocabularies"), std::string::npos) << message;
        EXPECT_NE(message.find("llama.gguf"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace tessera

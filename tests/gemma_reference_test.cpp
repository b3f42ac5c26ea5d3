// The real default model, Gemma 3 270M Q4_K_M, against llama.cpp on the same file: greedy
// continuations of six prompts (one of 628 tokens, past the 512-token sliding window) and the
// chunked perplexity of a fixed text. The reference data, and how llama.cpp made it, are in
// tests/fixtures/gemma3-270m/ (README.md there).
//
// The margin. llama.cpp disagrees with itself by 0.5 to 1.5 in a logit between its own
// configurations (flash attention on or off, F16 or F32 cache), and its greedy runs split where
// the top two logits are under 0.4 apart. Quantized activations make every implementation's
// logits noisy at that scale, so a position whose reference top-two gap is below kNearTie is a
// near-tie: there either token is right, and after it the two continuations may part. Before the
// first near-tie every token must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

constexpr double kNearTie = 0.5;               // logits; see above
constexpr double kPerplexityTolerance = 0.01;  // the bar: within 1% of the reference

nlohmann::json fixture(const std::string& name) {
    std::ifstream in(test::source_dir() + "/tests/fixtures/gemma3-270m/" + name);
    return nlohmann::json::parse(in);
}

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

class GemmaReference : public ::testing::Test {
  protected:
    void SetUp() override {
#if defined(__SANITIZE_ADDRESS__)
        GTEST_SKIP() << "runs in the release suite: a whole model under AddressSanitizer would "
                        "take minutes, and the sanitizer suite covers the same code on tiny models";
#endif
        const std::optional<std::string> found = find_default_model();
        if (!found) {
            GTEST_SKIP() << "the default model (" << kDefaultModelFile << ") is not in "
                         << default_model_dir() << "; run scripts/fetch_model.py to test it";
        }
        model_ = Model::load(*found);
    }
    std::shared_ptr<const Model> model_;
};

TEST_F(GemmaReference, GreedyContinuationsAgreeWithLlamaCpp) {
    const nlohmann::json reference = fixture("greedy.json");
    ContextOptions options;
    options.n_ctx = 1024;
    Context context(model_, options);
    int prompts_fully_agreeing = 0;
    for (const auto& prompt : reference["prompts"]) {
        const std::string name = prompt["name"];
        const auto prompt_tokens = prompt["prompt_tokens"].get<std::vector<int32_t>>();
        const auto expected = prompt["greedy"]["tokens"].get<std::vector<int32_t>>();
        const auto& top = prompt["greedy"]["top"];
        context.reset();
        int32_t next = argmax(context.decode(prompt_tokens));
        size_t agreed = 0;
        for (size_t i = 0; i < expected.size(); ++i) {
            const double gap = top[i][0][1].get<double>() - top[i][1][1].get<double>();
            if (next != expected[i]) {
                EXPECT_LT(gap, kNearTie)
                    << name << ": token " << i << " is " << next << ", llama.cpp's is "
                    << expected[i] << " with a clear lead of " << gap << " over its second";
                break;
            }
            ++agreed;
            if (i + 1 < expected.size()) next = argmax(context.decode(std::span(&next, 1)));
        }
        prompts_fully_agreeing += agreed == expected.size() ? 1 : 0;
        std::printf("%s: %zu of %zu greedy tokens agree with llama.cpp\n", name.c_str(), agreed,
                    expected.size());
    }
    // Measured: fibonacci, the 628-token lighthouse prompt and counting agree on all 48 tokens;
    // the other three part at near-ties of 0.04 to 0.10. Half agreeing in full guards against a
    // change that makes every prompt part at its first near-tie.
    EXPECT_GE(prompts_fully_agreeing, 3);
}

TEST_F(GemmaReference, TextsTokenizeAsLlamaCppTokenizedThem) {
    // The greedy prompts and the whole perplexity text (4158 tokens), BOS added as
    // llama-completion and llama-perplexity add it.
    const Tokenizer& tokenizer = *model_->tokenizer();
    for (const auto& prompt : fixture("greedy.json")["prompts"]) {
        EXPECT_EQ(tokenizer.encode(prompt["text"].get<std::string>()),
                  prompt["prompt_tokens"].get<std::vector<int32_t>>())
            << prompt["name"];
    }
    std::ifstream in(test::source_dir() + "/tests/fixtures/gemma3-270m/perplexity.txt",
                     std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(tokenizer.encode(text),
              fixture("perplexity.json")["tokens"].get<std::vector<int32_t>>());
}

TEST_F(GemmaReference, PerplexityWithinOnePercentOfLlamaCpp) {
    const nlohmann::json reference = fixture("perplexity.json");
    const auto tokens = reference["tokens"].get<std::vector<int32_t>>();
    const int n_ctx = reference["n_ctx"];
    // Two chunks keep the test short; llama.cpp's running value after two chunks is the
    // reference.
    const int n_chunks = 2;
    const double expected =
        reference["configs"]["default"]["chunks"][n_chunks - 1]["cumulative_ppl"];
    ContextOptions options;
    options.n_ctx = static_cast<uint32_t>(n_ctx);
    options.n_batch = static_cast<uint32_t>(n_ctx);
    Context context(model_, options);
    const int32_t bos =
        static_cast<int32_t>(model_->file().get_uint("tokenizer.ggml.bos_token_id"));
    double nll = 0.0;
    int scored = 0;
    for (int chunk = 0; chunk < n_chunks; ++chunk) {
        std::vector<int32_t> batch(tokens.begin() + chunk * n_ctx,
                                   tokens.begin() + (chunk + 1) * n_ctx);
        batch[0] = bos;  // as llama-perplexity does
        context.reset();
        const auto logits = context.decode(batch, Logits::All);
        const size_t n_vocab = context.n_vocab();
        // Positions n_ctx/2 .. n_ctx-2 predict the next token.
        for (int pos = n_ctx / 2; pos < n_ctx - 1; ++pos) {
            const auto row = logits.subspan(static_cast<size_t>(pos) * n_vocab, n_vocab);
            const float max = *std::max_element(row.begin(), row.end());
            double sum = 0.0;
            for (float v : row) sum += std::exp(static_cast<double>(v) - max);
            const int32_t target = tokens[static_cast<size_t>(chunk * n_ctx + pos + 1)];
            nll -= static_cast<double>(row[static_cast<size_t>(target)]) - max - std::log(sum);
            ++scored;
        }
    }
    const double perplexity = std::exp(nll / scored);
    std::printf("perplexity over %d chunks: %.4f (llama.cpp %.4f)\n", n_chunks, perplexity,
                expected);
    EXPECT_NEAR(perplexity, expected, kPerplexityTolerance * expected);
}

}  // namespace
}  // namespace tessera

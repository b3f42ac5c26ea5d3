// Chat on the real default model against llama.cpp: the fallback template renders the prompt
// llama.cpp was given, the tokenizer turns it into llama.cpp's tokens, and the greedy reply
// matches llama.cpp's greedy continuation up to the first stop string, in the terms of the
// runtime's reference test: exactly, unless llama.cpp's own top-two logits come within 0.5 of
// each other, from where on either choice is right.
//
// Also the session's bookkeeping on the same model: prefix reuse, turns dropped when the context
// fills, interruption, and state after an error; and speculative replies (n-gram drafts, and
// the model as its own draft model) equal to plain ones through all of these.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "formats/error.h"
#include "runtime/chat_session.h"
#include "runtime/chat_template.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/speculative/ngram_drafter.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

constexpr float kNearTie = 0.5f;  // the runtime reference test's margin, in logits

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

ChatOptions greedy_options(int32_t max_reply_tokens) {
    ChatOptions options;
    options.sampling.temperature = 0.0f;
    options.max_reply_tokens = max_reply_tokens;
    return options;
}

ContextOptions small_context(uint32_t n_ctx) {
    ContextOptions options;
    options.n_ctx = n_ctx;
    options.n_threads = 2;
    return options;
}

class GemmaChat : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto path = find_default_model();
        if (!path) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
#if defined(__SANITIZE_ADDRESS__)
        GTEST_SKIP() << "whole-model runs are too slow under AddressSanitizer; the release "
                        "suite runs them";
#endif
        model_ = Model::load(*path);
        fixture_ = read_json(test::source_dir() + "/tests/fixtures/gemma3-270m/chat.json");
    }
    std::shared_ptr<const Model> model_;
    nlohmann::json fixture_;
};

TEST_F(GemmaChat, FallbackTemplateRendersAndTokenizesAsLlamaCpp) {
    const ChatTemplate chat_template = ChatTemplate::for_model(model_->file());
    ASSERT_TRUE(chat_template.is_fallback());
    const Tokenizer& tokenizer = *model_->tokenizer();
    for (const auto& c : fixture_["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        ChatTemplateInputs inputs;
        if (!c["system"].get<std::string>().empty()) {
            inputs.messages.push_back({"system", c["system"]});
        }
        for (const auto& m : c["messages"]) inputs.messages.push_back({m["role"], m["content"]});
        const std::string prompt = chat_template.render(inputs);
        EXPECT_EQ(prompt, c["prompt"].get<std::string>());
        EXPECT_EQ(tokenizer.encode(prompt, {.add_special = true, .parse_special = true}),
                  c["prompt_tokens"].get<std::vector<int32_t>>());
    }
}

TEST_F(GemmaChat, GreedyRepliesMatchLlamaCppUpToNearTies) {
    const Tokenizer& tokenizer = *model_->tokenizer();
    const ChatTemplate reference_template = ChatTemplate::for_model(model_->file());
    for (const auto& c : fixture_["cases"]) {
        const std::string name = c["name"];
        SCOPED_TRACE(name);
        const auto tokens = c["tokens"].get<std::vector<int32_t>>();
        const auto gaps = c["top2_gap"].get<std::vector<float>>();

        // llama.cpp's reply: its tokens up to the first stop string, whitespace around it
        // dropped as ChatSession drops it. `token_end[i]` is where token i's text ends in it.
        std::string reply;
        std::vector<size_t> token_end;
        for (int32_t token : tokens) {
            reply += tokenizer.token_to_piece(token);
            token_end.push_back(reply.size());
        }
        size_t cut = std::string::npos;
        for (const std::string& stop : reference_template.stop_strings()) {
            cut = std::min(cut, reply.find(stop));
        }
        ASSERT_NE(cut, std::string::npos) << "llama.cpp's reply never ends its turn: " << reply;
        const size_t begin = reply.find_first_not_of(" \t\r\n");
        const size_t last = reply.find_last_not_of(" \t\r\n", cut - 1);
        ASSERT_TRUE(begin != std::string::npos && last != std::string::npos && begin <= last);
        const std::string expected = reply.substr(begin, last + 1 - begin);

        std::vector<ChatMessage> messages;
        for (const auto& m : c["messages"]) messages.push_back({m["role"], m["content"]});
        const ChatMessage question = messages.back();
        messages.pop_back();
        ChatOptions options = greedy_options(static_cast<int32_t>(tokens.size()));
        options.system_prompt = c["system"];
        ChatSession session(model_, tokenizer, ChatTemplate::for_model(model_->file()),
                            small_context(512), options);
        session.set_turns(messages);
        std::string streamed;
        const ReplyStats stats =
            session.reply(question.content, [&](std::string_view text) { streamed += text; });
        EXPECT_EQ(stats.end, ReplyEnd::EndOfTurn);
        EXPECT_EQ(stats.prompt_tokens, c["prompt_tokens"].size());
        ASSERT_EQ(session.turns().back().role, "assistant");
        EXPECT_EQ(session.turns().back().content, streamed);
        // The replies agree, or they part at a token where llama.cpp's own top two were within
        // the margin (then either choice is right).
        if (streamed == expected) continue;
        const size_t common = static_cast<size_t>(
            std::mismatch(streamed.begin(), streamed.end(), expected.begin(), expected.end())
                .first -
            streamed.begin());
        const size_t parted_at = begin + common;
        const size_t token = static_cast<size_t>(
            std::upper_bound(token_end.begin(), token_end.end(), parted_at) - token_end.begin());
        ASSERT_LT(token, tokens.size());
        EXPECT_LT(gaps[token], kNearTie)
            << "tessera: " << streamed << "\nllama.cpp: " << expected << "\nparted at token "
            << token << " whose top-two gap is " << gaps[token];
    }
}

TEST_F(GemmaChat, LaterTurnsReuseTheCachedPrefix) {
    ChatSession session(model_, *model_->tokenizer(), ChatTemplate::for_model(model_->file()),
                        small_context(512), greedy_options(16));
    const auto ignore = [](std::string_view) {};
    const ReplyStats first = session.reply("What is the capital of France?", ignore);
    EXPECT_EQ(first.reused_tokens, 0u);
    const ReplyStats second = session.reply("And of Germany?", ignore);
    // Everything up to the end of the first reply is still in the context.
    EXPECT_GT(second.reused_tokens, first.prompt_tokens);
    EXPECT_LT(second.prompt_tokens - second.reused_tokens, 20u);
}

TEST_F(GemmaChat, FullContextDropsOldestTurnsAndKeepsTheSystemPrompt) {
    ChatOptions options = greedy_options(8);
    options.system_prompt = "You are terse.";
    ChatSession session(model_, *model_->tokenizer(), ChatTemplate::for_model(model_->file()),
                        small_context(96), options);
    const auto ignore = [](std::string_view) {};
    uint32_t dropped = 0;
    for (int turn = 0; turn < 8; ++turn) {
        const ReplyStats stats = session.reply(
            "Tell me one fact about the number " + std::to_string(turn) + ".", ignore);
        dropped += stats.dropped_turns;
        EXPECT_LE(session.n_cached(), session.n_ctx());
    }
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(session.system_prompt(), "You are terse.");
    EXPECT_EQ(session.turns().front().role, "user");
    EXPECT_EQ(session.turns().back().role, "assistant");

    // A message that cannot fit at all is an error, and the conversation stays as it was.
    const std::vector<ChatMessage> before = session.turns();
    std::string huge;
    for (int i = 0; i < 200; ++i) huge += "word ";
    EXPECT_THROW(session.reply(huge, ignore), Error);
    ASSERT_EQ(session.turns().size(), before.size());
    // And the session still answers.
    EXPECT_NO_THROW(session.reply("Hello.", ignore));
}

TEST_F(GemmaChat, InterruptionKeepsThePartialReply) {
    ChatSession session(model_, *model_->tokenizer(), ChatTemplate::for_model(model_->file()),
                        small_context(512), greedy_options(-1));
    int asked = 0;
    std::string streamed;
    const ReplyStats stats = session.reply(
        "Count from 1 to 100.", [&](std::string_view text) { streamed += text; },
        [&] { return ++asked > 5; });
    EXPECT_EQ(stats.end, ReplyEnd::Interrupted);
    EXPECT_EQ(stats.generated_tokens, 5u);
    EXPECT_EQ(session.turns().back().content, streamed);
}

// What a conversation gave: each reply's text and stats.
struct Transcript {
    std::vector<std::string> replies;
    std::vector<ReplyStats> stats;
};

// Plays `messages` to a greedy session of n_ctx positions, with `drafter` when given; the
// reply at index `interrupted_reply` is interrupted after 5 tokens.
Transcript converse(const std::shared_ptr<const Model>& model, std::unique_ptr<Drafter> drafter,
                    uint32_t n_ctx, const std::vector<std::string>& messages,
                    size_t interrupted_reply) {
    ChatSession session(model, *model->tokenizer(), ChatTemplate::for_model(model->file()),
                        small_context(n_ctx), greedy_options(40));
    if (drafter) session.speculate(std::move(drafter), 6);
    Transcript transcript;
    for (size_t i = 0; i < messages.size(); ++i) {
        int asked = 0;
        std::string text;
        transcript.stats.push_back(session.reply(
            messages[i], [&](std::string_view piece) { text += piece; },
            [&] { return i == interrupted_reply && ++asked > 5; }));
        EXPECT_EQ(text, session.turns().back().content);
        EXPECT_LE(session.n_cached(), session.n_ctx());
        transcript.replies.push_back(text);
    }
    return transcript;
}

TEST_F(GemmaChat, SpeculativeRepliesEqualPlainRepliesThroughReuseDropsAndInterruption) {
    const std::vector<std::string> messages = {
        "Repeat exactly: for i in range(10): print(i * i)",
        "Say it again, word for word.",
        "Count from 1 to 50.",
        "Repeat your first answer.",
        "Now write it with j instead of i.",
    };
    // 128 positions: the later messages drop the oldest turns.
    constexpr uint32_t kPositions = 128;
    constexpr size_t kInterrupted = 2;
    const Transcript plain = converse(model_, nullptr, kPositions, messages, kInterrupted);
    EXPECT_EQ(plain.stats[kInterrupted].end, ReplyEnd::Interrupted);
    uint32_t dropped = 0;
    for (const ReplyStats& stats : plain.stats) dropped += stats.dropped_turns;
    EXPECT_GT(dropped, 0u) << "the conversation should outgrow the context";

    ContextOptions draft_options = small_context(kPositions);
    std::vector<std::pair<std::string, std::unique_ptr<Drafter>>> drafters;
    drafters.emplace_back("ngram", std::make_unique<NgramDrafter>());
    drafters.emplace_back("draft model",
                          std::make_unique<DraftModelDrafter>(*model_, model_, draft_options));
    for (auto& [name, drafter] : drafters) {
        SCOPED_TRACE(name);
        const Transcript speculative =
            converse(model_, std::move(drafter), kPositions, messages, kInterrupted);
        EXPECT_EQ(speculative.replies, plain.replies);
        uint64_t accepted = 0;
        for (size_t i = 0; i < messages.size(); ++i) {
            EXPECT_EQ(speculative.stats[i].generated_tokens, plain.stats[i].generated_tokens);
            EXPECT_EQ(speculative.stats[i].end, plain.stats[i].end);
            EXPECT_EQ(speculative.stats[i].dropped_turns, plain.stats[i].dropped_turns);
            accepted += speculative.stats[i].speculation.accepted;
        }
        EXPECT_GT(accepted, 0u) << "no draft was ever accepted";
    }
}

TEST_F(GemmaChat, SpeculationRefusesPenalties) {
    ChatOptions options = greedy_options(8);
    options.sampling.repeat_penalty = 1.3f;
    options.sampling.penalty_last_n = 64;
    ChatSession session(model_, *model_->tokenizer(), ChatTemplate::for_model(model_->file()),
                        small_context(128), options);
    EXPECT_THROW(session.speculate(std::make_unique<NgramDrafter>(), 4), Error);
    EXPECT_FALSE(session.speculates());
}

}  // namespace
}  // namespace tessera

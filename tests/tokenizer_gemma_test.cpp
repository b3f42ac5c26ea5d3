// The real Gemma 3 tokenizer (the default model's 262,144-token vocabulary) against
// tests/fixtures/tokenizer/gemma3.json, made by tests/refgen/make_tokenizer_cases.py with Hugging
// Face transformers: multilingual text, code, emoji, whitespace runs, numbers and special-token
// text, each with and without BOS and with special text parsed and not. Where llama.cpp tokenizes
// a case otherwise than transformers (the fixture marks those), tessera follows llama.cpp; the
// rules it follows there are checked on their own below. Then decoding, streaming, the special
// tokens, and how long loading and encoding take. Skipped, saying why, without the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf/file.h"
#include "runtime/default_model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

double milliseconds(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

struct GemmaCase {
    std::string name;
    std::string text;
    EncodeOptions options;
    std::vector<int32_t> ids;
    bool llama_cpp_differs = false;
};

std::vector<GemmaCase> read_fixture() {
    std::ifstream in(test::source_dir() + "/tests/fixtures/tokenizer/gemma3.json");
    EXPECT_TRUE(in) << "cannot open tests/fixtures/tokenizer/gemma3.json";
    const nlohmann::json fixture = nlohmann::json::parse(in);
    std::vector<GemmaCase> cases;
    for (const nlohmann::json& c : fixture.at("cases")) {
        cases.push_back({c.at("name").get<std::string>(),
                         c.at("text").get<std::string>(),
                         {.add_special = c.at("add_special").get<bool>(),
                          .parse_special = c.at("parse_special").get<bool>()},
                         c.at("ids").get<std::vector<int32_t>>(),
                         c.value("llama_cpp_differs", false)});
    }
    return cases;
}

std::string ids_text(const std::vector<int32_t>& ids) {
    std::string out;
    for (const int32_t id : ids) {
        if (!out.empty()) out += ' ';
        out += std::to_string(id);
    }
    return out;
}

class TokenizerGemma : public testing::Test {
  protected:
    static void SetUpTestSuite() {
        const std::optional<std::string> path = find_default_model();
        if (!path) return;
        const Clock::time_point start = Clock::now();
        tokenizer_ = new Tokenizer(Tokenizer::from_gguf(gguf::File::open(*path)));
        load_ms_ = milliseconds(Clock::now() - start);
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        tokenizer_ = nullptr;
    }
    void SetUp() override {
        if (tokenizer_ == nullptr) {
            GTEST_SKIP() << "the default model (" << kDefaultModelFile << ") is not in "
                         << default_model_dir() << "; run scripts/fetch_model.py to fetch it";
        }
    }

    static const Tokenizer* tokenizer_;
    static double load_ms_;
};

const Tokenizer* TokenizerGemma::tokenizer_ = nullptr;
double TokenizerGemma::load_ms_ = 0.0;

TEST_F(TokenizerGemma, MatchesTransformersOrLlamaCppWhereTheyDiffer) {
    const std::vector<GemmaCase> cases = read_fixture();
    ASSERT_GE(cases.size(), 200u);
    size_t matched = 0, differ_as_llama_cpp = 0;
    for (const GemmaCase& c : cases) {
        const std::vector<int32_t> ids = tokenizer_->encode(c.text, c.options);
        const std::string where = c.name + " (add_special " +
                                  std::to_string(c.options.add_special) + ", parse_special " +
                                  std::to_string(c.options.parse_special) + ")";
        if (c.llama_cpp_differs) {
            // The rules llama.cpp follows there are tested below.
            EXPECT_NE(ids, c.ids) << where << ": matches transformers, not llama.cpp";
            if (ids != c.ids) ++differ_as_llama_cpp;
        } else if (ids == c.ids) {
            ++matched;
        } else {
            ADD_FAILURE() << where << "\n  transformers " << ids_text(c.ids) << "\n  tessera      "
                          << ids_text(ids);
        }
    }
    std::printf(
        "[ conformance ] gemma3: %zu of %zu cases match transformers; %zu differ from it as "
        "llama.cpp does\n",
        matched, cases.size(), differ_as_llama_cpp);
}

// A run of spaces is cut into Gemma's user-defined whitespace tokens longest first, as llama.cpp
// cuts out special text (transformers merges ▁ pairs instead): 40 spaces are 31 and 9.
TEST_F(TokenizerGemma, SpaceRunsAreCutLongestTokenFirst) {
    const Tokenizer& t = *tokenizer_;
    const std::vector<int32_t> ids =
        t.encode("x" + std::string(40, ' ') + "y", {.add_special = false});
    EXPECT_EQ(ids,
              (std::vector<int32_t>{t.find("x").value(), t.find(std::string(31, ' ')).value(),
                                    t.find(std::string(9, ' ')).value(), t.find("y").value()}));
}

// </s> is a user-defined token in Gemma 3, but llama.cpp counts it among the tokens that end
// generation and so makes it a control token: its text is spelt out unless special text is
// parsed (transformers always takes it whole).
TEST_F(TokenizerGemma, EndOfSentenceTagIsAControlToken) {
    const Tokenizer& t = *tokenizer_;
    const int32_t tag = t.find("</s>").value();
    EXPECT_EQ(t.kind(tag), TokenKind::UserDefined);
    EXPECT_TRUE(t.is_end_of_generation(tag));
    const std::vector<int32_t> plain = t.encode("a</s>b", {.add_special = false});
    EXPECT_EQ(std::count(plain.begin(), plain.end(), tag), 0);
    EXPECT_EQ(t.decode(plain), "a</s>b");
    const std::vector<int32_t> parsed =
        t.encode("a</s>b", {.add_special = false, .parse_special = true});
    EXPECT_EQ(std::count(parsed.begin(), parsed.end(), tag), 1);
    EXPECT_EQ(t.token_to_piece(tag), "");
    EXPECT_EQ(t.token_to_piece(tag, true), "</s>");
}

TEST_F(TokenizerGemma, SpecialTokensAndFlags) {
    const Tokenizer& t = *tokenizer_;
    EXPECT_EQ(t.n_vocab(), 262144u);
    EXPECT_EQ(t.model_name(), "llama");
    EXPECT_EQ(t.bos(), 2);
    EXPECT_EQ(t.eos(), 1);
    EXPECT_EQ(t.eot(), t.find("<end_of_turn>").value());
    EXPECT_TRUE(t.adds_bos());
    EXPECT_FALSE(t.adds_eos());
    EXPECT_FALSE(t.adds_space_prefix());
    for (int32_t id = 0; id < static_cast<int32_t>(t.n_vocab()); ++id) {
        const bool expected = id == t.eos() || id == t.eot() || t.token_text(id) == "</s>";
        EXPECT_EQ(t.is_end_of_generation(id), expected) << id << " " << t.token_text(id);
    }
    const int32_t start = t.find("<start_of_turn>").value();
    EXPECT_EQ(t.kind(start), TokenKind::Control);
    EXPECT_EQ(t.token_to_piece(start), "");
    EXPECT_EQ(t.token_to_piece(start, true), "<start_of_turn>");
    EXPECT_EQ(t.token_to_piece(t.find("\n\n").value()), "\n\n");  // user-defined: as stored
}

TEST_F(TokenizerGemma, DecodeAndStreamGiveBackTheText) {
    const Tokenizer& t = *tokenizer_;
    for (const GemmaCase& c : read_fixture()) {
        if (c.options.parse_special) continue;
        const std::vector<int32_t> ids = t.encode(c.text, c.options);
        EXPECT_EQ(t.decode(ids), c.text) << c.name;
        TokenStreamer streamer(t);
        std::string streamed;
        for (const int32_t id : ids) streamed += streamer.push(id);
        EXPECT_EQ(streamed + streamer.flush(), c.text) << c.name;
    }
}

// Loading the vocabulary and encoding 10 KB of text take milliseconds; the bounds here only
// catch a tokenizer gone quadratic (they hold under the sanitizers too).
TEST_F(TokenizerGemma, LoadingAndEncodingAreFast) {
    const Tokenizer& t = *tokenizer_;
    std::string mixed;
    const std::vector<GemmaCase> cases = read_fixture();
    while (mixed.size() < 10240) {
        for (const GemmaCase& c : cases) {
            if (c.options.add_special && !c.options.parse_special) mixed += c.text + "\n";
        }
    }
    const std::string kinds[][2] = {{"mixed", mixed},
                                    {"one word", std::string(10240, 'a')},
                                    {"spaces", std::string(10240, ' ')},
                                    {"chinese", [] {
                                         std::string s;
                                         while (s.size() < 10240) s += "我们今天去公园散步。";
                                         return s;
                                     }()}};
    std::printf("[ timing ] gemma3 vocabulary load: %.1f ms\n", load_ms_);
    EXPECT_LT(load_ms_, 20000.0);
    for (const auto& [name, text] : kinds) {
        const Clock::time_point start = Clock::now();
        const std::vector<int32_t> ids =
            t.encode(text, {.add_special = false, .parse_special = true});
        const double ms = milliseconds(Clock::now() - start);
        std::printf("[ timing ] gemma3 encode %zu bytes (%s): %.2f ms, %zu tokens\n", text.size(),
                    name.c_str(), ms, ids.size());
        EXPECT_LT(ms, 5000.0) << name;
        EXPECT_EQ(t.decode(ids, true), text) << name;
    }
}

}  // namespace
}  // namespace tessera

// The pre-tokenizers against Hugging Face tokenizers (the committed fixture made by
// tests/refgen/make_pretokenizer_cases.py), for every name tessera supports; and what must hold
// for any input: the words concatenate to the input, invalid UTF-8 and very long words neither
// crash nor lose bytes, and one PreTokenizer serves several threads at once.
#include "runtime/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "formats/error.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string fixture_path() {
    return test::source_dir() + "/tests/fixtures/tokenizer/pretokenizer_cases.json";
}

nlohmann::json load_fixture() {
    std::ifstream in(fixture_path());
    if (!in) throw std::runtime_error("cannot open " + fixture_path());
    return nlohmann::json::parse(in);
}

std::vector<std::string> as_strings(std::vector<std::string_view> words) {
    return {words.begin(), words.end()};
}

std::string joined(const std::vector<std::string_view>& words) {
    std::string text;
    for (std::string_view w : words) text += w;
    return text;
}

// Shows control characters and non-ASCII bytes, so that a failing word list reads.
std::string shown(const std::vector<std::string>& words) {
    std::string out = "[";
    for (const std::string& word : words) {
        out += out.size() > 1 ? ", \"" : "\"";
        for (unsigned char c : word) {
            if (c == '\n') {
                out += "\\n";
            } else if (c == '\r') {
                out += "\\r";
            } else if (c == '\t') {
                out += "\\t";
            } else if (c < 0x20 || c == 0x7F) {
                char hex[8];
                snprintf(hex, sizeof hex, "\\x%02X", c);
                out += hex;
            } else {
                out += static_cast<char>(c);
            }
        }
        out += "\"";
    }
    return out + "]";
}

// True when `word` is either well-formed UTF-8 or a single byte.
bool is_word_shape(std::string_view word) {
    if (word.size() == 1) return true;
    size_t at = 0;
    while (at < word.size()) {
        const auto lead = static_cast<unsigned char>(word[at]);
        size_t length = lead < 0x80    ? 1
                        : lead >= 0xF0 ? 4
                        : lead >= 0xE0 ? 3
                        : lead >= 0xC2 ? 2
                                       : 0;
        if (length == 0 || at + length > word.size()) return false;
        for (size_t k = 1; k < length; ++k) {
            if ((static_cast<unsigned char>(word[at + k]) & 0xC0) != 0x80) return false;
        }
        at += length;
    }
    return true;
}

TEST(PreTokenizer, FixtureCoversExactlyTheSupportedNames) {
    const nlohmann::json fixture = load_fixture();
    std::set<std::string> in_fixture;
    for (const auto& result : fixture["results"]) {
        for (const auto& name : result["names"]) {
            EXPECT_TRUE(in_fixture.insert(name.get<std::string>()).second) << "twice: " << name;
        }
    }
    std::set<std::string> supported;
    for (std::string_view name : PreTokenizer::supported_names()) {
        EXPECT_TRUE(supported.insert(std::string(name)).second) << "listed twice: " << name;
    }
    EXPECT_EQ(in_fixture, supported);
}

TEST(PreTokenizer, MatchesHuggingFaceTokenizersForEveryName) {
    const nlohmann::json fixture = load_fixture();
    const auto texts = fixture["texts"].get<std::vector<std::string>>();
    size_t compared = 0;
    for (const auto& result : fixture["results"]) {
        const auto expected = result["words"].get<std::vector<std::vector<std::string>>>();
        ASSERT_EQ(expected.size(), texts.size());
        for (const auto& name : result["names"]) {
            const PreTokenizer pre = PreTokenizer::for_name(name.get<std::string>());
            for (size_t i = 0; i < texts.size(); ++i) {
                const std::vector<std::string> words = as_strings(pre.split(texts[i]));
                EXPECT_EQ(words, expected[i])
                    << name << ", text " << i << "\n  ours:     " << shown(words)
                    << "\n  expected: " << shown(expected[i]);
                ++compared;
            }
        }
    }
    EXPECT_GT(compared, 0u);
    std::cout << "compared " << compared << " splits (" << texts.size() << " texts, "
              << PreTokenizer::supported_names().size() << " names) with tokenizers "
              << fixture["tokenizers"].get<std::string>() << "\n";
}

TEST(PreTokenizer, UnknownNameListsTheSupportedOnes) {
    try {
        PreTokenizer::for_name("no-such-pre");
        FAIL() << "no error";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("no-such-pre"), std::string::npos) << what;
        EXPECT_NE(what.find("llama-bpe"), std::string::npos) << what;
        EXPECT_NE(what.find("deepseek-llm"), std::string::npos) << what;
    }
}

TEST(PreTokenizer, EmptyTextHasNoWords) {
    for (std::string_view name : PreTokenizer::supported_names()) {
        EXPECT_TRUE(PreTokenizer::for_name(name).split("").empty()) << name;
    }
}

// Random byte strings built from pieces that break UTF-8 in every way PCRE2 distinguishes, mixed
// with valid text so that the patterns run between the breaks.
std::string random_bytes(std::mt19937& rng) {
    static const std::vector<std::string> pieces = {"a",
                                                    "Z",
                                                    " ",
                                                    "  ",
                                                    "\n",
                                                    "\r\n",
                                                    "\t",
                                                    "7",
                                                    "123",
                                                    "'s",
                                                    "!?",
                                                    "\xC3\xA9" /* é */,
                                                    "\xE4\xBD\xA0" /* 你 */,
                                                    "\xF0\x9F\xA6\x99" /* 🦙 */,
                                                    "\xCC\x81" /* combining acute */,
                                                    "\x80",
                                                    "\xBF",
                                                    "\xC0\xAF",
                                                    "\xC1\xBF",
                                                    "\xC2",
                                                    "\xE4\xBD",
                                                    "\xF0\x9F\xA6",
                                                    "\xED\xA0\x80",
                                                    "\xED\xBF\xBF",
                                                    "\xE0\x80\xAF",
                                                    "\xF0\x80\x80\xAF",
                                                    "\xF4\x90\x80\x80",
                                                    "\xF5\x80\x80\x80",
                                                    "\xFE",
                                                    "\xFF",
                                                    std::string(1, '\0')};
    std::string text;
    const int count = static_cast<int>(rng() % 24);
    for (int i = 0; i < count; ++i) {
        if (rng() % 4 == 0) {
            text.push_back(static_cast<char>(rng() & 0xFF));
        } else {
            text += pieces[rng() % pieces.size()];
        }
    }
    return text;
}

TEST(PreTokenizer, InvalidUtf8NeitherCrashesNorLosesBytes) {
    std::vector<PreTokenizer> all;
    for (std::string_view name : PreTokenizer::supported_names()) {
        all.push_back(PreTokenizer::for_name(name));
    }
    std::mt19937 rng(20240607);
    for (int i = 0; i < 2000; ++i) {
        const std::string text = random_bytes(rng);
        for (size_t p = 0; p < all.size(); ++p) {
            const std::vector<std::string_view> words = all[p].split(text);
            ASSERT_EQ(joined(words), text) << "case " << i << ", pre-tokenizer " << p;
            for (std::string_view word : words) {
                ASSERT_FALSE(word.empty()) << "case " << i << ", pre-tokenizer " << p;
                ASSERT_TRUE(is_word_shape(word)) << "case " << i << ", pre-tokenizer " << p << ": "
                                                 << shown({std::string(word)});
            }
        }
    }
}

TEST(PreTokenizer, InvalidBytesAreWordsOfTheirOwn) {
    const PreTokenizer pre = PreTokenizer::for_name("gpt-2");
    const std::vector<std::string> words =
        as_strings(pre.split("ab\xFF\xFE"
                             "cd \xE4\xBD"
                             "e"));
    EXPECT_EQ(words,
              (std::vector<std::string>{"ab", "\xFF", "\xFE", "cd", " ", "\xE4", "\xBD", "e"}));
}

TEST(PreTokenizer, LongWordsAndRunsSplitWithoutLimits) {
    // Long enough to outgrow the default JIT stack in patterns that repeat groups (exaone-moe's
    // letters-and-spaces group, tiny_aya's digit lookahead). The digit run is shorter: tiny_aya's
    // lookahead reads to the end of the run from every match, so its time grows with the square
    // of the run's length (in any backtracking engine, Oniguruma included).
    const size_t n = 300000;
    std::string letters_and_spaces;
    for (size_t i = 0; i < n / 2; ++i) letters_and_spaces += "a ";
    const std::vector<std::string> texts = {std::string(n, 'a'), std::string(30000, '7'),
                                            std::string(n, ' '), std::string(n, '\n'),
                                            letters_and_spaces,  std::string(n, '\0')};
    for (std::string_view name : PreTokenizer::supported_names()) {
        const PreTokenizer pre = PreTokenizer::for_name(name);
        for (const std::string& text : texts) {
            EXPECT_EQ(joined(pre.split(text)), text) << name;
        }
    }
}

TEST(PreTokenizer, OneInstanceSplitsInSeveralThreadsAtOnce) {
    const nlohmann::json fixture = load_fixture();
    const auto texts = fixture["texts"].get<std::vector<std::string>>();
    for (std::string_view name : {"llama-bpe", "deepseek-llm", "gpt-4o"}) {
        const PreTokenizer pre = PreTokenizer::for_name(name);
        std::vector<std::vector<std::string>> expected;
        for (const std::string& text : texts) expected.push_back(as_strings(pre.split(text)));

        std::vector<int> mismatches(4, 0);
        std::vector<std::thread> threads;
        for (size_t t = 0; t < mismatches.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int round = 0; round < 50; ++round) {
                    for (size_t i = 0; i < texts.size(); ++i) {
                        if (as_strings(pre.split(texts[i])) != expected[i]) ++mismatches[t];
                    }
                }
            });
        }
        for (std::thread& thread : threads) thread.join();
        for (int m : mismatches) EXPECT_EQ(m, 0) << name;
    }
}

TEST(PreTokenizer, MovedFromKeepsWorkingInItsNewPlace) {
    PreTokenizer first = PreTokenizer::for_name("qwen2");
    PreTokenizer second = std::move(first);
    EXPECT_EQ(as_strings(second.split("Hello 123")),
              (std::vector<std::string>{"Hello", " ", "1", "2", "3"}));
    first = PreTokenizer::for_name("gpt-2");
    EXPECT_EQ(as_strings(first.split("Hello 123")), (std::vector<std::string>{"Hello", " 123"}));
}

}  // namespace
}  // namespace tessera

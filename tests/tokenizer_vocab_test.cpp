// The tokenizer on the shared vocabulary files against llama.cpp's conformance pairs
// (../shared/testdata/vocab/NAME.gguf.inp and .out: no BOS, special text not parsed), every case
// of all five: two SentencePiece vocabularies (llama-spm, phi-3) and three byte-level BPE ones
// (gpt-2, deepseek-llm, starcoder). Then decode(encode(x)) == x on the same texts, and what the
// vocabulary says about special tokens, BOS, EOS and end of generation.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string vocab_path(const std::string& name) {
    return test::testdata_dir() + "/vocab/ggml-vocab-" + name + ".gguf";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << "cannot open " << path;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

// The cases of NAME.gguf.inp and .out, read as llama.cpp's test-tokenizer-0 reads them.
std::vector<VocabCase> read_cases(const std::string& name) {
    const std::string inputs = read_file(vocab_path(name) + ".inp");
    const std::string outputs = read_file(vocab_path(name) + ".out");
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<VocabCase> cases;
    for (size_t at = 0; at < inputs.size();) {
        const size_t next = inputs.find(separator, at);
        cases.push_back({inputs.substr(at, next == std::string::npos ? next : next - at), {}});
        if (next == std::string::npos) break;
        at = next + separator.size();
    }
    std::istringstream lines(outputs);
    std::string line;
    size_t index = 0;
    for (; std::getline(lines, line); ++index) {
        if (index >= cases.size()) break;
        std::istringstream words(line);
        for (int32_t id; words >> id;) cases[index].ids.push_back(id);
    }
    EXPECT_EQ(index, cases.size()) << name << ": .inp and .out hold different numbers of cases";
    return cases;
}

std::string ids_text(const std::vector<int32_t>& ids) {
    std::string out;
    for (int32_t id : ids) {
        if (!out.empty()) out += ' ';
        out += std::to_string(id);
    }
    return out;
}

Tokenizer load(const std::string& name) {
    return Tokenizer::from_gguf(gguf::File::open(vocab_path(name)));
}

constexpr EncodeOptions kPlain{.add_special = false, .parse_special = false};

class TokenizerVocab : public testing::TestWithParam<std::string> {};

TEST_P(TokenizerVocab, EveryConformanceCaseMatchesLlamaCpp) {
    const std::string name = GetParam();
    const Tokenizer tokenizer = load(name);
    const std::vector<VocabCase> cases = read_cases(name);
    ASSERT_GE(cases.size(), 40u) << name;
    size_t matched = 0;
    for (const VocabCase& c : cases) {
        const std::vector<int32_t> ids = tokenizer.encode(c.text, kPlain);
        if (ids == c.ids) {
            ++matched;
        } else {
            ADD_FAILURE() << name << ": text '" << c.text << "'\n  expected " << ids_text(c.ids)
                          << "\n  got      " << ids_text(ids);
        }
    }
    std::printf("[ conformance ] %s: %zu of %zu cases match\n", name.c_str(), matched,
                cases.size());
    EXPECT_EQ(matched, cases.size());
}

TEST_P(TokenizerVocab, DecodeGivesBackTheText) {
    const std::string name = GetParam();
    const Tokenizer tokenizer = load(name);
    for (const VocabCase& c : read_cases(name)) {
        for (const bool add_special : {false, true}) {
            const std::vector<int32_t> ids =
                tokenizer.encode(c.text, {.add_special = add_special, .parse_special = false});
            EXPECT_EQ(tokenizer.decode(ids), c.text) << name << ", add_special " << add_special;
        }
    }
}

TEST_P(TokenizerVocab, StreamingGivesTheDecodedText) {
    const std::string name = GetParam();
    const Tokenizer tokenizer = load(name);
    for (const VocabCase& c : read_cases(name)) {
        TokenStreamer streamer(tokenizer);
        std::string streamed;
        for (int32_t id : tokenizer.encode(c.text)) streamed += streamer.push(id);
        streamed += streamer.flush();
        EXPECT_EQ(streamed, c.text) << name;
    }
}

INSTANTIATE_TEST_SUITE_P(TokenizerShared, TokenizerVocab,
                         testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-llm",
                                         "starcoder"),
                         [](const testing::TestParamInfo<std::string>& param) {
                             std::string name = param.param;
                             for (char& c : name) {
                                 if (c == '-') c = '_';
                             }
                             return name;
                         });

TEST(TokenizerSpm, LlamaSpecialTokensAndFlags) {
    const Tokenizer tokenizer = load("llama-spm");
    EXPECT_EQ(tokenizer.model_name(), "llama");
    EXPECT_EQ(tokenizer.pre_name(), "default");
    EXPECT_EQ(tokenizer.n_vocab(), 32000u);
    EXPECT_EQ(tokenizer.bos(), 1);
    EXPECT_EQ(tokenizer.eos(), 2);
    EXPECT_EQ(tokenizer.eot(), -1);
    EXPECT_TRUE(tokenizer.adds_bos());
    EXPECT_FALSE(tokenizer.adds_eos());
    EXPECT_TRUE(tokenizer.adds_space_prefix());
    EXPECT_TRUE(tokenizer.is_end_of_generation(2));
    EXPECT_FALSE(tokenizer.is_end_of_generation(1));
    EXPECT_FALSE(tokenizer.is_end_of_generation(-1));
    EXPECT_FALSE(tokenizer.is_end_of_generation(32000));
    EXPECT_EQ(tokenizer.kind(0), TokenKind::Unknown);
    EXPECT_EQ(tokenizer.kind(1), TokenKind::Control);
    EXPECT_EQ(tokenizer.kind(13), TokenKind::Byte);
    EXPECT_EQ(tokenizer.token_text(13), "<0x0A>");
    EXPECT_EQ(tokenizer.find("▁Hello"), 15043);
    EXPECT_EQ(tokenizer.find("no such token"), std::nullopt);
    EXPECT_THROW(tokenizer.token_text(32000), Error);
    EXPECT_THROW(tokenizer.kind(-1), Error);
    EXPECT_THROW(tokenizer.token_to_piece(-5), Error);
}

TEST(TokenizerSpm, PiecesPrintAsLlamaCppPrintsThem) {
    const Tokenizer tokenizer = load("llama-spm");
    EXPECT_EQ(tokenizer.token_to_piece(15043), " Hello");  // ▁Hello
    EXPECT_EQ(tokenizer.token_to_piece(13), "\n");         // <0x0A>
    EXPECT_EQ(tokenizer.token_to_piece(243), "\xF0");      // <0xF0>
    EXPECT_EQ(tokenizer.token_to_piece(1), "");            // <s>: control
    EXPECT_EQ(tokenizer.token_to_piece(1, true), "<s>");
    EXPECT_EQ(tokenizer.token_to_piece(0), "");  // <unk>
    EXPECT_EQ(tokenizer.token_to_piece(0, true), "<unk>");
}

TEST(TokenizerSpm, BosAndSpecialTextFollowTheOptions) {
    const Tokenizer tokenizer = load("llama-spm");
    // As llama-tokenize gives them.
    const std::string text = "Hello world  <s> 🦙 x";
    EXPECT_EQ(tokenizer.encode(text),
              (std::vector<int32_t>{1, 15043, 3186, 29871, 529, 29879, 29958, 29871, 243, 162, 169,
                                    156, 921}));
    EXPECT_EQ(tokenizer.encode(text, {.add_special = true, .parse_special = true}),
              (std::vector<int32_t>{1, 15043, 3186, 259, 1, 259, 243, 162, 169, 156, 921}));
    EXPECT_EQ(tokenizer.encode("", {.add_special = true}), std::vector<int32_t>{1});
    EXPECT_EQ(tokenizer.encode("", kPlain), std::vector<int32_t>{});
    // Decoding drops the space SentencePiece put in front of the text, not the one llama.cpp puts
    // after a special token; control tokens show on request.
    const std::vector<int32_t> ids = tokenizer.encode(text, {.parse_special = true});
    EXPECT_EQ(tokenizer.decode(ids), "Hello world    🦙 x");
    EXPECT_EQ(tokenizer.decode(ids, true), "<s> Hello world  <s>  🦙 x");
}

TEST(TokenizerSpm, Phi3EndTokensAndStrippedWhitespace) {
    const Tokenizer tokenizer = load("phi-3");
    EXPECT_EQ(tokenizer.eos(), 32000);
    const std::optional<int32_t> end = tokenizer.find("<|end|>");
    const std::optional<int32_t> user = tokenizer.find("<|user|>");
    ASSERT_TRUE(end && user);
    // <|end|> ends generation by its name; <|endoftext|> is EOS; </s> is named too.
    EXPECT_EQ(tokenizer.eot(), *end);
    EXPECT_TRUE(tokenizer.is_end_of_generation(*end));
    EXPECT_TRUE(tokenizer.is_end_of_generation(32000));
    EXPECT_TRUE(tokenizer.is_end_of_generation(2));
    EXPECT_FALSE(tokenizer.is_end_of_generation(*user));
    // Phi-3's special tokens take the whitespace after them along (llama.cpp, by model name).
    const std::vector<int32_t> ids =
        tokenizer.encode("<|user|>\n  Hi<|end|>", {.add_special = false, .parse_special = true});
    ASSERT_GE(ids.size(), 3u);
    EXPECT_EQ(ids.front(), *user);
    EXPECT_EQ(ids.back(), *end);
    EXPECT_EQ(tokenizer.decode(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1)), "Hi");
}

TEST(TokenizerBpe, Gpt2SpecialTokensAndFlags) {
    const Tokenizer tokenizer = load("gpt-2");
    EXPECT_EQ(tokenizer.model_name(), "gpt2");
    EXPECT_EQ(tokenizer.pre_name(), "gpt-2");
    EXPECT_EQ(tokenizer.bos(), 50256);
    EXPECT_EQ(tokenizer.eos(), 50256);
    EXPECT_FALSE(tokenizer.adds_bos());
    EXPECT_FALSE(tokenizer.adds_space_prefix());
    EXPECT_TRUE(tokenizer.is_end_of_generation(50256));
    EXPECT_EQ(tokenizer.token_to_piece(50256), "");
    EXPECT_EQ(tokenizer.token_to_piece(50256, true), "<|endoftext|>");
    const std::optional<int32_t> hello = tokenizer.find("ĠHello");
    ASSERT_TRUE(hello);
    EXPECT_EQ(tokenizer.token_to_piece(*hello), " Hello");
    EXPECT_EQ(
        tokenizer.encode("a<|endoftext|>b", {.add_special = false, .parse_special = true}).at(1),
        50256);
    // As llama-tokenize gives them: a < | end of text | > b.
    EXPECT_EQ(tokenizer.encode("a<|endoftext|>b", kPlain),
              (std::vector<int32_t>{64, 27, 91, 437, 1659, 5239, 91, 29, 65}));
}

TEST(TokenizerBpe, DeepseekUserDefinedTokensAreAlwaysCutOut) {
    const Tokenizer tokenizer = load("deepseek-llm");
    EXPECT_TRUE(tokenizer.adds_bos());
    EXPECT_EQ(tokenizer.bos(), 100000);
    EXPECT_TRUE(tokenizer.is_end_of_generation(100001));
    // "ø" is a user-defined token of its own (100002): cut out even without parse_special.
    EXPECT_EQ(tokenizer.kind(100002), TokenKind::UserDefined);
    EXPECT_EQ(tokenizer.encode("ø", kPlain), std::vector<int32_t>{100002});
    EXPECT_EQ(tokenizer.token_to_piece(100002), "ø");
}

}  // namespace
}  // namespace tessera

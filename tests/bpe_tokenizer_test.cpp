// Byte-level BPE with its pre-tokenizer against the conformance files that llama.cpp's converter
// made from the original models' tokenizers (../shared/testdata/vocab: every case must give the
// same ids), the byte mapping in both directions, the choices for odd vocabularies (merges whose
// result or halves are not tokens, missing byte tokens, ignore_merges), and a speed measurement.
#include "runtime/tokenizer/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/pre_tokenizer.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The cases of a .inp file: each is followed by "\n__ggml_vocab_test__\n", and that newline
// belongs to the separator, not to the case.
std::vector<std::string> read_cases(const std::string& path) {
    const std::string text = read_file(path);
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> cases;
    size_t at = 0;
    while (at < text.size()) {
        const size_t end = text.find(separator, at);
        if (end == std::string::npos) throw std::runtime_error(path + ": text after the last case");
        cases.push_back(text.substr(at, end - at));
        at = end + separator.size();
    }
    return cases;
}

std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
    std::istringstream in(read_file(path));
    std::vector<std::vector<int32_t>> lines;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream numbers(line);
        std::vector<int32_t> ids;
        int32_t id;
        while (numbers >> id) ids.push_back(id);
        lines.push_back(ids);
    }
    return lines;
}

struct ByteLevelVocab {
    std::string pre;
    std::vector<std::string> tokens;
    std::vector<std::string> merges;
};

ByteLevelVocab read_vocab(const std::string& path) {
    const gguf::File file = gguf::File::open(path);
    ByteLevelVocab vocab;
    vocab.pre = file.get_string("tokenizer.ggml.pre");
    vocab.tokens = file.get("tokenizer.ggml.tokens").as_string_array("tokenizer.ggml.tokens");
    vocab.merges = file.get("tokenizer.ggml.merges").as_string_array("tokenizer.ggml.merges");
    return vocab;
}

std::vector<int32_t> encode(const PreTokenizer& pre, const BpeTokenizer& bpe,
                            std::string_view text) {
    std::vector<int32_t> ids;
    for (std::string_view word : pre.split(text)) bpe.encode_word(word, ids);
    return ids;
}

std::string vocab_dir() {
    return test::testdata_dir() + "/vocab";
}

TEST(BpeConformance, EveryCaseOfEveryByteLevelVocabularyMatches) {
    // Plain text only: these vocabularies have no user-defined tokens that llama.cpp would cut
    // out of the text before pre-tokenizing (MPT's runs of spaces are such tokens).
    for (const std::string name : {"gpt-2", "deepseek-llm", "starcoder"}) {
        SCOPED_TRACE(name);
        const std::string path = vocab_dir() + "/ggml-vocab-" + name + ".gguf";
        ASSERT_TRUE(std::filesystem::exists(path)) << path;
        const ByteLevelVocab vocab = read_vocab(path);
        const std::vector<std::string> cases = read_cases(path + ".inp");
        const std::vector<std::vector<int32_t>> expected = read_ids(path + ".out");
        ASSERT_EQ(cases.size(), expected.size()) << path;

        const PreTokenizer pre = PreTokenizer::for_name(vocab.pre);
        // None of these pre-tokenizers takes whole-word tokens before merging (llama.cpp turns
        // ignore_merges on only for llama3 and a few others).
        const BpeTokenizer bpe(vocab.tokens, vocab.merges, /*ignore_merges=*/false);
        size_t matched = 0;
        for (size_t i = 0; i < cases.size(); ++i) {
            const std::vector<int32_t> ids = encode(pre, bpe, cases[i]);
            EXPECT_EQ(ids, expected[i]) << "case " << i << ": \"" << cases[i] << "\"";
            if (ids == expected[i]) ++matched;

            std::string decoded;
            for (int32_t id : ids) decoded += BpeTokenizer::token_bytes(vocab.tokens.at(id));
            EXPECT_EQ(decoded, cases[i]) << "case " << i << " does not decode to itself";
        }
        std::cout << "ggml-vocab-" << name << " (pre " << vocab.pre << "): " << matched << "/"
                  << cases.size() << " cases match\n";
    }
}

TEST(BpeTokenizer, TokenBytesInvertsTheByteMapping) {
    const ByteLevelVocab vocab = read_vocab(vocab_dir() + "/ggml-vocab-gpt-2.gguf");
    // GPT-2's first 256 tokens are the 256 byte characters, in bytes_to_unicode's order.
    std::set<std::string> bytes;
    for (int id = 0; id < 256; ++id) {
        const std::string b = BpeTokenizer::token_bytes(vocab.tokens[id]);
        ASSERT_EQ(b.size(), 1u) << "token " << id << " \"" << vocab.tokens[id] << "\"";
        bytes.insert(b);
    }
    EXPECT_EQ(bytes.size(), 256u);
    EXPECT_EQ(BpeTokenizer::token_bytes("Ġthe"), " the");
    EXPECT_EQ(BpeTokenizer::token_bytes("ĊĊ"), "\n\n");
    EXPECT_EQ(BpeTokenizer::token_bytes("ĉ"), "\t");
    EXPECT_EQ(BpeTokenizer::token_bytes("Ã©"), "\xC3\xA9");  // é, byte by byte
    EXPECT_EQ(BpeTokenizer::token_bytes("!~"), "!~");
    EXPECT_EQ(BpeTokenizer::token_bytes("<|endoftext|>"), "<|endoftext|>");
    // Outside the mapping: kept as UTF-8 (a special token's text, a non-byte-level vocabulary).
    EXPECT_EQ(BpeTokenizer::token_bytes("你 ▁x"), "你 ▁x");
    EXPECT_EQ(BpeTokenizer::token_bytes("\xFF\xC3"), "\xFF\xC3");
}

TEST(BpeTokenizer, EveryByteEncodesAndDecodes) {
    const ByteLevelVocab vocab = read_vocab(vocab_dir() + "/ggml-vocab-gpt-2.gguf");
    const BpeTokenizer bpe(vocab.tokens, vocab.merges, false);
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::vector<int32_t> ids;
    bpe.encode_word(all, ids);
    std::string decoded;
    for (int32_t id : ids) decoded += BpeTokenizer::token_bytes(vocab.tokens.at(id));
    EXPECT_EQ(decoded, all);
}

// A small vocabulary over a, b, c (whose byte characters are themselves).
const std::vector<std::string> kTinyTokens = {"a", "b", "c", "ab", "bc", "abc", "abcabc"};

std::vector<int32_t> encode_word(const BpeTokenizer& bpe, std::string_view word) {
    std::vector<int32_t> ids;
    bpe.encode_word(word, ids);
    return ids;
}

TEST(BpeTokenizer, MergesLowestRankFirst) {
    const BpeTokenizer bc_first(kTinyTokens, std::vector<std::string>{"b c", "a b", "a bc"}, false);
    EXPECT_EQ(encode_word(bc_first, "abc"), (std::vector<int32_t>{5}));  // b+c, then a+bc
    const BpeTokenizer ab_first(kTinyTokens, std::vector<std::string>{"a b", "b c", "ab c"}, false);
    EXPECT_EQ(encode_word(ab_first, "abc"), (std::vector<int32_t>{5}));
    const BpeTokenizer no_abc(kTinyTokens, std::vector<std::string>{"a b", "b c"}, false);
    EXPECT_EQ(encode_word(no_abc, "abc"), (std::vector<int32_t>{3, 2}));  // ab, c
    const BpeTokenizer bc_only(kTinyTokens, std::vector<std::string>{"b c", "a b"}, false);
    EXPECT_EQ(encode_word(bc_only, "abc"), (std::vector<int32_t>{0, 4}));  // a, bc
    // Equal ranks: the leftmost pair first ("bbb" -> "bb" + "b").
    const std::vector<std::string> b_tokens = {"b", "bb"};
    const BpeTokenizer bb(b_tokens, std::vector<std::string>{"b b"}, false);
    EXPECT_EQ(encode_word(bb, "bbb"), (std::vector<int32_t>{1, 0}));
    EXPECT_EQ(encode_word(bb, "bbbb"), (std::vector<int32_t>{1, 1}));
}

TEST(BpeTokenizer, IgnoreMergesTakesAWholeWordToken) {
    const std::vector<std::string> merges = {"b c", "a b"};  // no way to "abc" by merges
    const BpeTokenizer merging(kTinyTokens, merges, false);
    const BpeTokenizer whole(kTinyTokens, merges, true);
    EXPECT_EQ(encode_word(merging, "abc"), (std::vector<int32_t>{0, 4}));
    EXPECT_EQ(encode_word(whole, "abc"), (std::vector<int32_t>{5}));
    // A word that is no token still merges.
    EXPECT_EQ(encode_word(whole, "abca"), (std::vector<int32_t>{0, 4, 0}));
}

TEST(BpeTokenizer, PiecesThatAreNoTokenFallBackToTheirBytes) {
    // "ab" merges but is not a token (its halves are): the bytes' tokens stand in for it.
    const std::vector<std::string> tokens = {"a", "b", "c"};
    const BpeTokenizer bpe(tokens, std::vector<std::string>{"a b"}, false);
    EXPECT_EQ(encode_word(bpe, "abc"), (std::vector<int32_t>{0, 1, 2}));
    // A byte whose character is not in the vocabulary is skipped ('d', and the space as "Ġ").
    EXPECT_EQ(encode_word(bpe, "adb c"), (std::vector<int32_t>{0, 1, 2}));
}

TEST(BpeTokenizer, MergeHalvesThatAreNoTokensAreAccepted) {
    // "x" and "xy" are not tokens, but "xy z" still leads to the token "xyz".
    const std::vector<std::string> tokens = {"x", "y", "z", "xyz"};
    const BpeTokenizer bpe(tokens, std::vector<std::string>{"x y", "xy z", "q r"}, false);
    EXPECT_EQ(encode_word(bpe, "xyz"), (std::vector<int32_t>{3}));
    EXPECT_EQ(encode_word(bpe, "xy"), (std::vector<int32_t>{0, 1}));
}

TEST(BpeTokenizer, MalformedMergeNamesItsIndex) {
    for (const std::string bad : {"ab", "a ", ""}) {
        try {
            BpeTokenizer(kTinyTokens, std::vector<std::string>{"a b", bad}, false);
            FAIL() << "no error for \"" << bad << "\"";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("merges[1]"), std::string::npos) << e.what();
        }
    }
    // A leading space belongs to the left half: a vocabulary whose tokens keep raw spaces may
    // merge the token " " with another.
    const std::vector<std::string> tokens = {" ", "a", " a"};
    EXPECT_NO_THROW(BpeTokenizer(tokens, std::vector<std::string>{"  a"}, false));
}

TEST(BpeTokenizer, LongWordsMergeInReasonableTime) {
    const ByteLevelVocab vocab = read_vocab(vocab_dir() + "/ggml-vocab-gpt-2.gguf");
    const BpeTokenizer bpe(vocab.tokens, vocab.merges, false);
    std::mt19937 rng(7);
    std::string word;
    for (int i = 0; i < 1 << 20; ++i) word.push_back(static_cast<char>('a' + rng() % 26));
    const auto start = std::chrono::steady_clock::now();
    std::vector<int32_t> ids;
    bpe.encode_word(word, ids);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string decoded;
    for (int32_t id : ids) decoded += BpeTokenizer::token_bytes(vocab.tokens.at(id));
    EXPECT_EQ(decoded, word);
    // A quadratic merge loop takes minutes here; the heap takes well under a second in Release.
    EXPECT_LT(seconds, 30.0);
}

// English and code: the repository's own README and runtime sources, repeated to 100 KiB.
std::string english_and_code(size_t size) {
    std::string sample;
    for (const char* file : {"README.md", "runtime/sampler.cpp", "runtime/model.cpp",
                             "formats/gguf/file.cpp", "runtime/kv_cache.cpp"}) {
        const std::string path = test::source_dir() + "/" + file;
        if (std::filesystem::exists(path)) sample += read_file(path);
    }
    if (sample.empty()) return {};
    std::string text;
    while (text.size() < size) text += sample;
    text.resize(size);
    // Cut back to a character boundary.
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
        text.pop_back();
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
    return text;
}

TEST(BpeSpeed, SplitAndEncode100KiBOfEnglishAndCodeWithGpt2) {
    const std::string text = english_and_code(100 * 1024);
    if (text.empty()) GTEST_SKIP() << "no README.md or sources under " << test::source_dir();
    const ByteLevelVocab vocab = read_vocab(vocab_dir() + "/ggml-vocab-gpt-2.gguf");
    const PreTokenizer pre = PreTokenizer::for_name(vocab.pre);
    const BpeTokenizer bpe(vocab.tokens, vocab.merges, false);

    const int rounds = 5;
    std::vector<int32_t> ids;
    double split_seconds = 0, total_seconds = 0;
    for (int round = 0; round < rounds; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const std::vector<std::string_view> words = pre.split(text);
        const auto split_done = std::chrono::steady_clock::now();
        ids.clear();
        for (std::string_view word : words) bpe.encode_word(word, ids);
        const auto done = std::chrono::steady_clock::now();
        split_seconds += std::chrono::duration<double>(split_done - start).count();
        total_seconds += std::chrono::duration<double>(done - start).count();
    }
    std::string decoded;
    for (int32_t id : ids) decoded += BpeTokenizer::token_bytes(vocab.tokens.at(id));
    EXPECT_EQ(decoded, text);
    const double megabytes = static_cast<double>(text.size()) * rounds / 1e6;
    std::cout << "gpt-2: " << text.size() << " bytes -> " << ids.size() << " tokens; split "
              << megabytes / split_seconds << " MB/s, split + encode " << megabytes / total_seconds
              << " MB/s\n";
}

}  // namespace
}  // namespace tessera

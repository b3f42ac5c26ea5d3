// Hostile vocabularies, written with the project's GGUF writer: each fault is rejected with an
// error naming the file and the key, and the oddities a real file may have (empty tokens, no
// byte tokens, unused tokens, overlapping special texts) tokenize without a crash. Then random
// bytes, valid UTF-8 or not, through every shared vocabulary: no exception, ids in range, the
// text back from decode, and whole characters only from the streamer.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using gguf::KeyValue;
using gguf::Value;
using gguf::ValueType;
using Metadata = std::vector<KeyValue>;

void set(Metadata& metadata, const std::string& key, Value value) {
    for (KeyValue& kv : metadata) {
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    }
    metadata.push_back({key, std::move(value)});
}

void remove_key(Metadata& metadata, const std::string& key) {
    std::erase_if(metadata, [&](const KeyValue& kv) { return kv.key == key; });
}

std::string write_vocab(const std::string& name, const Metadata& metadata) {
    const std::string path = test::temp_dir() + "/" + name + ".gguf";
    gguf::Writer writer(path);
    for (const KeyValue& kv : metadata) writer.add(kv.key, kv.value);
    writer.write_header();
    writer.finish();
    return path;
}

Tokenizer load(const std::string& name, const Metadata& metadata) {
    return Tokenizer::from_gguf(gguf::File::open(write_vocab(name, metadata)));
}

Value u32(uint32_t v) {
    return Value::from_uint(ValueType::UINT32, v);
}
Value i32(int32_t v) {
    return Value::from_int(ValueType::INT32, v);
}

std::string byte_token_text(int byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    return {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
}

// A small SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then a few pieces.
struct SpmVocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;

    SpmVocab() {
        add("<unk>", 0.0f, 2);
        add("<s>", 0.0f, 3);
        add("</s>", 0.0f, 3);
        for (int byte = 0; byte < 256; ++byte) add(byte_token_text(byte), 0.0f, 6);
        for (const char* piece : {"▁", "a", "b", "c", "▁a", "ab", "▁ab", "bc", "▁abc"}) {
            add(piece, -static_cast<float>(tokens.size()), 1);
        }
    }
    void add(std::string text, float score, int32_t type) {
        tokens.push_back(std::move(text));
        scores.push_back(score);
        types.push_back(type);
    }
    Metadata metadata() const {
        return {{"tokenizer.ggml.model", Value::from_string("llama")},
                {"tokenizer.ggml.tokens", Value::from_string_array(tokens)},
                {"tokenizer.ggml.scores", Value::from_float_array(scores)},
                {"tokenizer.ggml.token_type", Value::from_int32_array(types)},
                {"tokenizer.ggml.bos_token_id", u32(1)},
                {"tokenizer.ggml.eos_token_id", u32(2)}};
    }
};

// GPT-2's byte-to-character map: printable bytes stand for themselves, the others for U+0100
// and up in byte order.
std::vector<std::string> byte_level_alphabet() {
    std::vector<std::string> alphabet(256);
    int next = 256;
    for (int byte = 0; byte < 256; ++byte) {
        const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
                               (byte >= 0xAE && byte <= 0xFF);
        const int code_point = printable ? byte : next++;
        std::string utf8;
        if (code_point < 0x80) {
            utf8 = std::string(1, static_cast<char>(code_point));
        } else {
            utf8 = {static_cast<char>(0xC0 | (code_point >> 6)),
                    static_cast<char>(0x80 | (code_point & 0x3F))};
        }
        alphabet[static_cast<size_t>(byte)] = utf8;
    }
    return alphabet;
}

// A small byte-level BPE vocabulary: the 256 byte characters, two merges and <|endoftext|>.
Metadata bpe_metadata() {
    std::vector<std::string> tokens = byte_level_alphabet();
    tokens.push_back("Ġt");
    tokens.push_back("Ġth");
    tokens.push_back("<|endoftext|>");
    std::vector<int32_t> types(tokens.size(), 1);
    types.back() = 3;
    return {{"tokenizer.ggml.model", Value::from_string("gpt2")},
            {"tokenizer.ggml.pre", Value::from_string("gpt-2")},
            {"tokenizer.ggml.tokens", Value::from_string_array(tokens)},
            {"tokenizer.ggml.token_type", Value::from_int32_array(types)},
            {"tokenizer.ggml.merges", Value::from_string_array({"Ġ t", "Ġt h"})},
            {"tokenizer.ggml.bos_token_id", u32(static_cast<uint32_t>(tokens.size() - 1))},
            {"tokenizer.ggml.eos_token_id", u32(static_cast<uint32_t>(tokens.size() - 1))}};
}

TEST(TokenizerHostile, TheValidBasesLoad) {
    const Tokenizer spm = load("spm-base", SpmVocab().metadata());
    EXPECT_EQ(spm.encode("abc ab", {.add_special = false}),
              (std::vector<int32_t>{spm.find("▁abc").value(), spm.find("▁ab").value()}));
    const Tokenizer bpe = load("bpe-base", bpe_metadata());
    EXPECT_EQ(bpe.decode(bpe.encode(" the")), " the");
}

struct HostileCase {
    std::string name;
    std::function<Metadata()> metadata;
    std::string key;  // the error must name it
};

Metadata spm_with(const std::function<void(SpmVocab&, Metadata&)>& change) {
    SpmVocab vocab;
    Metadata metadata = vocab.metadata();
    change(vocab, metadata);
    return metadata;
}

Metadata spm_with_token(size_t id, const std::string& text, int32_t type) {
    return spm_with([&](SpmVocab& vocab, Metadata& metadata) {
        vocab.tokens.at(id) = text;
        vocab.types.at(id) = type;
        set(metadata, "tokenizer.ggml.tokens", Value::from_string_array(vocab.tokens));
        set(metadata, "tokenizer.ggml.token_type", Value::from_int32_array(vocab.types));
    });
}

Metadata spm_with_type(size_t id, int32_t type) {
    return spm_with([&](SpmVocab& vocab, Metadata& metadata) {
        vocab.types.at(id) = type;
        set(metadata, "tokenizer.ggml.token_type", Value::from_int32_array(vocab.types));
    });
}

Metadata spm_with_key(const std::string& key, Value value) {
    return spm_with([&](SpmVocab&, Metadata& metadata) { set(metadata, key, value); });
}

Metadata bpe_with_key(const std::string& key, Value value) {
    Metadata metadata = bpe_metadata();
    set(metadata, key, std::move(value));
    return metadata;
}

std::vector<HostileCase> hostile_cases() {
    const size_t n_spm = SpmVocab().tokens.size();
    const size_t byte_0 = 3;  // <0x00>
    std::vector<float> short_scores(n_spm - 1, 0.0f);
    std::vector<float> nan_scores(n_spm, 0.0f);
    nan_scores[5] = std::numeric_limits<float>::quiet_NaN();
    return {
        {"model-bert",
         [] { return spm_with_key("tokenizer.ggml.model", Value::from_string("bert")); },
         "tokenizer.ggml.model"},
        {"model-missing",
         [] {
             return spm_with([](SpmVocab&, Metadata& m) { remove_key(m, "tokenizer.ggml.model"); });
         },
         "tokenizer.ggml.model"},
        {"model-not-string", [] { return spm_with_key("tokenizer.ggml.model", u32(1)); },
         "tokenizer.ggml.model"},
        {"tokens-missing",
         [] {
             return spm_with(
                 [](SpmVocab&, Metadata& m) { remove_key(m, "tokenizer.ggml.tokens"); });
         },
         "tokenizer.ggml.tokens"},
        {"tokens-empty",
         [] {
             Metadata m = {{"tokenizer.ggml.model", Value::from_string("llama")},
                           {"tokenizer.ggml.tokens", Value::from_string_array({})}};
             return m;
         },
         "tokenizer.ggml.tokens"},
        {"tokens-not-strings",
         [] {
             return spm_with_key("tokenizer.ggml.tokens", Value::from_int32_array({1, 2, 3}));
         },
         "tokenizer.ggml.tokens"},
        {"token-invalid-utf8", [] { return spm_with_token(264, "a\xFF", 1); },
         "tokenizer.ggml.tokens"},
        {"token-overlong-utf8", [] { return spm_with_token(264, "\xC0\xAF", 1); },
         "tokenizer.ggml.tokens"},
        {"token-surrogate", [] { return spm_with_token(264, "\xED\xA0\x80", 1); },
         "tokenizer.ggml.tokens"},
        {"token-duplicate", [] { return spm_with_token(264, "▁abc", 1); }, "tokenizer.ggml.tokens"},
        {"byte-token-negative", [=] { return spm_with_token(byte_0, "<0x-1>", 6); },
         "tokenizer.ggml.tokens"},
        {"byte-token-not-hex", [=] { return spm_with_token(byte_0, "<0xZZ>", 6); },
         "tokenizer.ggml.tokens"},
        {"byte-token-too-large", [=] { return spm_with_token(byte_0, "<0x100>", 6); },
         "tokenizer.ggml.tokens"},
        {"byte-token-one-digit", [=] { return spm_with_token(byte_0, "<0x1>", 6); },
         "tokenizer.ggml.tokens"},
        {"byte-token-plain-text", [=] { return spm_with_token(byte_0, "x", 6); },
         "tokenizer.ggml.tokens"},
        {"bos-out-of-range",
         [=] {
             return spm_with_key("tokenizer.ggml.bos_token_id", u32(static_cast<uint32_t>(n_spm)));
         },
         "tokenizer.ggml.bos_token_id"},
        {"bos-negative", [] { return spm_with_key("tokenizer.ggml.bos_token_id", i32(-1)); },
         "tokenizer.ggml.bos_token_id"},
        {"bos-huge",
         [] {
             return spm_with_key("tokenizer.ggml.bos_token_id",
                                 Value::from_uint(ValueType::UINT64, 1ull << 40));
         },
         "tokenizer.ggml.bos_token_id"},
        {"bos-string",
         [] { return spm_with_key("tokenizer.ggml.bos_token_id", Value::from_string("1")); },
         "tokenizer.ggml.bos_token_id"},
        {"eos-out-of-range",
         [] { return spm_with_key("tokenizer.ggml.eos_token_id", u32(1u << 31)); },
         "tokenizer.ggml.eos_token_id"},
        {"eot-out-of-range",
         [] { return spm_with_key("tokenizer.ggml.eot_token_id", u32(100000)); },
         "tokenizer.ggml.eot_token_id"},
        {"unknown-out-of-range",
         [] { return spm_with_key("tokenizer.ggml.unknown_token_id", u32(100000)); },
         "tokenizer.ggml.unknown_token_id"},
        {"padding-out-of-range",
         [] { return spm_with_key("tokenizer.ggml.padding_token_id", u32(100000)); },
         "tokenizer.ggml.padding_token_id"},
        {"scores-int32",
         [=] {
             return spm_with_key("tokenizer.ggml.scores",
                                 Value::from_int32_array(std::vector<int32_t>(n_spm, 0)));
         },
         "tokenizer.ggml.scores"},
        {"scores-float64",
         [=] {
             return spm_with_key(
                 "tokenizer.ggml.scores",
                 Value::from_scalar_array(ValueType::FLOAT64, std::vector<uint8_t>(8 * n_spm, 0)));
         },
         "tokenizer.ggml.scores"},
        {"scores-short",
         [=] {
             return spm_with_key("tokenizer.ggml.scores", Value::from_float_array(short_scores));
         },
         "tokenizer.ggml.scores"},
        {"scores-nan",
         [=] { return spm_with_key("tokenizer.ggml.scores", Value::from_float_array(nan_scores)); },
         "tokenizer.ggml.scores"},
        {"scores-not-array",
         [] {
             return spm_with_key("tokenizer.ggml.scores",
                                 Value::from_float(ValueType::FLOAT32, 1.0));
         },
         "tokenizer.ggml.scores"},
        {"token-type-zero", [] { return spm_with_type(264, 0); }, "tokenizer.ggml.token_type"},
        {"token-type-seven", [] { return spm_with_type(264, 7); }, "tokenizer.ggml.token_type"},
        {"token-type-negative", [] { return spm_with_type(264, -1); }, "tokenizer.ggml.token_type"},
        {"token-type-uint8",
         [=] {
             return spm_with_key(
                 "tokenizer.ggml.token_type",
                 Value::from_scalar_array(ValueType::UINT8, std::vector<uint8_t>(n_spm, 1)));
         },
         "tokenizer.ggml.token_type"},
        {"token-type-long",
         [=] {
             return spm_with_key("tokenizer.ggml.token_type",
                                 Value::from_int32_array(std::vector<int32_t>(n_spm + 1, 1)));
         },
         "tokenizer.ggml.token_type"},
        {"add-bos-string",
         [] { return spm_with_key("tokenizer.ggml.add_bos_token", Value::from_string("yes")); },
         "tokenizer.ggml.add_bos_token"},
        {"add-space-prefix-int",
         [] { return spm_with_key("tokenizer.ggml.add_space_prefix", u32(1)); },
         "tokenizer.ggml.add_space_prefix"},
        {"pre-not-string", [] { return bpe_with_key("tokenizer.ggml.pre", u32(3)); },
         "tokenizer.ggml.pre"},
        {"pre-unknown",
         [] { return bpe_with_key("tokenizer.ggml.pre", Value::from_string("no-such-pre")); },
         "tokenizer.ggml.pre"},
        {"merges-missing",
         [] {
             Metadata m = bpe_metadata();
             remove_key(m, "tokenizer.ggml.merges");
             return m;
         },
         "tokenizer.ggml.merges"},
        {"merges-not-strings",
         [] { return bpe_with_key("tokenizer.ggml.merges", Value::from_int32_array({1})); },
         "tokenizer.ggml.merges"},
        {"merge-without-space",
         [] { return bpe_with_key("tokenizer.ggml.merges", Value::from_string_array({"Ġt"})); },
         "tokenizer.ggml.merges"},
    };
}

TEST(TokenizerHostile, EveryFaultIsRejectedNamingFileAndKey) {
    for (const HostileCase& c : hostile_cases()) {
        const std::string path = write_vocab(c.name, c.metadata());
        const gguf::File file = gguf::File::open(path);
        try {
            (void)Tokenizer::from_gguf(file);
            ADD_FAILURE() << c.name << ": accepted";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(path), std::string::npos) << c.name << ": " << what;
            EXPECT_NE(what.find(c.key), std::string::npos) << c.name << ": " << what;
        }
    }
}

TEST(TokenizerHostile, OdditiesTokenizeWithoutACrash) {
    // An empty token text: kept, never matched.
    {
        const Tokenizer t = load("empty-token", spm_with_token(264, "", 1));
        EXPECT_EQ(t.token_text(264), "");
        EXPECT_EQ(t.find(""), std::nullopt);
        EXPECT_FALSE(t.encode("abc ").empty());
    }
    // No byte tokens: a character the vocabulary lacks becomes <unk>, once.
    {
        SpmVocab vocab;
        vocab.tokens.erase(vocab.tokens.begin() + 3, vocab.tokens.begin() + 259);
        vocab.scores.erase(vocab.scores.begin() + 3, vocab.scores.begin() + 259);
        vocab.types.erase(vocab.types.begin() + 3, vocab.types.begin() + 259);
        const Tokenizer t = load("no-byte-tokens", vocab.metadata());
        const int32_t space = t.find("▁").value();
        EXPECT_EQ(t.encode("日", {.add_special = false}), (std::vector<int32_t>{space, 0}));
    }
    // One token and no special ids in range: no BOS to add.
    {
        const Metadata m = {{"tokenizer.ggml.model", Value::from_string("llama")},
                            {"tokenizer.ggml.tokens", Value::from_string_array({"a"})}};
        const Tokenizer t = load("one-token", m);
        EXPECT_EQ(t.bos(), -1);
        EXPECT_EQ(t.eos(), -1);
        EXPECT_FALSE(t.adds_bos());
        // "▁a▁a": ▁ has no token nor byte tokens, so <unk>, which defaults to id 0 ("a").
        EXPECT_EQ(t.encode("a a"), (std::vector<int32_t>{0, 0, 0, 0}));
    }
    // Infinite scores, unused tokens, and special texts that overlap one another.
    {
        const Metadata m = spm_with([](SpmVocab& vocab, Metadata& metadata) {
            vocab.scores[262] = -std::numeric_limits<float>::infinity();
            vocab.scores[263] = std::numeric_limits<float>::infinity();
            vocab.types[264] = 5;
            vocab.add("<a><", 0.0f, 4);
            vocab.add("><a>", 0.0f, 4);
            vocab.add("<a>", 0.0f, 3);
            vocab.add("<|end|>", 0.0f, 1);
            set(metadata, "tokenizer.ggml.tokens", Value::from_string_array(vocab.tokens));
            set(metadata, "tokenizer.ggml.scores", Value::from_float_array(vocab.scores));
            set(metadata, "tokenizer.ggml.token_type", Value::from_int32_array(vocab.types));
        });
        const Tokenizer t = load("overlaps", m);
        for (const bool parse_special : {false, true}) {
            const std::vector<int32_t> ids =
                t.encode("<a><a>< a>abc<|end|>", {.parse_special = parse_special});
            for (int32_t id : ids) EXPECT_TRUE(id >= 0 && static_cast<uint32_t>(id) < t.n_vocab());
        }
        EXPECT_EQ(t.token_to_piece(264), "");  // unused
        // Named like an end-of-turn token: ends generation, and hides like a control token.
        const int32_t end = t.find("<|end|>").value();
        EXPECT_TRUE(t.is_end_of_generation(end));
        EXPECT_EQ(t.eot(), end);
        EXPECT_EQ(t.token_to_piece(end), "");
        EXPECT_EQ(t.token_to_piece(end, true), "<|end|>");
    }
    // A merge of texts that are no tokens: accepted as llama.cpp accepts it, and harmless.
    {
        const Tokenizer t = load("bpe-merge-of-no-tokens",
                                 bpe_with_key("tokenizer.ggml.merges",
                                              Value::from_string_array({"Ġ t", "qq zz", "Ġt h"})));
        EXPECT_EQ(t.decode(t.encode(" the qqzz")), " the qqzz");
    }
    // A byte-level vocabulary without tokenizer.ggml.pre: llama.cpp's "default".
    {
        Metadata m = bpe_metadata();
        remove_key(m, "tokenizer.ggml.pre");
        const Tokenizer t = load("bpe-no-pre", m);
        EXPECT_EQ(t.pre_name(), "default");
        EXPECT_EQ(t.decode(t.encode("the thing")), "the thing");
    }
}

// Random bytes: half of them valid UTF-8 from a mix of scripts, half anything at all, some with
// special-token text inside.
std::string random_text(std::mt19937& rng) {
    static const char* const kPieces[] = {" ",
                                          "  ",
                                          "\n",
                                          "\t",
                                          "\r\n",
                                          "a",
                                          "Z",
                                          "7",
                                          "é",
                                          "ß",
                                          "中",
                                          "文",
                                          "日本",
                                          "🦙",
                                          "👩🏽‍💻",
                                          "\u200d",
                                          "<s>",
                                          "</s>",
                                          "<|endoftext|>",
                                          "<|end|>",
                                          "<｜end▁of▁sentence｜>",
                                          "▁",
                                          "Ġ",
                                          "'s",
                                          "...",
                                          "ø",
                                          "<0x0A>"};
    std::uniform_int_distribution<int> length(0, 48);
    std::uniform_int_distribution<int> coin(0, 1);
    std::uniform_int_distribution<size_t> piece(0, std::size(kPieces) - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    const bool valid = coin(rng) == 0;
    std::string text;
    for (int i = length(rng); i > 0; --i) {
        if (valid || coin(rng) == 0) {
            text += kPieces[piece(rng)];
        } else {
            text += static_cast<char>(byte(rng));
        }
    }
    return text;
}

std::string escaped(const std::string& text) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<uint8_t>(c);
        if (byte >= 0x20 && byte < 0x7F) {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
        }
    }
    return out;
}

// Which texts decode(encode(x)) gives back. SentencePiece reads ▁ in the text as a space, and
// cuts invalid UTF-8 where a lead byte says, so that a broken character can take the first byte
// of an escaped space along into byte tokens (as llama.cpp does). Byte-level vocabularies
// spell any bytes, except where they lack the characters of bytes that no UTF-8 text has
// (deepseek-llm and starcoder).
bool round_trips(const std::string& vocab, const std::string& text) {
    if (vocab == "gpt-2") return true;
    const bool spm = vocab == "llama-spm" || vocab == "phi-3";
    return utf8::is_valid(text) && !(spm && text.find("▁") != std::string::npos);
}

TEST(TokenizerHostile, RandomBytesThroughEverySharedVocabulary) {
    constexpr int kStrings = 2000;
    for (const std::string name : {"llama-spm", "phi-3", "gpt-2", "deepseek-llm", "starcoder"}) {
        const Tokenizer t = Tokenizer::from_gguf(
            gguf::File::open(test::testdata_dir() + "/vocab/ggml-vocab-" + name + ".gguf"));
        std::mt19937 rng(20261128);
        size_t checked = 0, mismatches = 0;
        for (int i = 0; i < kStrings; ++i) {
            const std::string text = random_text(rng);
            for (const bool parse_special : {false, true}) {
                const std::vector<int32_t> ids =
                    t.encode(text, {.add_special = true, .parse_special = parse_special});
                for (const int32_t id : ids) {
                    ASSERT_TRUE(id >= 0 && static_cast<uint32_t>(id) < t.n_vocab())
                        << name << ": id " << id;
                }
                const std::string decoded = t.decode(ids, parse_special);
                if (!parse_special && round_trips(name, text)) {
                    ++checked;
                    if (decoded != text && ++mismatches <= 3) {
                        ADD_FAILURE() << name << ": \"" << escaped(text) << "\" decodes to \""
                                      << escaped(decoded) << "\"";
                    }
                }
                TokenStreamer streamer(t, parse_special);
                std::string streamed;
                for (const int32_t id : ids) streamed += streamer.push(id);
                streamed += streamer.flush();
                EXPECT_TRUE(utf8::is_valid(streamed)) << name;
            }
        }
        EXPECT_GT(checked, 250u) << name;
        EXPECT_EQ(mismatches, 0u) << name << ": decode(encode(x)) != x";
    }
}

}  // namespace
}  // namespace tessera

// TokenStreamer on the llama-spm vocabulary: a character spelt over several byte tokens comes out
// whole once its last byte arrives and never in part, invalid bytes come out as U+FFFD, control
// tokens print only when asked for, and the space SentencePiece puts in front is taken off the
// first piece only.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "formats/gguf/file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

Tokenizer llama_spm() {
    return Tokenizer::from_gguf(
        gguf::File::open(test::testdata_dir() + "/vocab/ggml-vocab-llama-spm.gguf"));
}

int32_t byte_token(const Tokenizer& tokenizer, uint8_t byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const std::string text = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
    const std::optional<int32_t> id = tokenizer.find(text);
    EXPECT_TRUE(id) << text;
    return id.value_or(0);
}

TEST(TokenizerStreamer, EmojiOverByteTokensComesOutWhole) {
    const Tokenizer tokenizer = llama_spm();
    // 🦙 (F0 9F A6 99) is not in the vocabulary: four byte tokens.
    const std::vector<int32_t> ids = tokenizer.encode("🦙", {.add_special = false});
    ASSERT_EQ(ids.size(), 5u);  // ▁ then the four bytes
    TokenStreamer streamer(tokenizer);
    EXPECT_EQ(streamer.push(ids[0]), "");  // the leading space is taken off
    EXPECT_EQ(streamer.push(ids[1]), "");
    EXPECT_EQ(streamer.push(ids[2]), "");
    EXPECT_EQ(streamer.push(ids[3]), "");
    EXPECT_EQ(streamer.push(ids[4]), "🦙");
    EXPECT_EQ(streamer.flush(), "");
}

TEST(TokenizerStreamer, ZwjSequenceAndSkinToneNeverSplitACharacter) {
    const Tokenizer tokenizer = llama_spm();
    const std::string text = "a 👩🏽‍💻 and 👨‍👩‍👧 é 中文 done";
    const std::vector<int32_t> ids = tokenizer.encode(text);
    TokenStreamer streamer(tokenizer);
    std::string streamed;
    for (const int32_t id : ids) {
        const std::string out = streamer.push(id);
        EXPECT_TRUE(utf8::is_valid(out)) << "partial character after token " << id;
        streamed += out;
    }
    streamed += streamer.flush();
    EXPECT_EQ(streamed, text);
}

TEST(TokenizerStreamer, InvalidBytesBecomeReplacementCharacters) {
    const Tokenizer tokenizer = llama_spm();
    TokenStreamer streamer(tokenizer);
    // A continuation byte alone can start nothing: U+FFFD at once.
    EXPECT_EQ(streamer.push(byte_token(tokenizer, 0x80)), "\xEF\xBF\xBD");
    // A lead byte followed by ASCII: the lead byte is invalid, the ASCII stays.
    EXPECT_EQ(streamer.push(byte_token(tokenizer, 0xE4)), "");
    EXPECT_EQ(streamer.push(byte_token(tokenizer, 'x')), "\xEF\xBF\xBDx");
    // An unfinished character at the end: flush gives U+FFFD.
    EXPECT_EQ(streamer.push(byte_token(tokenizer, 0xF0)), "");
    EXPECT_EQ(streamer.push(byte_token(tokenizer, 0x9F)), "");
    EXPECT_EQ(streamer.flush(), "\xEF\xBF\xBD");
    EXPECT_EQ(streamer.flush(), "");
}

TEST(TokenizerStreamer, ControlTokensOnlyWhenAsked) {
    const Tokenizer tokenizer = llama_spm();
    const std::vector<int32_t> ids = tokenizer.encode("Hi there");  // <s> ▁Hi ▁there
    ASSERT_EQ(ids.front(), tokenizer.bos());
    std::string plain, special;
    TokenStreamer plain_streamer(tokenizer);
    TokenStreamer special_streamer(tokenizer, true);
    for (const int32_t id : ids) {
        plain += plain_streamer.push(id);
        special += special_streamer.push(id);
    }
    plain += plain_streamer.push(tokenizer.eos());
    special += special_streamer.push(tokenizer.eos());
    EXPECT_EQ(plain, "Hi there");
    EXPECT_EQ(special, "<s> Hi there</s>");
    EXPECT_EQ(tokenizer.decode(ids), plain);
}

TEST(TokenizerStreamer, OnlyTheFirstPieceLosesItsSpace) {
    const Tokenizer tokenizer = llama_spm();
    const std::vector<int32_t> ids = tokenizer.encode(" two  spaces", {.add_special = false});
    TokenStreamer streamer(tokenizer);
    std::string streamed;
    for (const int32_t id : ids) streamed += streamer.push(id);
    EXPECT_EQ(streamed + streamer.flush(), " two  spaces");
}

}  // namespace
}  // namespace tessera

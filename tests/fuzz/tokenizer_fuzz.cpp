// libFuzzer target for the tokenizers. The shared vocabularies (SentencePiece and byte-level BPE
// with several pre-tokenizers) are loaded once; the first byte of an input picks one and the rest
// is the text. The text is encoded with and without special tokens added and parsed, and each
// result is decoded and streamed back with and without special tokens printed. What the API
// promises is checked: ids in range, the streamer's text always valid UTF-8 and, whenever
// decode's text is valid UTF-8, the same text; and decode(encode(x)) == x where the vocabulary can
// spell x (see round_trips). Anything else -- a crash, a sanitizer report, an exception, a hang --
// is a bug, and aborts so that libFuzzer saves the input.
//   TESSERA_TESTDATA=../shared/testdata tokenizer_fuzz CORPUS...
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace {

using tessera::EncodeOptions;
using tessera::Tokenizer;
using tessera::TokenStreamer;
namespace utf8 = tessera::utf8;

struct Vocabulary {
    std::string name;
    Tokenizer tokenizer;
    // Byte-level BPE: the bytes the vocabulary has a token of their own for. A byte without one
    // (deepseek-llm and starcoder lack those of unassigned Unicode planes, such as 0xF1) is
    // dropped by encode, as llama.cpp drops it, so a text holding one cannot round-trip; nor can
    // one whose token is shadowed by an added token of the same text.
    std::array<bool, 256> byte_has_token{};
};

std::vector<Vocabulary>& vocabularies() {
    static std::vector<Vocabulary> loaded;
    return loaded;
}

[[noreturn]] void bug(const Vocabulary& vocab, const std::string& what) {
    std::fprintf(stderr, "tokenizer_fuzz: %s: %s\n", vocab.name.c_str(), what.c_str());
    std::abort();
}

// Which texts decode(encode(x)) gives back. SentencePiece reads ▁ in the text as a space and
// cuts invalid UTF-8 where a lead byte says; byte-level BPE spells any text whose bytes all have
// tokens.
bool round_trips(const Vocabulary& vocab, std::string_view text) {
    if (vocab.tokenizer.model_name() == "gpt2") {
        for (const char c : text) {
            if (!vocab.byte_has_token[static_cast<uint8_t>(c)]) return false;
        }
        return true;
    }
    return utf8::is_valid(text) && text.find("▁") == std::string_view::npos;
}

void check(const Vocabulary& vocab, std::string_view text, const EncodeOptions& options) {
    const Tokenizer& t = vocab.tokenizer;
    const std::vector<int32_t> ids = t.encode(text, options);
    for (const int32_t id : ids) {
        if (id < 0 || static_cast<uint32_t>(id) >= t.n_vocab()) {
            bug(vocab, "encode gave the id " + std::to_string(id) + ", outside the vocabulary");
        }
    }
    for (const bool special : {false, true}) {
        const std::string decoded = t.decode(ids, special);
        TokenStreamer streamer(t, special);
        std::string streamed;
        for (const int32_t id : ids) {
            const std::string piece = streamer.push(id);
            if (!utf8::is_valid(piece)) bug(vocab, "the streamer printed invalid UTF-8");
            streamed += piece;
        }
        const std::string rest = streamer.flush();
        if (!utf8::is_valid(rest)) bug(vocab, "the streamer's flush gave invalid UTF-8");
        streamed += rest;
        // The streamer holds back only what is not yet a whole character, so when the whole text
        // is valid it prints exactly that text.
        if (utf8::is_valid(decoded) && streamed != decoded) {
            bug(vocab, "the streamer printed other text than decode gave");
        }
        if (!options.parse_special && !special && round_trips(vocab, text) && decoded != text) {
            bug(vocab, "decode(encode(text)) is not the text");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* env = std::getenv("TESSERA_TESTDATA");
    const std::string testdata = env != nullptr && *env != '\0' ? env : TESSERA_TESTDATA_DIR;
    // The order is the meaning of an input's first byte: append, never reorder, or the corpus
    // means other things.
    for (const char* name : {"llama-spm", "phi-3", "gpt-2", "deepseek-llm", "starcoder"}) {
        const std::string path = testdata + "/vocab/ggml-vocab-" + name + ".gguf";
        try {
            Vocabulary vocab{name, Tokenizer::from_gguf(tessera::gguf::File::open(path)), {}};
            if (vocab.tokenizer.model_name() == "gpt2") {
                const Tokenizer& t = vocab.tokenizer;
                for (int32_t id = 0; id < static_cast<int32_t>(t.n_vocab()); ++id) {
                    const std::string& text = t.token_text(id);
                    const std::string bytes = tessera::BpeTokenizer::token_bytes(text);
                    // The token encode finds for the byte must also print as that byte: in
                    // deepseek-llm an added token "÷" shadows the byte token of 0xF7.
                    if (bytes.size() == 1 && t.find(text) == id && t.token_to_piece(id) == bytes) {
                        vocab.byte_has_token[static_cast<uint8_t>(bytes[0])] = true;
                    }
                }
            }
            vocabularies().push_back(std::move(vocab));
        } catch (const tessera::Error& error) {
            std::fprintf(stderr, "tokenizer_fuzz: cannot load %s (set TESSERA_TESTDATA): %s\n",
                         path.c_str(), error.what());
            std::exit(2);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const Vocabulary& vocab = vocabularies()[data[0] % vocabularies().size()];
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    for (const bool add_special : {false, true}) {
        for (const bool parse_special : {false, true}) {
            // No tessera::Error is expected either: any text tokenizes (only one of over 512 MiB
            // is refused, and the fuzzer's inputs are far shorter).
            check(vocab, text, {.add_special = add_special, .parse_special = parse_special});
        }
    }
    return 0;
}

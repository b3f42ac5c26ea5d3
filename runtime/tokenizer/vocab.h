// The vocabulary a GGUF file carries (tokenizer.ggml.*), read and checked once, with what
// llama.cpp derives from it (src/llama-vocab.cpp, llama_vocab::impl::load): the default special
// ids and flags of each tokenizer model and pre-tokenizer, the tokens that end generation, the
// tokens whose text is cut out of the input before tokenizing, and the per-token attributes that
// decide how a token prints.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"

namespace tessera::gguf {
class File;
}

namespace tessera {

enum class VocabFamily : uint8_t {
    SentencePiece,     // tokenizer.ggml.model "llama"
    BytePairEncoding,  // tokenizer.ggml.model "gpt2"
};

// llama.cpp's llama_token_attr bits that tessera uses. A token's kind gives its first bits; the
// vocabulary's loader adds more (a token named like an end-of-turn token becomes Control).
namespace token_attr {
inline constexpr uint16_t kNormal = 1 << 0;
inline constexpr uint16_t kUnknown = 1 << 1;
inline constexpr uint16_t kControl = 1 << 2;
inline constexpr uint16_t kUserDefined = 1 << 3;
inline constexpr uint16_t kUnused = 1 << 4;
inline constexpr uint16_t kByte = 1 << 5;
inline constexpr uint16_t kLstrip = 1 << 6;  // whitespace before its text goes with it
inline constexpr uint16_t kRstrip = 1 << 7;  // whitespace after its text goes with it
inline constexpr uint16_t kEndOfGeneration = 1 << 8;
}  // namespace token_attr

class Vocab {
  public:
    // Reads and checks tokenizer.ggml.*. Throws tessera::Error naming the file and the key.
    static Vocab read(const gguf::File& file);

    // The index holds views of `tokens`; a move keeps them valid (the strings stay where they
    // are), a copy would not.
    Vocab(Vocab&&) noexcept = default;
    Vocab& operator=(Vocab&&) noexcept = default;
    Vocab(const Vocab&) = delete;
    Vocab& operator=(const Vocab&) = delete;

    uint32_t size() const { return static_cast<uint32_t>(tokens.size()); }
    bool contains(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < tokens.size(); }
    std::optional<int32_t> find(std::string_view text) const;
    bool has(int32_t id, uint16_t attribute) const { return (attributes[id] & attribute) != 0; }

    std::string path;
    std::string model;  // "llama", "gpt2"
    VocabFamily family = VocabFamily::SentencePiece;
    std::string pre;  // tokenizer.ggml.pre; "default" when absent

    std::vector<std::string> tokens;
    std::vector<float> scores;         // 0 throughout when the file has none
    std::vector<TokenKind> kinds;      // as stored; Normal throughout when the file has none
    std::vector<uint16_t> attributes;  // token_attr bits
    std::vector<std::string> merges;   // byte-level BPE only

    int32_t bos = -1;
    int32_t eos = -1;
    int32_t eot = -1;
    int32_t unknown = -1;
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = false;
    // A pre-tokenized word that is a token is taken whole, without merges (llama3 and kin).
    bool ignore_merges = false;

    // The control, user-defined and unknown tokens, longest text first (then by id): the order
    // in which their text is cut out of the input.
    std::vector<int32_t> special_tokens;
    // SentencePiece byte fallback: the token for each byte, "<0xNN>" or else the byte as a
    // one-character token; -1 where the vocabulary has neither.
    std::array<int32_t, 256> byte_tokens{};

  private:
    Vocab() = default;
    std::unordered_map<std::string_view, int32_t> index_;
};

}  // namespace tessera

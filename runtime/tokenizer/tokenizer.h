// Text to token ids and back, exactly as the model's own tokenizer does it, from the vocabulary a
// GGUF file carries (tokenizer.ggml.*). Two families:
//   - "llama": SentencePiece-style, score-driven merges with byte fallback (Llama 2, Gemma, Phi-3);
//   - "gpt2":  byte-level BPE with ranked merges after a pre-tokenizer split named by
//              tokenizer.ggml.pre (llama3, qwen2, deepseek, starcoder, ...).
//
// A Tokenizer is immutable once built and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::gguf {
class File;
}

namespace tessera {

// tokenizer.ggml.token_type, as llama.cpp numbers it.
enum class TokenKind : uint8_t {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

struct EncodeOptions {
    // Add BOS (and EOS) when the vocabulary asks for them (tokenizer.ggml.add_bos_token, ...).
    bool add_special = true;
    // Recognise the text of control and user-defined tokens ("<start_of_turn>") as those tokens.
    // On for rendered chat templates, off for raw user text.
    bool parse_special = false;
};

class Tokenizer {
  public:
    // Reads and checks the vocabulary. Throws tessera::Error naming the file and key for a
    // missing or malformed one: an unknown model or pre-tokenizer, arrays of the wrong type or
    // length, a special token id out of range, a byte token that is not <0xNN>.
    static Tokenizer from_gguf(const gguf::File& file);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;

    // The bytes a token stands for. Control tokens (and other special ones) give their text only
    // when `special` is true, and nothing otherwise. The bytes need not be whole UTF-8
    // characters: use TokenStreamer to print.
    std::string token_to_piece(int32_t id, bool special = false) const;
    // The text of a sequence. The leading space SentencePiece adds is removed as it does.
    std::string decode(std::span<const int32_t> ids, bool special = false) const;

    uint32_t n_vocab() const;
    // The token's string in the vocabulary, as stored (SentencePiece's ▁, byte-level BPE's Ġ).
    const std::string& token_text(int32_t id) const;
    TokenKind kind(int32_t id) const;
    // The id of a token whose stored text is exactly `text`.
    std::optional<int32_t> find(std::string_view text) const;

    std::string_view model_name() const;  // "llama", "gpt2"
    std::string_view pre_name() const;    // "default", "llama-bpe", "qwen2", ...

    // Special ids; -1 when the vocabulary has none.
    int32_t bos() const;
    int32_t eos() const;
    int32_t eot() const;
    bool adds_bos() const;
    bool adds_eos() const;
    // Whether encoding puts a space in front of the text (tokenizer.ggml.add_space_prefix), which
    // decode() and TokenStreamer take off again.
    bool adds_space_prefix() const;
    // True for every id that ends generation: EOS, EOT and the end-of-turn tokens a vocabulary
    // marks or names (<end_of_turn>, <|eot_id|>, <|im_end|>, <|endoftext|>, ...).
    bool is_end_of_generation(int32_t id) const;

  private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Turns generated tokens into printable text as they come: bytes that do not yet form a whole
// UTF-8 character are held back until they do, so a terminal never sees half a character. The
// first token that prints starts the text, as in decode(): the space SentencePiece put in front
// is taken off it.
class TokenStreamer {
  public:
    explicit TokenStreamer(const Tokenizer& tokenizer, bool special = false);
    // The text that became complete with this token (possibly empty): always valid UTF-8, bytes
    // that can start no character given as U+FFFD.
    std::string push(int32_t id);
    // What is still held back, with invalid sequences as U+FFFD; the streamer is then empty.
    std::string flush();

  private:
    const Tokenizer& tokenizer_;
    bool special_;
    bool first_ = true;
    std::string pending_;
};

}  // namespace tessera

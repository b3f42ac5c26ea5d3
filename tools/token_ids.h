// Token ids as the commands take them besides text (--prompt-ids, --ids-file): written out by
// the user ("2 1437 5 ..."), on the command line or in a file, and the special ids that a GGUF
// file's tokenizer metadata names (BOS, EOS, EOT).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf/file.h"

namespace tessera::tools {

// Parses whitespace-separated decimal ids (commas are taken as spaces too). Throws
// tessera::Error naming `source` and the offending word for anything that is not an id.
std::vector<int32_t> parse_token_ids(const std::string& text, const std::string& source);
// Reads and parses a file of ids; tessera::Error naming the file when unreadable.
std::vector<int32_t> read_token_ids_file(const std::string& path);
// Throws tessera::Error naming `source`, the position and the id of the first id outside
// [0, n_vocab).
void check_token_ids(std::span<const int32_t> ids, uint32_t n_vocab, const std::string& source);

// What the tokenizer metadata says about special tokens (llama.cpp's keys and defaults).
struct SpecialTokens {
    std::optional<int32_t> bos;  // tokenizer.ggml.bos_token_id
    std::optional<int32_t> eos;  // tokenizer.ggml.eos_token_id
    std::optional<int32_t> eot;  // tokenizer.ggml.eot_token_id
    // Whether tokenizing adds BOS in front: tokenizer.ggml.add_bos_token, else llama.cpp's
    // default for the tokenizer model (true for "llama" (SentencePiece) and "bert", false for
    // the others); never without a BOS id.
    bool add_bos = false;

    // The ids that end generation: EOS and EOT, those that exist.
    bool ends_generation(int32_t token) const { return token == eos || token == eot; }
};

// Throws tessera::Error naming the key when one has a type that does not fit.
SpecialTokens read_special_tokens(const gguf::File& file);

}  // namespace tessera::tools

// A model's hyper-parameters, read from the `<arch>.*` keys of its GGUF file with llama.cpp's
// names, defaults and conventions (llama_model::load_hparams), so that a file means here what
// it means there. Architecture-specific keys and defaults (Gemma 3's sliding-window layers, its
// attention scale) are added by the architecture (runtime/models/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf/file.h"

namespace tessera {

struct HParams {
    std::string architecture;  // general.architecture: "llama", "gemma3", ...

    uint32_t n_ctx_train = 0;  // context_length: the context the model was trained for
    uint32_t n_embd = 0;       // embedding_length
    // The main model's blocks: block_count less the next-n blocks that follow them (llama.cpp's
    // convention: block_count counts both, and the main forward pass runs the first n_layer).
    uint32_t n_layer = 0;
    uint32_t n_ff = 0;        // feed_forward_length
    uint32_t n_head = 0;      // attention.head_count
    uint32_t n_head_kv = 0;   // attention.head_count_kv (default: n_head)
    uint32_t head_dim_k = 0;  // attention.key_length (default: n_embd / n_head)
    uint32_t head_dim_v = 0;  // attention.value_length (default: n_embd / n_head)
    uint32_t n_vocab = 0;     // rows of token_embd
    float rms_eps = 0.0f;     // attention.layer_norm_rms_epsilon

    // Rotary embeddings of full-attention layers.
    uint32_t n_rot = 0;               // rope.dimension_count (default: head_dim_k)
    float rope_freq_base = 10000.0f;  // rope.freq_base
    float rope_freq_scale = 1.0f;     // 1 / rope.scaling.factor for "linear", 1 for "none"

    // Sliding-window attention: the window in positions (0: none) and which layers use it.
    // A sliding layer's query at position p sees keys at positions p - n_swa + 1 .. p.
    uint32_t n_swa = 0;
    std::vector<bool> swa_layers;         // one per layer
    float rope_freq_base_swa = 10000.0f;  // rope.freq_base_swa (llama.cpp's default)
    float rope_freq_scale_swa = 1.0f;

    // Scale of attention scores; 0 means 1 / sqrt(head_dim_k).
    float attention_scale = 0.0f;
    float final_logit_softcap = 0.0f;  // final_logit_softcapping; 0: none

    // Speculative draft heads stored in the file (docs/speculative-heads.md).
    uint32_t n_nextn_layer = 0;   // nextn_predict_layers: next-n blocks after the main ones
    uint32_t n_medusa_head = 0;   // medusa.head_count: Medusa heads
    uint32_t n_medusa_layer = 0;  // medusa.layer_count: residual blocks per head (default 1)

    bool is_swa(uint32_t layer) const { return layer < swa_layers.size() && swa_layers[layer]; }
    float layer_rope_freq_base(uint32_t layer) const {
        return is_swa(layer) ? rope_freq_base_swa : rope_freq_base;
    }
    float layer_rope_freq_scale(uint32_t layer) const {
        return is_swa(layer) ? rope_freq_scale_swa : rope_freq_scale;
    }
    float kq_scale() const;
};

// Reads the keys every architecture shares and checks that they are consistent. Throws
// tessera::Error naming the file and the key.
HParams read_hparams(const gguf::File& file);

// Keys of the model's architecture: "<architecture>.<suffix>".
std::string arch_key(const HParams& hparams, const char* suffix);

// Optional keys, typed, for architectures' own hyper-parameters: false when the key is absent,
// an Error naming the file and key when it has a type that does not fit.
bool read_optional(const gguf::File& file, const std::string& key, uint32_t& value);
bool read_optional(const gguf::File& file, const std::string& key, float& value);

// Marks layers as sliding-window ones in llama.cpp's pattern of period n: the last layer of each
// n is a full-attention one (n = 6: five sliding layers, then one full); n = 0 marks all.
void set_swa_pattern(HParams& hparams, uint32_t period);

}  // namespace tessera

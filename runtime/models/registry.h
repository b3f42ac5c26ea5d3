// The architectures tessera runs, each in its own file under runtime/models/: what it reads from
// a GGUF file (its hyper-parameters and weights, with llama.cpp's names and shapes) and its
// forward pass.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf/file.h"
#include "runtime/graph_builder.h"
#include "runtime/hparams.h"

namespace tessera {

class Forward;

// How a weight is used, which decides the types it may have.
enum class WeightRole : uint8_t {
    Matrix,  // multiplied or looked up: any type with a codec
    Vector,  // a norm weight or a bias, applied element-wise: f32
};

struct WeightSpec {
    std::string name;  // "blk.3.attn_q.weight"
    Shape shape;       // ggml order
    WeightRole role = WeightRole::Matrix;
    bool required = true;
};

struct Architecture {
    std::string_view name;  // general.architecture
    // Reads the architecture's own keys and defaults on top of the shared ones.
    void (*load_hparams)(const gguf::File& file, HParams& hparams);
    // Every weight a file of this architecture may hold. A file with a required one missing, one
    // of another shape, or a tensor not listed does not load.
    std::vector<WeightSpec> (*weights)(const HParams& hparams);
    // Builds the forward pass over the tokens of `forward` and returns the logits,
    // [n_vocab, rows kept].
    TensorId (*forward)(Forward& forward);
    // One decoder block over x [n_embd, m]: layer `layer` of the main model, or a next-n block
    // (layer >= n_layer), which runs exactly like a main block over all its rows.
    TensorId (*block)(Forward& forward, uint32_t layer, TensorId x);
};

std::span<const Architecture> architectures();
// nullptr for an architecture tessera does not run.
const Architecture* find_architecture(std::string_view name);
// "gemma3, llama, qwen2, qwen3", for errors.
std::string supported_architectures();

// The definitions, one per file.
extern const Architecture kLlamaArchitecture;
extern const Architecture kQwen2Architecture;
extern const Architecture kQwen3Architecture;
extern const Architecture kGemma3Architecture;

}  // namespace tessera

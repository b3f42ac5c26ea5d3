// The targets of `tessera quantize` and the type each tensor gets, as llama.cpp's llama-quantize
// chooses them (src/llama-quant.cpp, llama_tensor_get_type) without an importance matrix: the
// _S/_M/_L mixes that keep the sensitive tensors (output, attn_v, ffn_down, ...) in more bits,
// --pure, which puts every quantizable tensor in the base type, and the fallback to a 32-element
// type when a row is not a whole number of 256-element blocks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf/file.h"
#include "formats/quant/tensor_type.h"

namespace tessera {

// llama.cpp's llama_ftype values: what a file says it is in general.file_type.
enum class FileType : uint32_t {
    ALL_F32 = 0,
    MOSTLY_F16 = 1,
    MOSTLY_Q4_0 = 2,
    MOSTLY_Q4_1 = 3,
    MOSTLY_Q8_0 = 7,
    MOSTLY_Q5_0 = 8,
    MOSTLY_Q5_1 = 9,
    MOSTLY_Q2_K = 10,
    MOSTLY_Q3_K_S = 11,
    MOSTLY_Q3_K_M = 12,
    MOSTLY_Q3_K_L = 13,
    MOSTLY_Q4_K_S = 14,
    MOSTLY_Q4_K_M = 15,
    MOSTLY_Q5_K_S = 16,
    MOSTLY_Q5_K_M = 17,
    MOSTLY_Q6_K = 18,
    MOSTLY_Q2_K_S = 21,
    MOSTLY_BF16 = 32,
};

// A quantization target as llama-quantize names it ("Q4_K_M"), the file type it writes, and the
// type every quantizable tensor gets unless the mix says otherwise.
struct QuantTarget {
    std::string_view name;
    FileType file_type;
    quant::TensorType base_type;
};

// Every target tessera has codecs for, in llama-quantize's order.
std::span<const QuantTarget> quant_targets();
// Looks a target up by name, case-insensitively. Also takes llama-quantize's aliases (Q3_K,
// Q4_K and Q5_K mean Q3_K_M, Q4_K_M and Q5_K_M) and the file type's number ("15"). Nothing
// when unknown.
const QuantTarget* find_quant_target(std::string_view name);
// Like find_quant_target, but throws tessera::Error listing the known names.
const QuantTarget& parse_quant_target(std::string_view name);
// "F32, F16, BF16, Q4_0, ..." for messages and help.
std::string quant_target_names();

// The hyper-parameters the mix depends on, from the GGUF metadata.
struct ModelShape {
    std::string architecture;  // general.architecture
    uint32_t n_layers = 0;     // <arch>.block_count
    uint32_t n_heads = 0;      // <arch>.attention.head_count (the first layer's, when per layer)
    uint32_t n_kv_heads = 0;   // <arch>.attention.head_count_kv, n_heads when absent
    uint32_t n_experts = 0;    // <arch>.expert_count, 0 when absent

    // Reads what is there; absent keys keep the defaults above. Throws tessera::Error on a key
    // of the wrong type.
    static ModelShape from_file(const gguf::File& file);
};

// The type chosen for one tensor.
struct TensorChoice {
    size_t source_index = 0;  // in gguf::File::tensors()
    std::string name;
    std::vector<uint64_t> shape;  // ggml order, trailing 1s dropped (as llama.cpp writes it)
    quant::TensorType from = quant::TensorType::F32;
    quant::TensorType to = quant::TensorType::F32;
    bool quantizable = false;  // a weight llama.cpp quantizes at all (not a norm, not 1-D, ...)
    bool fell_back = false;    // the mix's type did not divide the row length; `to` is the fallback
};

// The type of every tensor, in llama.cpp's output order: tensors outside the blocks first, then
// block by block ("blk.N."), by name within each. The order matters: the mixes count attn_v and
// ffn_down tensors as they go. Throws tessera::Error naming the tensor when no type fits its rows,
// and when a mix needs hyper-parameters the file lacks.
std::vector<TensorChoice> choose_tensor_types(const ModelShape& model,
                                              std::span<const gguf::TensorInfo> tensors,
                                              const QuantTarget& target, bool pure);

}  // namespace tessera

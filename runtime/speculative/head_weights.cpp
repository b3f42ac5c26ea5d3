#include "runtime/speculative/head_weights.h"

#include <string_view>

#include "runtime/models/forward.h"

namespace tessera {

std::string next_n_weight_name(uint32_t block, const char* name) {
    return "blk." + std::to_string(block) + ".nextn." + name + ".weight";
}

std::string medusa_weight_name(uint32_t head, uint32_t layer) {
    return "medusa." + std::to_string(head) + "." + std::to_string(layer) + ".weight";
}

std::string medusa_bias_name(uint32_t head, uint32_t layer) {
    return "medusa." + std::to_string(head) + "." + std::to_string(layer) + ".bias";
}

std::string medusa_output_name(uint32_t head) {
    return "medusa." + std::to_string(head) + ".output.weight";
}

std::vector<WeightSpec> draft_head_weights(const HParams& hparams,
                                           const Architecture& architecture) {
    std::vector<WeightSpec> specs;
    const int64_t n_embd = hparams.n_embd;
    if (hparams.n_nextn_layer > 0) {
        // A next-n block is an ordinary block of the architecture: its tensors are the ones the
        // architecture lists for that block index when every block is counted.
        HParams every_block = hparams;
        every_block.n_layer = hparams.n_layer + hparams.n_nextn_layer;
        for (WeightSpec& spec : architecture.weights(every_block)) {
            for (uint32_t b = hparams.n_layer; b < every_block.n_layer; ++b) {
                const std::string prefix = "blk." + std::to_string(b) + ".";
                if (std::string_view(spec.name).starts_with(prefix)) {
                    specs.push_back(std::move(spec));
                    break;
                }
            }
        }
        for (uint32_t b = hparams.n_layer; b < every_block.n_layer; ++b) {
            specs.push_back(matrix_weight(next_n_weight_name(b, "eh_proj"), 2 * n_embd, n_embd));
            specs.push_back(vector_weight(next_n_weight_name(b, "enorm"), n_embd));
            specs.push_back(vector_weight(next_n_weight_name(b, "hnorm"), n_embd));
            specs.push_back(
                vector_weight(next_n_weight_name(b, "shared_head_norm"), n_embd, false));
            specs.push_back(matrix_weight(next_n_weight_name(b, "shared_head_head"), n_embd,
                                          hparams.n_vocab, false));
            specs.push_back(matrix_weight(next_n_weight_name(b, "embed_tokens"), n_embd,
                                          hparams.n_vocab, false));
        }
    }
    for (uint32_t k = 0; k < hparams.n_medusa_head; ++k) {
        for (uint32_t l = 0; l < hparams.n_medusa_layer; ++l) {
            specs.push_back(matrix_weight(medusa_weight_name(k, l), n_embd, n_embd));
            specs.push_back(vector_weight(medusa_bias_name(k, l), n_embd, false));
        }
        specs.push_back(matrix_weight(medusa_output_name(k), n_embd, hparams.n_vocab, false));
    }
    return specs;
}

}  // namespace tessera

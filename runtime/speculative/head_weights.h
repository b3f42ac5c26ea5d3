// The weights of the speculative draft heads a GGUF file may hold next to its model
// (docs/speculative-heads.md):
//   - next-n (multi-token prediction) blocks, in llama.cpp's convention: `<arch>.block_count`
//     counts them, `<arch>.nextn_predict_layers` = N says the last N blocks are next-n ones, and
//     each such block `blk.<b>` holds the architecture's ordinary block tensors plus
//     `blk.<b>.nextn.{eh_proj,enorm,hnorm}.weight` and optionally
//     `blk.<b>.nextn.{shared_head_norm,shared_head_head,embed_tokens}.weight`;
//   - Medusa heads, in tessera's convention: `medusa.head_count` = K, `medusa.layer_count` = L
//     (default 1), per head k and residual block l `medusa.<k>.<l>.weight` [n_embd, n_embd] and
//     optionally `medusa.<k>.<l>.bias` [n_embd], and per head optionally `medusa.<k>.output.weight`
//     [n_embd, n_vocab] (else the model's own output).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/hparams.h"
#include "runtime/models/registry.h"

namespace tessera {

// "blk.<block>.nextn.<name>.weight".
std::string next_n_weight_name(uint32_t block, const char* name);
// "medusa.<head>.<layer>.weight" and ".bias"; "medusa.<head>.output.weight".
std::string medusa_weight_name(uint32_t head, uint32_t layer);
std::string medusa_bias_name(uint32_t head, uint32_t layer);
std::string medusa_output_name(uint32_t head);

// Every weight of the draft heads the hyper-parameters announce (none when they announce
// none): the next-n blocks' own tensors, their ordinary block tensors as the architecture
// defines a block, and the Medusa heads'. Model loading checks them as it checks the main
// model's.
std::vector<WeightSpec> draft_head_weights(const HParams& hparams,
                                           const Architecture& architecture);

}  // namespace tessera

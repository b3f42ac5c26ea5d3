// A naive reference of every op of backends/backend.h, written from the op definitions alone:
// sources are dequantized with formats/quant's codecs and everything is computed in double, in
// the plainest loops. The conformance suite holds every device to it.
//
// The one deliberate departure from exact arithmetic is optional and explicit: a backend may
// convert MUL_MAT's activations (and FLASH_ATTN's queries) to a lower-precision type before its
// dot products, as ggml does; ReferenceOptions names that type, and the reference then computes
// on the activations' own quantize -> dequantize round trip, so that a test can compare with a
// tolerance that covers float rounding only. Q8_1 activations (ggml's partner of Q4_1 and Q5_1
// weights) also carry each block's sum, rounded to F16, which meets the weights' block minimum:
// the reference uses that stored sum too.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "backends/backend.h"

namespace tessera::test {

struct ReferenceOptions {
    // MUL_MAT: src1's rows go through this type's quantize -> dequantize first.
    std::optional<quant::TensorType> mul_mat_activation_type;
    // FLASH_ATTN: Q's head vectors go through this type's quantize -> dequantize first.
    std::optional<quant::TensorType> attention_query_type;
};

// The contents of a node's dst after the node runs, as doubles in dst's element order (I32
// results as exact integers; a KV_STORE cache dequantized). `tensor_bytes[i]` holds the bytes
// of graph.tensors[i] (sources, and for KV_STORE the cache before the store). Throws
// tessera::Error for what the op defines as an error (an id out of range, a position past the
// cache).
std::vector<double> reference_output(const backend::Graph& graph, const backend::Node& node,
                                     const std::vector<std::vector<uint8_t>>& tensor_bytes,
                                     const backend::StepValues& step,
                                     const ReferenceOptions& options = {});

// DRAFT_VERIFY's pieces, written from backends/backend.h: the uniform u(seed, index), and a
// row's distribution after top-k -> top-p -> min-p -> temperature (temperature > 0), dense over
// the whole row.
double verify_uniform(uint64_t seed, uint64_t index);
std::vector<double> verify_distribution(const std::vector<float>& logits,
                                        const backend::VerifyParams& params);

// A row of `type` (n elements) as doubles, through the reference codecs. I32 is read as integers.
std::vector<double> dequantize_to_double(quant::TensorType type, const uint8_t* bytes, int64_t n);

// x's quantize -> dequantize round trip through `type`, row by row (rows of `row_length`).
std::vector<float> round_trip(quant::TensorType type, const std::vector<float>& x,
                              int64_t row_length);

}  // namespace tessera::test

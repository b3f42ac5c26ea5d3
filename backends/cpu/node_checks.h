// Checks of a graph node against the definition of its op in backends/backend.h, as the CPU
// backend runs it: the sources the op reads, their types, and shapes that fit together. Used by
// Device::supports (a yes or no) and by compile (an Error naming the node).
//
// Nothing here depends on the CPU but the list of kernels (ops without one, and weight types
// without a dot kernel, are refused); the other backends can share it.
#pragma once

#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/cpu/cpu_features.h"

namespace tessera::backend::cpu {

// "node 7 (FLASH_ATTN -> kqv.0)": how errors name a node.
std::string describe_node(const Graph& graph, size_t node_index);

// What is wrong with the node for the CPU backend, or nothing when it runs. Buffers are not
// looked at; compile checks them.
std::optional<std::string> check_node(const Graph& graph, const Node& node,
                                      const CpuFeatures& features);

}  // namespace tessera::backend::cpu

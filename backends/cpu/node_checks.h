// Checks of a graph node against the definition of its op in backends/backend.h: the sources
// the op reads, their types, and shapes that fit together. Used by Device::supports (a yes or
// no) and by compile (an Error naming the node).
//
// Nothing here depends on the CPU but the list of kernels (ops without one, and weight types
// without a dot kernel, are refused), which a backend passes in as KernelSupport: the Vulkan
// backend shares these checks.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "backends/cpu/cpu_features.h"

namespace tessera::backend::cpu {

// "node 7 (FLASH_ATTN -> kqv.0)": how errors name a node.
std::string describe_node(const Graph& graph, size_t node_index);

// What a backend's kernels take, for the checks that depend on them.
struct KernelSupport {
    std::string backend;  // "CPU", "Vulkan": how messages name the backend
    // The type MUL_MAT converts activations to for weights of a type (its dot kernel's partner
    // type), or nothing when the backend has no kernel for such weights. FLASH_ATTN asks it for
    // the K cache's type.
    std::function<std::optional<quant::TensorType>(quant::TensorType weight_type)> activation_type;
};

// What is wrong with the node for a backend with these kernels, or nothing when it runs.
// Buffers are not looked at; compile checks them.
std::optional<std::string> check_node(const Graph& graph, const Node& node,
                                      const KernelSupport& kernels);

// The same for the CPU backend with these features.
std::optional<std::string> check_node(const Graph& graph, const Node& node,
                                      const CpuFeatures& features);

// Ops whose kernels read every source element before writing the same element of the
// destination, so that the destination may be exactly one of the sources (in place). For the
// others the destination must not overlap any source at all.
bool may_run_in_place(Op op);

}  // namespace tessera::backend::cpu

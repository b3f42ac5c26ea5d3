// Placing a graph's activations in one buffer by liveness: a tensor occupies bytes from the node
// that first touches it to the node that last reads it, and its bytes are reused once that last
// reader has run. Nodes run in graph order, so two tensors share bytes only when their lifetimes
// do not overlap, and peak memory is that of the widest point of the graph (a small multiple of
// one layer's activations), not the sum of all its tensors.
#pragma once

#include <cstdint>
#include <span>

#include "backends/backend.h"

namespace tessera {

// Offsets of activations are multiples of this: enough for any SIMD load and for GPU storage
// buffer offsets.
inline constexpr uint64_t kActivationAlignment = 256;

// Assigns offsets to the tensors of `graph` that `planned` marks (one flag per tensor), and to
// the views of them: view_of[t] is the tensor t is a view of (-1 for none), and a view's offset,
// relative to its source before planning, becomes absolute. Other tensors are left as they are.
// Returns the bytes the plan needs (its peak). Throws tessera::Error, naming the tensor, when a
// planned tensor is read by a node before any node writes it.
uint64_t plan_activations(backend::Graph& graph, std::span<const uint8_t> planned,
                          std::span<const int32_t> view_of,
                          uint64_t alignment = kActivationAlignment);

}  // namespace tessera

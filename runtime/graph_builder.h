// Building a backend::Graph op by op, with every operand checked when it is added: a helper
// whose operands do not fit the op's definition in backends/backend.h throws tessera::Error
// naming the op, the result and the operands (with their shapes), so a wrong forward pass fails
// while it is being built, not as garbage logits.
//
// Tensors come in five kinds:
//   - external: weights, KV cache columns, outputs: views of buffers the caller owns, at the
//     buffer index and offset the caller gives;
//   - inputs: per-step values (token ids, positions, an optional mask), laid out one after the
//     other in the inputs buffer;
//   - activations: op results, placed in the activations buffer by the memory planner when the
//     graph is finished;
//   - views: reshapes of another tensor, sharing its bytes (free).
// An activation can be turned into an output with place(), to land in a buffer the caller reads.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"

namespace tessera {

// A tensor of the graph being built: its index in Graph::tensors.
struct TensorId {
    int32_t index = -1;
    bool valid() const { return index >= 0; }
};

using Shape = std::array<int64_t, backend::kMaxDims>;

// A finished graph: the graph itself, with every tensor placed, and the bytes its inputs and
// activations buffers need.
struct BuiltGraph {
    backend::Graph graph;
    uint64_t input_bytes = 0;
    uint64_t activation_bytes = 0;
};

class GraphBuilder {
  public:
    // Inputs and activations live in the buffers at these indices of the table given to
    // Device::compile().
    GraphBuilder(uint32_t inputs_buffer, uint32_t activations_buffer);

    // Tensors that are not op results.
    TensorId external(std::string name, quant::TensorType type, Shape shape, uint32_t buffer,
                      uint64_t offset);
    TensorId input(std::string name, quant::TensorType type, Shape shape);
    // A view of `source` with another shape of the same number of elements (and so the same
    // bytes): free, no node.
    TensorId reshape(TensorId source, Shape shape, std::string name);
    // Moves an activation into a buffer of the caller's (logits the host reads). Only a
    // tensor that is an op result, not yet placed and not viewed by a reshape, can move.
    void place(TensorId tensor, uint32_t buffer, uint64_t offset);

    // Ops; each returns its result, a new activation named `name`.
    TensorId get_rows(TensorId table, TensorId ids, std::string name);
    TensorId mul_mat(TensorId weights, TensorId x, std::string name);
    TensorId add(TensorId a, TensorId b, std::string name);
    TensorId mul(TensorId a, TensorId b, std::string name);
    TensorId scale(TensorId x, float factor, std::string name);
    TensorId rms_norm(TensorId x, float eps, std::string name);
    TensorId rope(TensorId x, TensorId positions, backend::RopeStyle style, int32_t n_rot,
                  float freq_base, float freq_scale, std::string name);
    TensorId silu(TensorId x, std::string name);
    TensorId gelu(TensorId x, std::string name);
    TensorId gelu_tanh(TensorId x, std::string name);
    TensorId swiglu(TensorId gate, TensorId up, std::string name);
    TensorId geglu(TensorId gate, TensorId up, std::string name);
    TensorId softmax(TensorId x, float scale, std::string name);
    TensorId softcap(TensorId x, float cap, std::string name);
    // Writes `x` into the cache columns step.position onward; returns the cache (for order's
    // sake callers read the cache only through nodes added after this one).
    void kv_store(TensorId x, TensorId cache);
    struct Attention {
        float scale = 1.0f;
        float softcap = 0.0f;  // 0: none
        bool causal = true;
        int32_t window = 0;  // sliding window in positions; 0: none
    };
    // `mask` may be invalid (none).
    TensorId flash_attn(TensorId q, TensorId k_cache, TensorId v_cache, TensorId mask,
                        const Attention& attention, std::string name);
    // MTP_HEAD, NextN style: [rmsnorm(e) * enorm ; rmsnorm(h) * hnorm] per column, [2 n, m].
    TensorId mtp_next_n(TensorId embeddings, TensorId hidden, TensorId enorm, TensorId hnorm,
                        float eps, std::string name);
    // MTP_HEAD, Medusa style: hidden + silu(projected + bias); `bias` may be invalid (none).
    TensorId mtp_medusa(TensorId hidden, TensorId projected, TensorId bias, std::string name);
    TensorId argmax(TensorId x, std::string name);
    TensorId top_k(TensorId x, int32_t k, std::string name);
    // DRAFT_VERIFY over target logits [n_vocab, k+1] and k draft tokens; `draft_probs` and
    // `parents` may be invalid (deterministic drafts; a chain). Returns the I32 [k+2] verdict.
    TensorId draft_verify(TensorId logits, TensorId drafts, TensorId draft_probs, TensorId parents,
                          const backend::VerifyParams& verify, std::string name);

    const backend::Tensor& tensor(TensorId id) const;
    const backend::Graph& graph() const { return graph_; }

    // Plans the activations (runtime/memory_planner.h) and hands the graph over. The builder is
    // empty afterwards.
    BuiltGraph finish();

  private:
    enum class Kind : uint8_t { External, Input, Activation, View };

    TensorId add_tensor(backend::Tensor tensor, Kind kind, int32_t view_of);
    TensorId activation(std::string name, quant::TensorType type, Shape shape);
    TensorId add_node(backend::Op op, std::initializer_list<TensorId> sources, TensorId dst,
                      const backend::OpParams& params);
    TensorId unary(backend::Op op, TensorId x, const backend::OpParams& params, std::string name);
    TensorId binary(backend::Op op, TensorId a, TensorId b, std::string name);
    TensorId gated(backend::Op op, TensorId gate, TensorId up, std::string name);
    void check_id(backend::Op op, TensorId id, std::string_view role) const;

    uint32_t inputs_buffer_;
    uint32_t activations_buffer_;
    uint64_t input_bytes_ = 0;
    backend::Graph graph_;
    std::vector<Kind> kinds_;
    std::vector<int32_t> view_of_;  // per tensor: the tensor it views, -1 for none
};

}  // namespace tessera

// What a forward pass is written with: the graph being built, the model's weights by name, the
// step's inputs and the KV cache, and the blocks every transformer here shares (an RMS norm with
// its weight, a linear layer with its optional bias, attention through the cache). The
// architectures (runtime/models/*.cpp) read top to bottom with these.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "runtime/graph_builder.h"
#include "runtime/hparams.h"
#include "runtime/models/registry.h"

namespace tessera {

class Model;

// Weight specifications, in the shapes llama.cpp's loader gives (ggml order: a matrix that maps
// `in` features to `out` is {in, out}).
WeightSpec matrix_weight(std::string name, int64_t in, int64_t out, bool required = true);
WeightSpec vector_weight(std::string name, int64_t n, bool required = true);

// The graph's inputs and the cache, as the context lays them out.
struct ForwardInputs {
    TensorId tokens;     // I32 [n_tokens]
    TensorId positions;  // I32 [n_tokens]
    // I32 [n_kept]: the rows (tokens) whose logits are wanted; invalid to keep them all.
    TensorId kept_rows;
    int64_t n_tokens = 0;
    // Optional explicit attention masks, F32 [n_ctx, n_tokens] (0: seen, -inf: hidden), for
    // tokens that are not one causal sequence (a speculative tree): they replace the causal and
    // sliding-window masking of FLASH_ATTN. `attention_mask` serves the full-attention layers,
    // `window_attention_mask` the sliding-window ones (the model's n_swa window, by position).
    TensorId attention_mask;
    TensorId window_attention_mask;
    // Per layer, [head_dim * n_head_kv, n_ctx]: at least the n_layer main ones. A graph of
    // next-n blocks (runtime/speculative) gives the main layers invalid ids and its blocks'
    // caches after them.
    std::span<const TensorId> k_cache;
    std::span<const TensorId> v_cache;
};

class Forward {
  public:
    Forward(GraphBuilder& graph, const Model& model, const ForwardInputs& inputs);

    GraphBuilder& graph() { return graph_; }
    const HParams& hparams() const { return hparams_; }
    TensorId tokens() const { return inputs_.tokens; }
    TensorId positions() const { return inputs_.positions; }
    int64_t n_tokens() const { return inputs_.n_tokens; }

    // A weight of the model by its GGUF name; the same tensor each time it is asked for.
    TensorId weight(const std::string& name);
    bool has_weight(const std::string& name) const;
    // "blk.<layer>.<name>.weight" and ".bias".
    static std::string layer_weight_name(uint32_t layer, const char* name);
    static std::string layer_bias_name(uint32_t layer, const char* name);
    // A name for an activation of a layer: "blk.3.q".
    static std::string name(uint32_t layer, const char* what);

    // x / rms(x) * weight, over rows of x; eps from the hyper-parameters.
    TensorId norm(TensorId x, const std::string& weight_name, std::string result);
    TensorId layer_norm(TensorId x, uint32_t layer, const char* weight);
    // weight . x (+ bias when the file has blk.<layer>.<name>.bias).
    TensorId linear(TensorId x, uint32_t layer, const char* weight);
    // [n_heads * head_dim, m] -> [head_dim, n_heads, m], a free view.
    TensorId split_heads(TensorId x, int64_t n_heads, std::string result);
    // Rotary embedding of [head_dim, n_heads, m] at the step's positions, with the layer's
    // frequency base and scale.
    TensorId rope(TensorId x, uint32_t layer, backend::RopeStyle style, std::string result);
    // Stores k and v ([head_dim, n_head_kv, m] and [head_dim * n_head_kv, m]) in the layer's
    // cache at the step's positions, attends q ([head_dim, n_head, m]) over the cache and
    // returns [head_dim * n_head, m]. With explicit masks in the inputs, attention reads the
    // layer's mask instead of its causal and window settings.
    TensorId attention(uint32_t layer, TensorId q, TensorId k, TensorId v,
                       const GraphBuilder::Attention& attention);
    // Keeps only the rows whose logits are wanted (all when no selection was asked for).
    TensorId keep_wanted_rows(TensorId x, std::string result);
    // The output projection: "output.weight", or the token embeddings when tied.
    TensorId output_weight();
    // The final norm ("output_norm.weight") of the main model's last hidden states. Its result
    // is what the LM head reads and what the speculative draft heads start from; final_hidden()
    // returns it once built (invalid before).
    TensorId final_norm(TensorId x);
    TensorId final_hidden() const { return final_hidden_; }

  private:
    GraphBuilder& graph_;
    const Model& model_;
    const HParams& hparams_;
    ForwardInputs inputs_;
    std::unordered_map<std::string, TensorId> weights_;
    TensorId final_hidden_;
};

}  // namespace tessera

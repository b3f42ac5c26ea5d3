#include "runtime/models/forward.h"

#include "formats/error.h"
#include "runtime/model.h"

namespace tessera {

WeightSpec matrix_weight(std::string name, int64_t in, int64_t out, bool required) {
    return {std::move(name), {in, out, 1, 1}, WeightRole::Matrix, required};
}

WeightSpec vector_weight(std::string name, int64_t n, bool required) {
    return {std::move(name), {n, 1, 1, 1}, WeightRole::Vector, required};
}

Forward::Forward(GraphBuilder& graph, const Model& model, const ForwardInputs& inputs)
    : graph_(graph), model_(model), hparams_(model.hparams()), inputs_(inputs) {
    if (inputs.k_cache.size() < hparams_.n_layer ||
        inputs.v_cache.size() != inputs.k_cache.size()) {
        throw Error("forward: the cache has " + std::to_string(inputs.k_cache.size()) +
                    " layers, the model " + std::to_string(hparams_.n_layer));
    }
}

TensorId Forward::weight(const std::string& name) {
    auto it = weights_.find(name);
    if (it != weights_.end()) return it->second;
    const Model::Weight& bound = model_.weight(name);
    const TensorId id = graph_.external(name, bound.type, bound.shape, bound.buffer, bound.offset);
    weights_.emplace(name, id);
    return id;
}

bool Forward::has_weight(const std::string& name) const {
    return model_.find_weight(name) != nullptr;
}

std::string Forward::layer_weight_name(uint32_t layer, const char* name) {
    return "blk." + std::to_string(layer) + "." + name + ".weight";
}

std::string Forward::layer_bias_name(uint32_t layer, const char* name) {
    return "blk." + std::to_string(layer) + "." + name + ".bias";
}

std::string Forward::name(uint32_t layer, const char* what) {
    return "blk." + std::to_string(layer) + "." + what;
}

TensorId Forward::norm(TensorId x, const std::string& weight_name, std::string result) {
    const TensorId normed = graph_.rms_norm(x, hparams_.rms_eps, result + ".rms");
    return graph_.mul(normed, weight(weight_name), std::move(result));
}

TensorId Forward::layer_norm(TensorId x, uint32_t layer, const char* weight) {
    return norm(x, layer_weight_name(layer, weight), name(layer, weight));
}

TensorId Forward::linear(TensorId x, uint32_t layer, const char* weight_name) {
    TensorId y =
        graph_.mul_mat(weight(layer_weight_name(layer, weight_name)), x, name(layer, weight_name));
    const std::string bias = layer_bias_name(layer, weight_name);
    if (has_weight(bias)) y = graph_.add(y, weight(bias), name(layer, weight_name) + "+bias");
    return y;
}

TensorId Forward::split_heads(TensorId x, int64_t n_heads, std::string result) {
    const backend::Tensor& flat = graph_.tensor(x);
    const int64_t head_dim = flat.shape[0] / n_heads;
    return graph_.reshape(x, {head_dim, n_heads, flat.shape[1], 1}, std::move(result));
}

TensorId Forward::rope(TensorId x, uint32_t layer, backend::RopeStyle style, std::string result) {
    return graph_.rope(x, inputs_.positions, style, static_cast<int32_t>(hparams_.n_rot),
                       hparams_.layer_rope_freq_base(layer), hparams_.layer_rope_freq_scale(layer),
                       std::move(result));
}

TensorId Forward::attention(uint32_t layer, TensorId q, TensorId k, TensorId v,
                            const GraphBuilder::Attention& attention) {
    if (layer >= inputs_.k_cache.size() || !inputs_.k_cache[layer].valid() ||
        !inputs_.v_cache[layer].valid()) {
        throw Error("forward: no KV cache for layer " + std::to_string(layer));
    }
    const int64_t m = inputs_.n_tokens;
    const int64_t kv_row = static_cast<int64_t>(hparams_.head_dim_k) * hparams_.n_head_kv;
    graph_.kv_store(graph_.reshape(k, {kv_row, m, 1, 1}, name(layer, "k_rows")),
                    inputs_.k_cache[layer]);
    graph_.kv_store(v, inputs_.v_cache[layer]);
    GraphBuilder::Attention masked = attention;
    TensorId mask;
    if (inputs_.attention_mask.valid()) {
        // The explicit masks already hold what causal order and the window would hide.
        const bool windowed = attention.window > 0;
        if (windowed && (!inputs_.window_attention_mask.valid() ||
                         static_cast<uint32_t>(attention.window) != hparams_.n_swa)) {
            throw Error("forward: layer " + std::to_string(layer) + " attends over a window of " +
                        std::to_string(attention.window) +
                        " positions, which the explicit masks do not provide (window " +
                        std::to_string(hparams_.n_swa) + ")");
        }
        mask = windowed ? inputs_.window_attention_mask : inputs_.attention_mask;
        masked.causal = false;
        masked.window = 0;
    }
    const TensorId heads = graph_.flash_attn(q, inputs_.k_cache[layer], inputs_.v_cache[layer],
                                             mask, masked, name(layer, "attn"));
    const int64_t q_row = static_cast<int64_t>(hparams_.head_dim_v) * hparams_.n_head;
    return graph_.reshape(heads, {q_row, m, 1, 1}, name(layer, "attn_rows"));
}

TensorId Forward::keep_wanted_rows(TensorId x, std::string result) {
    if (!inputs_.kept_rows.valid()) return x;
    return graph_.get_rows(x, inputs_.kept_rows, std::move(result));
}

TensorId Forward::output_weight() {
    return weight(has_weight("output.weight") ? "output.weight" : "token_embd.weight");
}

TensorId Forward::final_norm(TensorId x) {
    final_hidden_ = norm(x, "output_norm.weight", "output_norm");
    return final_hidden_;
}

}  // namespace tessera

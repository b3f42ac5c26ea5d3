#include "runtime/hparams.h"

#include <cmath>

#include "formats/error.h"

namespace tessera {

namespace {

[[noreturn]] void fail(const gguf::File& file, const std::string& what) {
    throw Error(file.path() + ": " + what);
}

// A count that llama.cpp reads with get_key_or_arr: a scalar, or one value per layer. tessera
// runs models whose layers all have the same count, so an array must hold one value throughout.
bool read_per_layer(const gguf::File& file, const std::string& key, uint32_t n_layer,
                    uint32_t& value) {
    const gguf::Value* found = file.find(key);
    if (found == nullptr) return false;
    if (found->type() != gguf::ValueType::ARRAY) {
        const uint64_t raw = found->as_uint(key);
        if (raw > UINT32_MAX)
            fail(file, "key " + key + " = " + std::to_string(raw) + " is too large");
        value = static_cast<uint32_t>(raw);
        return true;
    }
    const std::vector<int64_t> values = found->as_int_array(key);
    if (values.size() != n_layer) {
        fail(file, "key " + key + " has " + std::to_string(values.size()) + " values for " +
                       std::to_string(n_layer) + " layers");
    }
    for (int64_t v : values) {
        if (v != values.front()) {
            fail(file, "key " + key +
                           " differs between layers; tessera runs models whose layers all "
                           "have the same shape");
        }
    }
    if (values.empty() || values.front() < 0 || values.front() > UINT32_MAX) {
        fail(file, "key " + key + " holds no valid count");
    }
    value = static_cast<uint32_t>(values.front());
    return true;
}

uint32_t read_required(const gguf::File& file, const std::string& key) {
    const uint64_t raw = file.get_uint(key);
    if (raw > UINT32_MAX) fail(file, "key " + key + " = " + std::to_string(raw) + " is too large");
    return static_cast<uint32_t>(raw);
}

}  // namespace

std::string arch_key(const HParams& hparams, const char* suffix) {
    return hparams.architecture + "." + suffix;
}

bool read_optional(const gguf::File& file, const std::string& key, uint32_t& value) {
    const gguf::Value* found = file.find(key);
    if (found == nullptr) return false;
    const uint64_t raw = found->as_uint(key);
    if (raw > UINT32_MAX) fail(file, "key " + key + " = " + std::to_string(raw) + " is too large");
    value = static_cast<uint32_t>(raw);
    return true;
}

bool read_optional(const gguf::File& file, const std::string& key, float& value) {
    const gguf::Value* found = file.find(key);
    if (found == nullptr) return false;
    value = static_cast<float>(found->as_float(key));
    return true;
}

void set_swa_pattern(HParams& hparams, uint32_t period) {
    hparams.swa_layers.assign(hparams.n_layer, false);
    for (uint32_t layer = 0; layer < hparams.n_layer; ++layer) {
        hparams.swa_layers[layer] = period == 0 || layer % period < period - 1;
    }
}

float HParams::kq_scale() const {
    return attention_scale != 0.0f ? attention_scale
                                   : 1.0f / std::sqrt(static_cast<float>(head_dim_k));
}

HParams read_hparams(const gguf::File& file) {
    HParams hp;
    hp.architecture = file.get_string("general.architecture");
    const auto key = [&](const char* suffix) { return arch_key(hp, suffix); };

    hp.n_ctx_train = read_required(file, key("context_length"));
    hp.n_embd = read_required(file, key("embedding_length"));
    // Per-layer arrays span every block, next-n ones included.
    const uint32_t n_block = read_required(file, key("block_count"));
    if (hp.n_embd == 0) fail(file, "key " + key("embedding_length") + " is 0");
    if (n_block == 0) fail(file, "key " + key("block_count") + " is 0");
    read_optional(file, key("nextn_predict_layers"), hp.n_nextn_layer);
    if (hp.n_nextn_layer >= n_block) {
        fail(file, "key " + key("nextn_predict_layers") + " = " + std::to_string(hp.n_nextn_layer) +
                       " leaves no main block of the " + std::to_string(n_block) + " in " +
                       key("block_count"));
    }
    hp.n_layer = n_block - hp.n_nextn_layer;

    if (!read_per_layer(file, key("feed_forward_length"), n_block, hp.n_ff)) {
        fail(file, "key " + key("feed_forward_length") + " is missing");
    }
    if (!read_per_layer(file, key("attention.head_count"), n_block, hp.n_head)) {
        fail(file, "key " + key("attention.head_count") + " is missing");
    }
    if (hp.n_head == 0) fail(file, "key " + key("attention.head_count") + " is 0");
    hp.n_head_kv = hp.n_head;
    read_per_layer(file, key("attention.head_count_kv"), n_block, hp.n_head_kv);
    // Medusa heads: tessera's convention, not tied to an architecture.
    if (read_optional(file, "medusa.head_count", hp.n_medusa_head) && hp.n_medusa_head == 0) {
        fail(file, "key medusa.head_count is 0; a file without Medusa heads leaves it out");
    }
    const bool has_layer_count = read_optional(file, "medusa.layer_count", hp.n_medusa_layer);
    if (has_layer_count && hp.n_medusa_head == 0) {
        fail(file, "key medusa.layer_count is set but medusa.head_count is not");
    }
    if (hp.n_medusa_head > 0) {
        if (!has_layer_count) hp.n_medusa_layer = 1;
        if (hp.n_medusa_layer == 0) fail(file, "key medusa.layer_count is 0");
    }
    if (hp.n_head_kv == 0 || hp.n_head % hp.n_head_kv != 0) {
        fail(file, "key " + key("attention.head_count_kv") + " = " + std::to_string(hp.n_head_kv) +
                       " does not divide the " + std::to_string(hp.n_head) + " query heads");
    }

    hp.head_dim_k = hp.n_embd / hp.n_head;
    hp.head_dim_v = hp.n_embd / hp.n_head;
    read_optional(file, key("attention.key_length"), hp.head_dim_k);
    read_optional(file, key("attention.value_length"), hp.head_dim_v);
    if (hp.head_dim_k == 0) fail(file, "the key head dimension is 0");
    if (hp.head_dim_k != hp.head_dim_v) {
        fail(file, "keys and values have different head dimensions (" +
                       std::to_string(hp.head_dim_k) + " and " + std::to_string(hp.head_dim_v) +
                       "); tessera's attention needs them equal");
    }

    hp.n_rot = hp.head_dim_k;
    read_optional(file, key("rope.dimension_count"), hp.n_rot);
    if (hp.n_rot == 0 || hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim_k) {
        fail(file, "key " + key("rope.dimension_count") + " = " + std::to_string(hp.n_rot) +
                       " must be even and at most the head dimension " +
                       std::to_string(hp.head_dim_k));
    }

    read_optional(file, key("rope.freq_base"), hp.rope_freq_base);
    std::string scaling = "linear";
    if (const gguf::Value* type = file.find(key("rope.scaling.type"))) {
        scaling = type->as_string(key("rope.scaling.type"));
    }
    float factor = 0.0f;
    if (!read_optional(file, key("rope.scaling.factor"), factor)) {
        read_optional(file, key("rope.scale_linear"), factor);  // the old key
    }
    if (scaling == "none") {
        hp.rope_freq_scale = 1.0f;  // llama.cpp never scales then, whatever the factor
    } else if (scaling == "linear") {
        hp.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    } else {
        fail(file, "key " + key("rope.scaling.type") + " = '" + scaling +
                       "': tessera supports rope scaling 'none' and 'linear'");
    }
    if (!(hp.rope_freq_base > 0.0f) || !(hp.rope_freq_scale > 0.0f)) {
        fail(file, "rope frequency base and scale must be positive");
    }

    // llama.cpp requires the norm epsilon of every architecture tessera runs.
    if (!read_optional(file, key("attention.layer_norm_rms_epsilon"), hp.rms_eps)) {
        fail(file, "key " + key("attention.layer_norm_rms_epsilon") + " is missing");
    }

    hp.swa_layers.assign(hp.n_layer, false);
    if (const gguf::TensorInfo* embeddings = file.find_tensor("token_embd.weight")) {
        if (embeddings->shape.size() == 2 && embeddings->shape[1] <= UINT32_MAX) {
            hp.n_vocab = static_cast<uint32_t>(embeddings->shape[1]);
        }
    }
    return hp;
}

}  // namespace tessera

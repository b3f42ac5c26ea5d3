#include "runtime/quant_mix.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <numeric>
#include <optional>

#include "formats/error.h"

namespace tessera {

namespace {

using quant::TensorType;
using FT = FileType;

// llama-quantize's list (tools/quantize/quantize.cpp), in its order, less the types without a
// codec here (the IQ, TQ and MXFP4 families).
constexpr std::array kTargets{
    QuantTarget{"Q4_0", FT::MOSTLY_Q4_0, TensorType::Q4_0},
    QuantTarget{"Q4_1", FT::MOSTLY_Q4_1, TensorType::Q4_1},
    QuantTarget{"Q5_0", FT::MOSTLY_Q5_0, TensorType::Q5_0},
    QuantTarget{"Q5_1", FT::MOSTLY_Q5_1, TensorType::Q5_1},
    QuantTarget{"Q2_K", FT::MOSTLY_Q2_K, TensorType::Q2_K},
    QuantTarget{"Q2_K_S", FT::MOSTLY_Q2_K_S, TensorType::Q2_K},
    QuantTarget{"Q3_K_S", FT::MOSTLY_Q3_K_S, TensorType::Q3_K},
    QuantTarget{"Q3_K_M", FT::MOSTLY_Q3_K_M, TensorType::Q3_K},
    QuantTarget{"Q3_K_L", FT::MOSTLY_Q3_K_L, TensorType::Q3_K},
    QuantTarget{"Q4_K_S", FT::MOSTLY_Q4_K_S, TensorType::Q4_K},
    QuantTarget{"Q4_K_M", FT::MOSTLY_Q4_K_M, TensorType::Q4_K},
    QuantTarget{"Q5_K_S", FT::MOSTLY_Q5_K_S, TensorType::Q5_K},
    QuantTarget{"Q5_K_M", FT::MOSTLY_Q5_K_M, TensorType::Q5_K},
    QuantTarget{"Q6_K", FT::MOSTLY_Q6_K, TensorType::Q6_K},
    QuantTarget{"Q8_0", FT::MOSTLY_Q8_0, TensorType::Q8_0},
    QuantTarget{"F16", FT::MOSTLY_F16, TensorType::F16},
    QuantTarget{"BF16", FT::MOSTLY_BF16, TensorType::BF16},
    QuantTarget{"F32", FT::ALL_F32, TensorType::F32},
};

struct Alias {
    std::string_view name;
    FileType means;
};
constexpr std::array kAliases{
    Alias{"Q3_K", FT::MOSTLY_Q3_K_M},
    Alias{"Q4_K", FT::MOSTLY_Q4_K_M},
    Alias{"Q5_K", FT::MOSTLY_Q5_K_M},
};

// ASCII only: type names are ASCII, and std::tolower would follow the locale.
bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

const QuantTarget* target_of(FileType file_type) {
    for (const QuantTarget& t : kTargets) {
        if (t.file_type == file_type) return &t;
    }
    return nullptr;
}

bool is_block_quantized(TensorType type) {
    return quant::type_info(type).block_size > 1;
}

uint32_t block_size(TensorType type) {
    return quant::type_info(type).block_size;
}

// The N of a "blk.N." prefix, read the way llama.cpp's sscanf(name, "blk.%d.") reads it (a sign
// is allowed, the dot after the number is not checked); nothing when there is no number.
std::optional<int> block_index(std::string_view name) {
    constexpr std::string_view kPrefix = "blk.";
    if (!name.starts_with(kPrefix)) return std::nullopt;
    name.remove_prefix(kPrefix.size());
    bool negative = false;
    if (!name.empty() && (name[0] == '+' || name[0] == '-')) {
        negative = name[0] == '-';
        name.remove_prefix(1);
    }
    int64_t value = 0;
    size_t digits = 0;
    while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') {
        value = std::min<int64_t>(value * 10 + (name[digits] - '0'), INT_MAX);
        ++digits;
    }
    if (digits == 0) return std::nullopt;
    return static_cast<int>(negative ? -value : value);
}

// ggml_n_dims: the dimensions up to the last one that is not 1.
size_t significant_dims(const std::vector<uint64_t>& shape) {
    size_t n = shape.size();
    while (n > 1 && shape[n - 1] == 1) --n;
    return n;
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// Weights llama.cpp leaves as they are although they are 2-D: small or sensitive tables. The list
// follows tensor_allows_quantization; each entry is matched as a substring of the name.
constexpr std::string_view kNeverQuantized[] = {
    // Norms, expert routers, DeepSeek-V4's token-to-expert table.
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    // Gemma 3n's tiny projections.
    "altup",
    "laurel",
    "per_layer_model_proj",
    // Mamba's and Kimi's small conv1d kernels, MiniMax's indexer.
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    // RWKV's small 2-D weights.
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    // T5's relative position bias.
    "attn_rel_b.weight",
    // Multimodal encoders' position and patch tables, audio codebooks.
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
};

// Inkling's short convolutions and relative projection; llama.cpp checks these for that
// architecture only, so that the names cannot hit another one.
constexpr std::string_view kNeverQuantizedInkling[] = {
    "shortconv_k.weight",   "shortconv_v.weight",   "shortconv_attn.weight",
    "shortconv_mlp.weight", "attn_rel_proj.weight",
};

bool allows_quantization(std::string_view name, const std::vector<uint64_t>& shape,
                         std::string_view architecture) {
    if (significant_dims(shape) < 2) return false;  // 1-D: norms, biases, scales
    if (!name.ends_with("weight")) return false;
    for (std::string_view part : kNeverQuantized) {
        if (contains(name, part)) return false;
    }
    if (architecture == "inkling") {
        for (std::string_view part : kNeverQuantizedInkling) {
            if (contains(name, part)) return false;
        }
    }
    // BERT's positional embeddings and token types.
    return name != "position_embd.weight" && name != "token_types.weight";
}

// Broad tensor roles, as llama.cpp's tensor_get_category sees them (by name, across
// architectures).
enum class Category {
    TokenEmbedding,
    AttentionQ,
    AttentionV,
    AttentionK,
    AttentionQkv,
    AttentionKvB,
    AttentionOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
};

Category category_of(std::string_view name) {
    if (name == "output.weight") return Category::Output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") {
        return Category::TokenEmbedding;
    }
    if (contains(name, "attn_qkv.weight")) return Category::AttentionQkv;
    if (contains(name, "attn_kv_b.weight")) return Category::AttentionKvB;
    if (contains(name, "attn_v.weight")) return Category::AttentionV;
    if (contains(name, "attn_k.weight")) return Category::AttentionK;
    if (contains(name, "attn_q.weight")) return Category::AttentionQ;
    if (contains(name, "attn_output.weight")) return Category::AttentionOutput;
    if (contains(name, "ffn_up")) return Category::FfnUp;
    if (contains(name, "ffn_gate")) return Category::FfnGate;
    if (contains(name, "ffn_down")) return Category::FfnDown;
    return Category::Other;
}

// The tensors that carry values (attn_v, and the fused qkv and kv_b that contain them): more
// sensitive to quantization than the rest.
bool carries_values(Category category) {
    return category == Category::AttentionV || category == Category::AttentionQkv ||
           category == Category::AttentionKvB;
}

// The first 1/8 of the layers, the last 1/8, and every third layer between them: where
// llama.cpp spends more bits.
bool use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// The models llama.cpp classes as 70B (LLM_TYPE_70B), whose attn_v it widens: 80 layers of the
// architectures whose hyper-parameter loaders name that size.
bool is_70b_class(const ModelShape& model) {
    if (model.n_layers != 80) return false;
    if (model.architecture == "llama") {
        return model.n_experts != 8 && model.n_heads != model.n_kv_heads;
    }
    return model.architecture == "deci" || model.architecture == "qwen2" ||
           model.architecture == "olmo";
}

// What the mix has seen so far: the rules depend on a tensor's position among its kind.
struct MixState {
    const ModelShape& model;
    FileType file_type;
    bool has_tied_embeddings;  // no output.weight: token_embd doubles as the output matrix
    int n_value_tensors = 0;   // attn_v-like tensors in the file
    int values_seen = 0;
    int ffn_down_seen = 0;
    int ffn_gate_seen = 0;
    int ffn_up_seen = 0;

    bool falcon() const { return model.architecture == "falcon"; }
    // n_head / n_head_kv, 0 without kv heads, as llama_hparams::n_gqa.
    uint32_t n_gqa() const { return model.n_kv_heads == 0 ? 0 : model.n_heads / model.n_kv_heads; }

    // The layer of a feed-forward tensor: its position among its kind, except in mixtures of
    // experts, where the experts' tensors are not in layer order and the name says the layer.
    int layer_of(int seen, std::string_view name) const {
        if (model.n_experts <= 1) return seen;
        const std::optional<int> layer = block_index(name);
        if (!layer) throw Error("tensor '" + std::string(name) + "': cannot tell its layer");
        if (*layer < 0 || *layer >= static_cast<int>(model.n_layers)) {
            throw Error("tensor '" + std::string(name) + "': layer " + std::to_string(*layer) +
                        " is outside the model's " + std::to_string(model.n_layers) + " layers");
        }
        return *layer;
    }
};

// llama_tensor_get_type_impl for the file types in kTargets, without an importance matrix.
TensorType mixed_type(MixState& state, std::string_view name, uint64_t row_length,
                      Category category, TensorType type) {
    const FileType ft = state.file_type;
    const int n_layers = static_cast<int>(state.model.n_layers);
    const uint32_t n_experts = state.model.n_experts;

    if (category == Category::Output ||
        (state.has_tied_embeddings && category == Category::TokenEmbedding)) {
        // The output matrix gets 6 bits (or 8), and so does a tied embedding, which is the same
        // matrix.
        if (state.falcon() || row_length % block_size(type) != 0) return TensorType::Q8_0;
        return type == TensorType::Q8_0 ? type : TensorType::Q6_K;
    }
    if (category == Category::TokenEmbedding) return type;  // only the IQ/TQ types change it

    if (carries_values(category)) {
        // In this version of llama.cpp the fused attn_qkv is counted and treated as attn_v; its
        // own branch further down in llama_tensor_get_type_impl is never reached.
        if (ft == FT::MOSTLY_Q2_K) {
            type = state.n_gqa() >= 4 ? TensorType::Q4_K : TensorType::Q3_K;
        } else if (ft == FT::MOSTLY_Q2_K_S && state.n_gqa() >= 4) {
            type = TensorType::Q4_K;
        } else if (ft == FT::MOSTLY_Q3_K_M) {
            type = state.values_seen < 2 ? TensorType::Q5_K : TensorType::Q4_K;
        } else if (ft == FT::MOSTLY_Q3_K_L) {
            type = TensorType::Q5_K;
        } else if ((ft == FT::MOSTLY_Q4_K_M || ft == FT::MOSTLY_Q5_K_M) &&
                   use_more_bits(state.values_seen, state.n_value_tensors)) {
            type = TensorType::Q6_K;
        } else if (ft == FT::MOSTLY_Q4_K_S && state.values_seen < 4) {
            type = TensorType::Q5_K;
        }
        // A 70B model shares each attn_v among 8 heads: the tensor is small, more bits are cheap.
        if (is_70b_class(state.model) && (type == TensorType::Q3_K || type == TensorType::Q4_K)) {
            type = TensorType::Q5_K;
        }
        if (n_experts == 8) type = TensorType::Q8_0;
        ++state.values_seen;
        return type;
    }

    switch (category) {
        case Category::AttentionK:
            return n_experts == 8 ? TensorType::Q8_0 : type;
        case Category::FfnDown: {
            const int layer = state.layer_of(state.ffn_down_seen, name);
            ++state.ffn_down_seen;
            const bool more = use_more_bits(layer, n_layers);
            switch (ft) {
                case FT::MOSTLY_Q2_K:
                    return TensorType::Q3_K;
                case FT::MOSTLY_Q2_K_S:
                    return layer < n_layers / 8 ? TensorType::Q4_K : type;
                case FT::MOSTLY_Q3_K_M:
                    if (layer < n_layers / 16) return TensorType::Q5_K;
                    return !state.falcon() || more ? TensorType::Q4_K : TensorType::Q3_K;
                case FT::MOSTLY_Q3_K_L:
                    return state.falcon() ? TensorType::Q4_K : TensorType::Q5_K;
                case FT::MOSTLY_Q4_K_M:
                    if (state.falcon()) {
                        if (layer < n_layers / 16) return TensorType::Q6_K;
                        return more ? TensorType::Q5_K : TensorType::Q4_K;
                    }
                    return more ? TensorType::Q6_K : type;
                case FT::MOSTLY_Q5_K_M:
                    return more ? TensorType::Q6_K : type;
                case FT::MOSTLY_Q4_K_S:
                    return !state.falcon() && layer < n_layers / 8 ? TensorType::Q5_K : type;
                default:
                    return type;
            }
        }
        case Category::AttentionOutput:
            if (state.falcon()) return ft == FT::MOSTLY_Q3_K_L ? TensorType::Q4_K : type;
            if (n_experts == 8) {
                const bool widened = ft == FT::MOSTLY_Q2_K || ft == FT::MOSTLY_Q3_K_S ||
                                     ft == FT::MOSTLY_Q3_K_M || ft == FT::MOSTLY_Q4_K_S ||
                                     ft == FT::MOSTLY_Q4_K_M;
                return widened ? TensorType::Q5_K : type;
            }
            if (ft == FT::MOSTLY_Q2_K) return TensorType::Q3_K;
            if (ft == FT::MOSTLY_Q3_K_M) return TensorType::Q4_K;
            if (ft == FT::MOSTLY_Q3_K_L) return TensorType::Q5_K;
            return type;
        case Category::FfnGate:
            // Only IQ3_XS changes these, but the layer is still checked and counted.
            state.layer_of(state.ffn_gate_seen, name);
            ++state.ffn_gate_seen;
            return type;
        case Category::FfnUp:
            state.layer_of(state.ffn_up_seen, name);
            ++state.ffn_up_seen;
            return type;
        default:
            return type;
    }
}

// tensor_type_fallback: a type whose blocks divide the row length. The 256-element k-quants
// fall back to a 32-element type of about the same size; F16 when even that does not fit.
TensorType fit_row_length(std::string_view name, uint64_t row_length, TensorType type,
                          bool& fell_back) {
    if (row_length % block_size(type) == 0) return type;
    fell_back = true;
    TensorType fallback;
    switch (type) {
        case TensorType::Q2_K:
        case TensorType::Q3_K:
            fallback = TensorType::Q4_0;
            break;
        case TensorType::Q4_K:
            fallback = TensorType::Q5_0;
            break;
        case TensorType::Q5_K:
            fallback = TensorType::Q5_1;
            break;
        case TensorType::Q6_K:
            fallback = TensorType::Q8_0;
            break;
        default:
            throw Error("tensor '" + std::string(name) + "': rows of " +
                        std::to_string(row_length) + " elements are not whole " +
                        std::string(quant::type_info(type).name) + " blocks of " +
                        std::to_string(block_size(type)) + ", and " +
                        std::string(quant::type_info(type).name) +
                        " has no fallback type (as in llama.cpp)");
    }
    return row_length % block_size(fallback) == 0 ? fallback : TensorType::F16;
}

uint32_t read_count(const gguf::File& file, const std::string& key, uint32_t absent) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return absent;
    // Some architectures store a count per layer; llama.cpp's n_gqa() reads layer 0.
    const gguf::Value scalar = value->type() == gguf::ValueType::ARRAY && value->array_size() > 0
                                   ? value->element(0)
                                   : *value;
    const uint64_t n = scalar.as_uint(key);
    if (n > UINT32_MAX) {
        throw Error(file.path() + ": " + key + " = " + std::to_string(n) + " is too large");
    }
    return static_cast<uint32_t>(n);
}

}  // namespace

std::span<const QuantTarget> quant_targets() {
    return kTargets;
}

const QuantTarget* find_quant_target(std::string_view name) {
    for (const QuantTarget& t : kTargets) {
        if (equal_ignoring_case(t.name, name)) return &t;
    }
    for (const Alias& alias : kAliases) {
        if (equal_ignoring_case(alias.name, name)) return target_of(alias.means);
    }
    uint32_t number = 0;
    const char* end = name.data() + name.size();
    if (auto [ptr, error] = std::from_chars(name.data(), end, number);
        !name.empty() && error == std::errc() && ptr == end) {
        return target_of(static_cast<FileType>(number));
    }
    return nullptr;
}

const QuantTarget& parse_quant_target(std::string_view name) {
    if (const QuantTarget* target = find_quant_target(name)) return *target;
    throw Error("unknown quantization type '" + std::string(name) +
                "' (known: " + quant_target_names() + ")");
}

std::string quant_target_names() {
    std::string names;
    for (const QuantTarget& t : kTargets) {
        if (!names.empty()) names += ", ";
        names += t.name;
    }
    return names;
}

ModelShape ModelShape::from_file(const gguf::File& file) {
    ModelShape shape;
    if (const gguf::Value* arch = file.find("general.architecture")) {
        shape.architecture = arch->as_string("general.architecture");
    }
    if (shape.architecture.empty()) return shape;
    const std::string prefix = shape.architecture + ".";
    shape.n_layers = read_count(file, prefix + "block_count", 0);
    shape.n_heads = read_count(file, prefix + "attention.head_count", 0);
    shape.n_kv_heads = read_count(file, prefix + "attention.head_count_kv", shape.n_heads);
    shape.n_experts = read_count(file, prefix + "expert_count", 0);
    return shape;
}

std::vector<TensorChoice> choose_tensor_types(const ModelShape& model,
                                              std::span<const gguf::TensorInfo> tensors,
                                              const QuantTarget& target, bool pure) {
    // llama.cpp's model loader keeps tensors in a map ordered by block, then name, and quantizes
    // them in that order.
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    const auto block_or_none = [&](size_t i) { return block_index(tensors[i].name).value_or(-1); };
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int block_a = block_or_none(a);
        const int block_b = block_or_none(b);
        if (block_a != block_b) return block_a < block_b;
        return tensors[a].name < tensors[b].name;
    });

    const bool mixed = !pure && is_block_quantized(target.base_type);
    if (mixed && (model.architecture.empty() || model.n_layers == 0)) {
        throw Error("the " + std::string(target.name) +
                    " mix needs general.architecture and <arch>.block_count, which the file "
                    "lacks (--pure needs neither)");
    }
    MixState state{model, target.file_type, true};
    for (const gguf::TensorInfo& info : tensors) {
        const Category category = category_of(info.name);
        if (carries_values(category)) ++state.n_value_tensors;
        if (category == Category::Output) state.has_tied_embeddings = false;
    }

    std::vector<TensorChoice> choices;
    choices.reserve(tensors.size());
    for (size_t index : order) {
        const gguf::TensorInfo& info = tensors[index];
        TensorChoice choice;
        choice.source_index = index;
        choice.name = info.name;
        choice.shape.assign(
            info.shape.begin(),
            info.shape.begin() + static_cast<std::ptrdiff_t>(significant_dims(info.shape)));
        choice.from = info.type;
        choice.to = info.type;
        choice.quantizable = allows_quantization(info.name, info.shape, model.architecture);
        if (choice.quantizable) {
            TensorType type = target.base_type;
            if (is_block_quantized(type)) {
                const uint64_t row_length = info.shape.empty() ? 1 : info.shape[0];
                if (mixed)
                    type = mixed_type(state, info.name, row_length, category_of(info.name), type);
                type = fit_row_length(info.name, row_length, type, choice.fell_back);
            }
            choice.to = type;
        }
        choices.push_back(std::move(choice));
    }
    return choices;
}

}  // namespace tessera

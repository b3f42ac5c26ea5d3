// Qwen3 (dense), as llama.cpp runs it (src/models/qwen3.cpp): Llama's block with per-head RMS
// norms of queries and keys before NeoX-style RoPE, and no projection biases by design (though,
// as in llama.cpp, query, key and value biases are applied when a file has them).
#include "formats/error.h"
#include "runtime/models/forward.h"
#include "runtime/models/registry.h"

namespace tessera {

namespace {

void load_hparams(const gguf::File& file, HParams& hp) {
    if (hp.n_rot != hp.head_dim_k) {  // llama.cpp asserts it
        throw Error(file.path() + ": qwen3 needs rope.dimension_count = key_length (have " +
                    std::to_string(hp.n_rot) + " and " + std::to_string(hp.head_dim_k) + ")");
    }
}

std::vector<WeightSpec> weights(const HParams& hp) {
    const int64_t n_embd = hp.n_embd;
    const int64_t n_q = int64_t{hp.head_dim_k} * hp.n_head;
    const int64_t n_kv = int64_t{hp.head_dim_k} * hp.n_head_kv;
    std::vector<WeightSpec> specs = {
        matrix_weight("token_embd.weight", n_embd, hp.n_vocab),
        vector_weight("output_norm.weight", n_embd),
        matrix_weight("output.weight", n_embd, hp.n_vocab, false),
    };
    for (uint32_t il = 0; il < hp.n_layer; ++il) {
        const auto w = [il](const char* name) { return Forward::layer_weight_name(il, name); };
        const auto b = [il](const char* name) { return Forward::layer_bias_name(il, name); };
        specs.push_back(vector_weight(w("attn_norm"), n_embd));
        specs.push_back(matrix_weight(w("attn_q"), n_embd, n_q));
        specs.push_back(matrix_weight(w("attn_k"), n_embd, n_kv));
        specs.push_back(matrix_weight(w("attn_v"), n_embd, n_kv));
        specs.push_back(vector_weight(b("attn_q"), n_q, false));
        specs.push_back(vector_weight(b("attn_k"), n_kv, false));
        specs.push_back(vector_weight(b("attn_v"), n_kv, false));
        specs.push_back(matrix_weight(w("attn_output"), n_q, n_embd));
        specs.push_back(vector_weight(w("attn_k_norm"), hp.head_dim_k));
        specs.push_back(vector_weight(w("attn_q_norm"), hp.head_dim_k));
        specs.push_back(vector_weight(w("ffn_norm"), n_embd));
        specs.push_back(matrix_weight(w("ffn_gate"), n_embd, hp.n_ff));
        specs.push_back(matrix_weight(w("ffn_down"), hp.n_ff, n_embd));
        specs.push_back(matrix_weight(w("ffn_up"), n_embd, hp.n_ff));
    }
    return specs;
}

// One decoder block: layer `il` of the main model, or a next-n block after them (whose
// rows are all kept).
TensorId block(Forward& f, uint32_t il, TensorId x) {
    GraphBuilder& g = f.graph();
    const HParams& hp = f.hparams();
    constexpr auto kNeoX = backend::RopeStyle::NeoX;

    const auto name = [il](const char* what) { return Forward::name(il, what); };

    // Attention, with normed queries and keys.
    TensorId cur = f.layer_norm(x, il, "attn_norm");
    TensorId q = f.split_heads(f.linear(cur, il, "attn_q"), hp.n_head, name("q"));
    TensorId k = f.split_heads(f.linear(cur, il, "attn_k"), hp.n_head_kv, name("k"));
    TensorId v = f.linear(cur, il, "attn_v");
    q = f.rope(f.layer_norm(q, il, "attn_q_norm"), il, kNeoX, name("q_rope"));
    k = f.rope(f.layer_norm(k, il, "attn_k_norm"), il, kNeoX, name("k_rope"));
    GraphBuilder::Attention attention;
    attention.scale = hp.kq_scale();
    cur = f.linear(f.attention(il, q, k, v, attention), il, "attn_output");
    if (il == hp.n_layer - 1) {  // only the rows whose logits are wanted go on
        cur = f.keep_wanted_rows(cur, name("attn_out_kept"));
        x = f.keep_wanted_rows(x, name("residual_kept"));
    }
    x = g.add(cur, x, name("attn_residual"));

    // SwiGLU feed-forward.
    cur = f.layer_norm(x, il, "ffn_norm");
    cur = g.swiglu(f.linear(cur, il, "ffn_gate"), f.linear(cur, il, "ffn_up"), name("swiglu"));
    x = g.add(f.linear(cur, il, "ffn_down"), x, name("ffn_residual"));
    return x;
}

TensorId forward(Forward& f) {
    GraphBuilder& g = f.graph();

    TensorId x = g.get_rows(f.weight("token_embd.weight"), f.tokens(), "embd");

    for (uint32_t il = 0; il < f.hparams().n_layer; ++il) x = block(f, il, x);

    x = f.final_norm(x);
    return g.mul_mat(f.output_weight(), x, "logits");
}

}  // namespace

const Architecture kQwen3Architecture = {"qwen3", load_hparams, weights, forward, block};

}  // namespace tessera

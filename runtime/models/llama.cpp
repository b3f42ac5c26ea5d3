// Llama (Llama 2 and 3, Mistral, TinyLlama and the many files converted as "llama"), as
// llama.cpp runs it (src/models/llama.cpp): pre-norm blocks with RMS norms, normal-style RoPE
// over the whole head, grouped-query attention scaled by 1/sqrt(head_dim), a SwiGLU
// feed-forward, and optional biases on every projection. Not run: mixtures of experts and RoPE
// frequency factors (rope_freqs, Llama 3.1 and later), which the loader refuses by name.
#include "formats/error.h"
#include "runtime/models/forward.h"
#include "runtime/models/registry.h"

namespace tessera {

namespace {

void load_hparams(const gguf::File& file, HParams& hp) {
    uint32_t n_expert = 0;
    if (read_optional(file, arch_key(hp, "expert_count"), n_expert) && n_expert > 0) {
        throw Error(file.path() + ": a llama mixture of experts (" + std::to_string(n_expert) +
                    " experts) is not supported");
    }
    if (hp.n_rot != hp.head_dim_k) {  // llama.cpp refuses these too
        throw Error(file.path() + ": invalid " + arch_key(hp, "rope.dimension_count") + " = " +
                    std::to_string(hp.n_rot) + ", expected the head dimension " +
                    std::to_string(hp.head_dim_k));
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
        specs.push_back(vector_weight(b("attn_output"), n_embd, false));
        specs.push_back(vector_weight(w("ffn_norm"), n_embd));
        specs.push_back(matrix_weight(w("ffn_gate"), n_embd, hp.n_ff));
        specs.push_back(matrix_weight(w("ffn_down"), hp.n_ff, n_embd));
        specs.push_back(matrix_weight(w("ffn_up"), n_embd, hp.n_ff));
        specs.push_back(vector_weight(b("ffn_gate"), hp.n_ff, false));
        specs.push_back(vector_weight(b("ffn_down"), n_embd, false));
        specs.push_back(vector_weight(b("ffn_up"), hp.n_ff, false));
    }
    return specs;
}

// One decoder block: layer `il` of the main model, or a next-n block after them (whose
// rows are all kept).
TensorId block(Forward& f, uint32_t il, TensorId x) {
    GraphBuilder& g = f.graph();
    const HParams& hp = f.hparams();
    constexpr auto kNormal = backend::RopeStyle::Normal;

    const auto name = [il](const char* what) { return Forward::name(il, what); };

    // Attention.
    TensorId cur = f.layer_norm(x, il, "attn_norm");
    TensorId q = f.split_heads(f.linear(cur, il, "attn_q"), hp.n_head, name("q"));
    TensorId k = f.split_heads(f.linear(cur, il, "attn_k"), hp.n_head_kv, name("k"));
    TensorId v = f.linear(cur, il, "attn_v");
    q = f.rope(q, il, kNormal, name("q_rope"));
    k = f.rope(k, il, kNormal, name("k_rope"));
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

const Architecture kLlamaArchitecture = {"llama", load_hparams, weights, forward, block};

}  // namespace tessera

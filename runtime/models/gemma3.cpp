// Gemma 3 (text), as llama.cpp runs it (src/models/gemma3.cpp):
//   - embeddings scaled by sqrt(n_embd);
//   - RMS norms before and after both attention and the feed-forward block (post_attention_norm,
//     post_ffw_norm); the norm weights in GGUF already hold Gemma's "1 + weight" (the converter
//     adds the 1);
//   - per-head RMS norms of queries and keys, then NeoX-style RoPE;
//   - sliding-window layers in a 5 local : 1 global pattern (attention.sliding_window_pattern,
//     default 6), with their own RoPE base (rope.freq_base_swa, default 10000) and no RoPE
//     scaling; global layers use rope.freq_base and rope.scaling;
//   - attention scores scaled by 1/sqrt(head_dim) (query_pre_attn_scalar), except the 27B
//     model's 1/sqrt(n_embd / n_head);
//   - a GeGLU feed-forward with the tanh GELU;
//   - output tied to the token embeddings unless the file has output.weight, and a final logit
//     softcap when final_logit_softcapping is set.
#include <cmath>

#include "runtime/models/forward.h"
#include "runtime/models/registry.h"

namespace tessera {

namespace {

void load_hparams(const gguf::File& file, HParams& hp) {
    uint32_t n_swa = 0;
    if (read_optional(file, arch_key(hp, "attention.sliding_window"), n_swa) && n_swa > 0) {
        hp.n_swa = n_swa;
        // llama.cpp reads the pattern only as a scalar; an array leaves the default.
        uint32_t period = 6;
        const std::string pattern_key = arch_key(hp, "attention.sliding_window_pattern");
        const gguf::Value* pattern = file.find(pattern_key);
        if (pattern != nullptr && pattern->type() != gguf::ValueType::ARRAY) {
            read_optional(file, pattern_key, period);
        }
        set_swa_pattern(hp, period);
        read_optional(file, arch_key(hp, "rope.freq_base_swa"), hp.rope_freq_base_swa);
    }
    hp.final_logit_softcap = 0.0f;
    read_optional(file, arch_key(hp, "final_logit_softcapping"), hp.final_logit_softcap);

    // gemma_pytorch's query_pre_attn_scalar: n_embd / n_head for the 27B model (62 layers),
    // head_dim for the others (integer division first, as llama.cpp does).
    const uint32_t scalar = hp.n_layer == 62 ? hp.n_embd / hp.n_head : hp.head_dim_k;
    hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(scalar));
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
        specs.push_back(vector_weight(w("post_attention_norm"), n_embd));
        specs.push_back(vector_weight(w("attn_k_norm"), hp.head_dim_k));
        specs.push_back(vector_weight(w("attn_q_norm"), hp.head_dim_k));
        specs.push_back(vector_weight(w("ffn_norm"), n_embd));
        specs.push_back(matrix_weight(w("ffn_gate"), n_embd, hp.n_ff));
        specs.push_back(matrix_weight(w("ffn_up"), n_embd, hp.n_ff));
        specs.push_back(matrix_weight(w("ffn_down"), hp.n_ff, n_embd));
        specs.push_back(vector_weight(w("post_ffw_norm"), n_embd));
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

    // Attention, with normed queries and keys, over a sliding window on local layers.
    TensorId cur = f.layer_norm(x, il, "attn_norm");
    TensorId q = f.split_heads(f.linear(cur, il, "attn_q"), hp.n_head, name("q"));
    TensorId k = f.split_heads(f.linear(cur, il, "attn_k"), hp.n_head_kv, name("k"));
    TensorId v = f.linear(cur, il, "attn_v");
    q = f.rope(f.layer_norm(q, il, "attn_q_norm"), il, kNeoX, name("q_rope"));
    k = f.rope(f.layer_norm(k, il, "attn_k_norm"), il, kNeoX, name("k_rope"));
    GraphBuilder::Attention attention;
    attention.scale = hp.kq_scale();
    attention.window = hp.is_swa(il) ? static_cast<int32_t>(hp.n_swa) : 0;
    cur = f.linear(f.attention(il, q, k, v, attention), il, "attn_output");
    if (il == hp.n_layer - 1) {  // only the rows whose logits are wanted go on
        cur = f.keep_wanted_rows(cur, name("attn_out_kept"));
        x = f.keep_wanted_rows(x, name("residual_kept"));
    }
    x = g.add(f.layer_norm(cur, il, "post_attention_norm"), x, name("attn_residual"));

    // GeGLU feed-forward, normed before and after.
    cur = f.layer_norm(x, il, "ffn_norm");
    cur = g.geglu(f.linear(cur, il, "ffn_gate"), f.linear(cur, il, "ffn_up"), name("geglu"));
    cur = f.linear(cur, il, "ffn_down");
    x = g.add(f.layer_norm(cur, il, "post_ffw_norm"), x, name("ffn_residual"));
    return x;
}

TensorId forward(Forward& f) {
    GraphBuilder& g = f.graph();
    const HParams& hp = f.hparams();

    TensorId x = g.get_rows(f.weight("token_embd.weight"), f.tokens(), "embd");
    x = g.scale(x, std::sqrt(static_cast<float>(hp.n_embd)), "embd_scaled");

    for (uint32_t il = 0; il < f.hparams().n_layer; ++il) x = block(f, il, x);

    x = f.final_norm(x);
    TensorId logits = g.mul_mat(f.output_weight(), x, "logits");
    if (hp.final_logit_softcap > 0.0f) {
        logits = g.softcap(logits, hp.final_logit_softcap, "logits_softcapped");
    }
    return logits;
}

}  // namespace

const Architecture kGemma3Architecture = {"gemma3", load_hparams, weights, forward, block};

}  // namespace tessera

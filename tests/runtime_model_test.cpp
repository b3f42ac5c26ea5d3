// The runtime from a GGUF file to logits, on the CPU backend:
//   - loading refuses an unknown architecture (listing the supported ones), a missing tensor
//     and a misshapen tensor, naming them;
//   - tiny random llama, qwen2, qwen3 and gemma3 models written here give the logits of a naive
//     reference forward pass written independently in this file (grouped-query attention, both
//     RoPE styles, biases, q/k norms, Gemma's sandwich norms, sliding windows with their own RoPE
//     base, linear RoPE scaling);
//   - contexts: two on one model agree exactly, reset and reuse agree exactly, prompt batches
//     agree with token-by-token decoding, inputs split by n_batch agree with whole ones, a
//     position past n_ctx and a token outside the vocabulary are refused before anything runs,
//     a Q8_0 cache stays close to the F16 one;
//   - the real Gemma 3 270M file (skipped, saying why, when absent) gives finite logits and a
//     stable greedy continuation.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "formats/error.h"
#include "formats/gguf/writer.h"
#include "formats/quant/half.h"
#include "runtime/context.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using quant::TensorType;

// ---------------------------------------------------------------------------------------------
// Tiny models.

struct Tiny {
    std::string arch = "llama";
    int64_t n_embd = 64;
    int64_t n_layer = 2;
    int64_t n_head = 4;
    int64_t n_head_kv = 2;
    int64_t head_dim = 16;
    int64_t n_ff = 96;
    int64_t n_vocab = 128;
    uint32_t n_ctx_train = 512;
    float eps = 1e-5f;
    float rope_base = 10000.0f;
    float rope_linear_factor = 0.0f;  // 0: no rope.scaling keys
    uint32_t sliding_window = 0;      // gemma3
    int swa_pattern = -1;             // gemma3: -1 for the default
    bool qkv_bias = false;
    bool output_bias = false;  // qwen2
    bool tied = true;
    uint32_t seed = 7;

    bool qk_norm() const { return arch == "qwen3" || arch == "gemma3"; }
    bool gemma() const { return arch == "gemma3"; }
    bool neox() const { return arch != "llama"; }
};

struct Weight {
    std::string name;
    std::vector<uint64_t> shape;
    std::vector<float> data;
};

using Weights = std::map<std::string, Weight>;

std::vector<Weight> make_weights(const Tiny& t) {
    std::mt19937 rng(t.seed);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    std::vector<Weight> list;
    const auto add = [&](std::string name, std::vector<uint64_t> shape, float scale, float bias) {
        uint64_t n = 1;
        for (uint64_t d : shape) n *= d;
        Weight w{std::move(name), std::move(shape), std::vector<float>(n)};
        for (float& v : w.data) v = bias + scale * unit(rng);
        list.push_back(std::move(w));
    };
    const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    const auto matrix = [&](std::string name, int64_t in, int64_t out) {
        add(std::move(name), {u(in), u(out)}, 1.0f / std::sqrt(static_cast<float>(in)), 0.0f);
    };
    const auto norm = [&](std::string name, int64_t n) {
        add(std::move(name), {u(n)}, 0.2f, 1.0f);
    };
    const auto bias = [&](std::string name, int64_t n) {
        add(std::move(name), {u(n)}, 0.1f, 0.0f);
    };

    const int64_t n_q = t.head_dim * t.n_head;
    const int64_t n_kv = t.head_dim * t.n_head_kv;
    add("token_embd.weight", {u(t.n_embd), u(t.n_vocab)}, 1.0f, 0.0f);
    norm("output_norm.weight", t.n_embd);
    if (!t.tied) matrix("output.weight", t.n_embd, t.n_vocab);
    if (t.output_bias) bias("output.bias", t.n_vocab);
    for (int64_t il = 0; il < t.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        norm(p + "attn_norm.weight", t.n_embd);
        matrix(p + "attn_q.weight", t.n_embd, n_q);
        matrix(p + "attn_k.weight", t.n_embd, n_kv);
        matrix(p + "attn_v.weight", t.n_embd, n_kv);
        if (t.qkv_bias) {
            bias(p + "attn_q.bias", n_q);
            bias(p + "attn_k.bias", n_kv);
            bias(p + "attn_v.bias", n_kv);
        }
        matrix(p + "attn_output.weight", n_q, t.n_embd);
        if (t.qk_norm()) {
            norm(p + "attn_q_norm.weight", t.head_dim);
            norm(p + "attn_k_norm.weight", t.head_dim);
        }
        if (t.gemma()) norm(p + "post_attention_norm.weight", t.n_embd);
        norm(p + "ffn_norm.weight", t.n_embd);
        matrix(p + "ffn_gate.weight", t.n_embd, t.n_ff);
        matrix(p + "ffn_up.weight", t.n_embd, t.n_ff);
        matrix(p + "ffn_down.weight", t.n_ff, t.n_embd);
        if (t.gemma()) norm(p + "post_ffw_norm.weight", t.n_embd);
    }
    return list;
}

// Changes to a valid file, for the loader's errors.
struct Tweaks {
    std::string architecture;  // overrides general.architecture
    std::string drop;          // a tensor left out
    std::string misshape;      // a tensor written with its last dimension doubled
};

Weights write_tiny(const std::string& path, const Tiny& t, const Tweaks& tweaks = {}) {
    using gguf::Value;
    using gguf::ValueType;
    const std::vector<Weight> list = make_weights(t);
    gguf::Writer writer(path);
    const std::string a = t.arch;
    const auto u32 = [](uint64_t v) { return Value::from_uint(ValueType::UINT32, v); };
    const auto f32 = [](double v) { return Value::from_float(ValueType::FLOAT32, v); };
    writer.add("general.architecture",
               Value::from_string(tweaks.architecture.empty() ? a : tweaks.architecture));
    writer.add(a + ".context_length", u32(t.n_ctx_train));
    writer.add(a + ".embedding_length", u32(static_cast<uint64_t>(t.n_embd)));
    writer.add(a + ".block_count", u32(static_cast<uint64_t>(t.n_layer)));
    writer.add(a + ".feed_forward_length", u32(static_cast<uint64_t>(t.n_ff)));
    writer.add(a + ".attention.head_count", u32(static_cast<uint64_t>(t.n_head)));
    writer.add(a + ".attention.head_count_kv", u32(static_cast<uint64_t>(t.n_head_kv)));
    writer.add(a + ".attention.key_length", u32(static_cast<uint64_t>(t.head_dim)));
    writer.add(a + ".attention.value_length", u32(static_cast<uint64_t>(t.head_dim)));
    writer.add(a + ".attention.layer_norm_rms_epsilon", f32(t.eps));
    writer.add(a + ".rope.freq_base", f32(t.rope_base));
    if (t.rope_linear_factor > 0.0f) {
        writer.add(a + ".rope.scaling.type", Value::from_string("linear"));
        writer.add(a + ".rope.scaling.factor", f32(t.rope_linear_factor));
    }
    if (t.sliding_window > 0) writer.add(a + ".attention.sliding_window", u32(t.sliding_window));
    if (t.swa_pattern >= 0) {
        writer.add(a + ".attention.sliding_window_pattern",
                   u32(static_cast<uint64_t>(t.swa_pattern)));
    }
    Weights weights;
    for (const Weight& w : list) {
        if (w.name == tweaks.drop) continue;
        std::vector<uint64_t> shape = w.shape;
        if (w.name == tweaks.misshape) shape.back() *= 2;
        writer.add_tensor({w.name, shape, TensorType::F32});
        weights[w.name] = w;
    }
    writer.write_header();
    for (const Weight& w : list) {
        if (w.name == tweaks.drop) continue;
        const auto* bytes = reinterpret_cast<const uint8_t*>(w.data.data());
        writer.write_tensor_data({bytes, w.data.size() * sizeof(float)});
        if (w.name == tweaks.misshape)
            writer.write_tensor_data({bytes, w.data.size() * sizeof(float)});
    }
    writer.finish();
    return weights;
}

// ---------------------------------------------------------------------------------------------
// A naive reference forward pass, straight from the models' definitions, in double precision
// (keys and values rounded to f16 as the cache stores them). Returns every token's logits.

using Vec = std::vector<double>;

Vec matvec(const Weight& w, const Vec& x) {  // w is {in, out}
    const size_t in = w.shape[0];
    const size_t out = w.shape[1];
    Vec y(out, 0.0);
    for (size_t o = 0; o < out; ++o) {
        double sum = 0.0;
        for (size_t i = 0; i < in; ++i) sum += double{w.data[o * in + i]} * x[i];
        y[o] = sum;
    }
    return y;
}

Vec rms_norm(const Vec& x, const Weight& w, double eps, size_t offset = 0, size_t n = 0) {
    if (n == 0) n = x.size();
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += x[offset + i] * x[offset + i];
    const double inv = 1.0 / std::sqrt(sum / static_cast<double>(n) + eps);
    Vec y(n);
    for (size_t i = 0; i < n; ++i) y[i] = x[offset + i] * inv * w.data[i];
    return y;
}

void add_bias(Vec& x, const Weights& weights, const std::string& name) {
    auto it = weights.find(name);
    if (it == weights.end()) return;
    for (size_t i = 0; i < x.size(); ++i) x[i] += it->second.data[i];
}

double round_f16(double v) {
    return quant::fp16_to_fp32(quant::fp32_to_fp16(static_cast<float>(v)));
}

void rope(Vec& head, int64_t position, int64_t n_rot, double base, double scale, bool neox) {
    for (int64_t i = 0; i < n_rot / 2; ++i) {
        const double theta =
            static_cast<double>(position) * scale *
            std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
        const size_t a = neox ? static_cast<size_t>(i) : static_cast<size_t>(2 * i);
        const size_t b = neox ? static_cast<size_t>(i + n_rot / 2) : static_cast<size_t>(2 * i + 1);
        const double x0 = head[a];
        const double x1 = head[b];
        head[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        head[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
}

std::vector<Vec> reference_logits(const Tiny& t, const Weights& w,
                                  const std::vector<int32_t>& tokens) {
    const auto n = tokens.size();
    const auto hd = static_cast<size_t>(t.head_dim);
    const auto at = [&](const std::string& name) -> const Weight& { return w.at(name); };
    std::vector<Vec> x(n);
    for (size_t j = 0; j < n; ++j) {
        const Weight& e = at("token_embd.weight");
        x[j].assign(
            e.data.begin() + static_cast<long>(static_cast<size_t>(tokens[j]) * e.shape[0]),
            e.data.begin() + static_cast<long>((static_cast<size_t>(tokens[j]) + 1) * e.shape[0]));
        if (t.gemma()) {
            for (double& v : x[j]) v *= std::sqrt(static_cast<float>(t.n_embd));
        }
    }
    for (int64_t il = 0; il < t.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        // Gemma 3: sliding layers in a pattern (period 6 by default), base 10000, no scaling.
        const int period = t.swa_pattern >= 0 ? t.swa_pattern : 6;
        const bool swa =
            t.gemma() && t.sliding_window > 0 && (period == 0 || il % period < period - 1);
        const double base = swa ? 10000.0 : t.rope_base;
        const double scale = !swa && t.rope_linear_factor > 0 ? 1.0 / t.rope_linear_factor : 1.0;
        std::vector<Vec> q(n), k(n), v(n);
        for (size_t j = 0; j < n; ++j) {
            const Vec h = rms_norm(x[j], at(p + "attn_norm.weight"), t.eps);
            q[j] = matvec(at(p + "attn_q.weight"), h);
            k[j] = matvec(at(p + "attn_k.weight"), h);
            v[j] = matvec(at(p + "attn_v.weight"), h);
            add_bias(q[j], w, p + "attn_q.bias");
            add_bias(k[j], w, p + "attn_k.bias");
            add_bias(v[j], w, p + "attn_v.bias");
            const auto per_head = [&](Vec& all, int64_t n_heads, const char* norm) {
                for (int64_t hh = 0; hh < n_heads; ++hh) {
                    const size_t off = static_cast<size_t>(hh) * hd;
                    Vec head(all.begin() + static_cast<long>(off),
                             all.begin() + static_cast<long>(off + hd));
                    if (t.qk_norm()) head = rms_norm(head, at(p + norm), t.eps);
                    rope(head, static_cast<int64_t>(j), t.head_dim, base, scale, t.neox());
                    std::copy(head.begin(), head.end(), all.begin() + static_cast<long>(off));
                }
            };
            per_head(q[j], t.n_head, "attn_q_norm.weight");
            per_head(k[j], t.n_head_kv, "attn_k_norm.weight");
            for (double& e : k[j]) e = round_f16(e);
            for (double& e : v[j]) e = round_f16(e);
        }
        const double kq_scale = 1.0 / std::sqrt(static_cast<double>(t.head_dim));
        for (size_t j = 0; j < n; ++j) {
            Vec attn(static_cast<size_t>(t.n_head) * hd, 0.0);
            for (int64_t hh = 0; hh < t.n_head; ++hh) {
                const size_t kvh = static_cast<size_t>(hh / (t.n_head / t.n_head_kv));
                std::vector<double> scores;
                std::vector<size_t> seen;
                for (size_t s = 0; s <= j; ++s) {
                    if (swa && j - s >= t.sliding_window) continue;
                    double dot = 0.0;
                    for (size_t d = 0; d < hd; ++d)
                        dot += q[j][static_cast<size_t>(hh) * hd + d] * k[s][kvh * hd + d];
                    scores.push_back(dot * kq_scale);
                    seen.push_back(s);
                }
                const double max = *std::max_element(scores.begin(), scores.end());
                double sum = 0.0;
                for (double& sc : scores) sum += (sc = std::exp(sc - max));
                for (size_t i = 0; i < seen.size(); ++i) {
                    for (size_t d = 0; d < hd; ++d) {
                        attn[static_cast<size_t>(hh) * hd + d] +=
                            scores[i] / sum * v[seen[i]][kvh * hd + d];
                    }
                }
            }
            Vec o = matvec(at(p + "attn_output.weight"), attn);
            if (t.gemma()) o = rms_norm(o, at(p + "post_attention_norm.weight"), t.eps);
            for (size_t i = 0; i < o.size(); ++i) x[j][i] += o[i];
            const Vec h = rms_norm(x[j], at(p + "ffn_norm.weight"), t.eps);
            const Vec gate = matvec(at(p + "ffn_gate.weight"), h);
            const Vec up = matvec(at(p + "ffn_up.weight"), h);
            Vec act(gate.size());
            for (size_t i = 0; i < gate.size(); ++i) {
                const double g = gate[i];
                const double a = t.gemma()
                                     ? 0.5 * g *
                                           (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) *
                                                            (g + 0.044715 * g * g * g)))
                                     : g / (1.0 + std::exp(-g));
                act[i] = a * up[i];
            }
            Vec d = matvec(at(p + "ffn_down.weight"), act);
            if (t.gemma()) d = rms_norm(d, at(p + "post_ffw_norm.weight"), t.eps);
            for (size_t i = 0; i < d.size(); ++i) x[j][i] += d[i];
        }
    }
    std::vector<Vec> logits(n);
    for (size_t j = 0; j < n; ++j) {
        const Vec h = rms_norm(x[j], at("output_norm.weight"), t.eps);
        logits[j] = matvec(at(t.tied ? "token_embd.weight" : "output.weight"), h);
        add_bias(logits[j], w, "output.bias");
    }
    return logits;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

std::string tiny_path(const std::string& name) {
    return test::temp_dir() + "/" + name + ".gguf";
}

std::string load_error(const std::string& path) {
    try {
        Model::load(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

double max_abs(std::span<const float> v) {
    double m = 0.0;
    for (float x : v) m = std::max(m, std::fabs(double{x}));
    return m;
}

// Largest |a - b| relative to the largest |b|.
double relative_difference(std::span<const float> a, std::span<const float> b) {
    EXPECT_EQ(a.size(), b.size());
    double diff = 0.0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(double{a[i]} - double{b[i]}));
    }
    return diff / std::max(max_abs(b), 1e-30);
}

std::vector<float> copy(std::span<const float> logits) {
    return {logits.begin(), logits.end()};
}

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

const std::vector<int32_t> kTokens = {1, 17, 42, 99, 5, 64, 3, 120, 77, 8, 31};

// ---------------------------------------------------------------------------------------------
// Loading errors.

TEST(RuntimeModel, UnknownArchitectureListsTheSupportedOnes) {
    Tweaks tweaks;
    tweaks.architecture = "mamba9";
    const std::string path = tiny_path("unknown_arch");
    write_tiny(path, Tiny{}, tweaks);
    const std::string message = load_error(path);
    EXPECT_NE(message.find("'mamba9'"), std::string::npos) << message;
    EXPECT_NE(message.find("gemma3, llama, qwen2, qwen3"), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
}

TEST(RuntimeModel, MissingTensorIsNamed) {
    Tweaks tweaks;
    tweaks.drop = "blk.1.ffn_up.weight";
    const std::string path = tiny_path("missing");
    write_tiny(path, Tiny{}, tweaks);
    const std::string message = load_error(path);
    EXPECT_NE(message.find("'blk.1.ffn_up.weight' is missing"), std::string::npos) << message;
    EXPECT_NE(message.find("[64, 96]"), std::string::npos) << message;
}

TEST(RuntimeModel, MisshapenTensorIsNamedWithBothShapes) {
    Tweaks tweaks;
    tweaks.misshape = "blk.0.attn_k.weight";
    const std::string path = tiny_path("misshapen");
    write_tiny(path, Tiny{}, tweaks);
    const std::string message = load_error(path);
    EXPECT_NE(message.find("'blk.0.attn_k.weight'"), std::string::npos) << message;
    EXPECT_NE(message.find("[64, 64]"), std::string::npos) << message;  // what the file has
    EXPECT_NE(message.find("[64, 32]"), std::string::npos) << message;  // what is needed
}

TEST(RuntimeModel, TensorOutsideTheArchitectureIsNamed) {
    Tiny tiny;
    tiny.arch = "qwen3";
    tiny.output_bias = true;  // qwen2 has one, qwen3 does not
    const std::string path = tiny_path("extra");
    write_tiny(path, tiny);
    const std::string message = load_error(path);
    EXPECT_NE(message.find("'output.bias'"), std::string::npos) << message;
    EXPECT_NE(message.find("qwen3"), std::string::npos) << message;
}

TEST(RuntimeModel, MissingHyperParameterIsNamed) {
    Tiny tiny;
    tiny.arch = "gemma3";
    tiny.head_dim = 32;
    tiny.n_head_kv = 1;
    const std::string path = tiny_path("no_eps");
    // Rewrite without the epsilon: write a valid file, then one whose keys lack it.
    {
        gguf::Writer writer(path);
        writer.add("general.architecture", gguf::Value::from_string("gemma3"));
        for (const char* key :
             {"context_length", "embedding_length", "block_count", "feed_forward_length"}) {
            writer.add(std::string("gemma3.") + key,
                       gguf::Value::from_uint(gguf::ValueType::UINT32, 64));
        }
        writer.add("gemma3.attention.head_count",
                   gguf::Value::from_uint(gguf::ValueType::UINT32, 4));
        writer.write_header();
        writer.finish();
    }
    const std::string message = load_error(path);
    EXPECT_NE(message.find("gemma3.attention.layer_norm_rms_epsilon"), std::string::npos)
        << message;
}

// ---------------------------------------------------------------------------------------------
// Logits against the reference.

struct ArchCase {
    const char* name;
    Tiny tiny;
};

std::vector<ArchCase> arch_cases() {
    std::vector<ArchCase> cases;
    Tiny llama;
    cases.push_back({"llama", llama});
    Tiny llama_untied = llama;
    llama_untied.tied = false;
    llama_untied.n_head_kv = 4;  // plain multi-head attention
    cases.push_back({"llama_untied_mha", llama_untied});
    Tiny qwen2;
    qwen2.arch = "qwen2";
    qwen2.qkv_bias = true;
    qwen2.output_bias = true;
    qwen2.tied = false;
    qwen2.rope_base = 1000000.0f;
    cases.push_back({"qwen2", qwen2});
    Tiny qwen3;
    qwen3.arch = "qwen3";
    qwen3.n_head = 4;
    qwen3.head_dim = 32;  // q is wider than n_embd, as in Qwen3
    qwen3.n_head_kv = 1;
    cases.push_back({"qwen3", qwen3});
    Tiny gemma3;
    gemma3.arch = "gemma3";
    gemma3.n_layer = 3;
    gemma3.n_head = 2;
    gemma3.n_head_kv = 1;
    gemma3.head_dim = 32;
    gemma3.eps = 1e-6f;
    gemma3.rope_base = 1000000.0f;
    gemma3.rope_linear_factor = 4.0f;  // global layers only
    gemma3.sliding_window = 3;
    gemma3.swa_pattern = 2;  // sliding, global, sliding
    cases.push_back({"gemma3", gemma3});
    return cases;
}

TEST(RuntimeModel, LogitsMatchTheReferenceForEveryArchitecture) {
    for (const ArchCase& c : arch_cases()) {
        SCOPED_TRACE(c.name);
        const std::string path = tiny_path(std::string("ref_") + c.name);
        const Weights weights = write_tiny(path, c.tiny);
        const std::vector<Vec> expected = reference_logits(c.tiny, weights, kTokens);

        auto model = Model::load(path);
        ContextOptions options;
        options.n_ctx = 64;
        options.n_threads = 2;
        Context context(model, options);
        const std::span<const float> all = context.decode(kTokens, Logits::All);
        const auto n_vocab = static_cast<size_t>(c.tiny.n_vocab);
        ASSERT_EQ(all.size(), kTokens.size() * n_vocab);
        for (size_t j = 0; j < kTokens.size(); ++j) {
            const std::vector<float> want(expected[j].begin(), expected[j].end());
            const double diff = relative_difference(all.subspan(j * n_vocab, n_vocab), want);
            EXPECT_LT(diff, 2e-3) << "token " << j;
        }
        EXPECT_EQ(context.position(), kTokens.size());
    }
}

TEST(RuntimeModel, SlidingWindowHidesTokensBeforeTheWindow) {
    // One sliding layer of window 3: the last query (position 5) sees positions 3, 4 and 5 only.
    Tiny tiny = arch_cases().back().tiny;
    tiny.n_layer = 1;
    tiny.swa_pattern = 0;  // every layer sliding
    const std::string path = tiny_path("window");
    write_tiny(path, tiny);
    auto model = Model::load(path);
    ContextOptions options;
    options.n_ctx = 16;
    Context context(model, options);
    const auto last = [&](const std::vector<int32_t>& tokens) {
        context.reset();
        return copy(context.decode(tokens));
    };
    const std::vector<float> base = last({10, 11, 12, 13, 14, 15});
    EXPECT_EQ(last({90, 91, 92, 13, 14, 15}), base);  // positions 0..2 are outside
    EXPECT_NE(last({10, 11, 12, 93, 14, 15}), base);  // position 3 is inside
}

// ---------------------------------------------------------------------------------------------
// Contexts.

class TinyContexts : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        Tiny tiny = arch_cases().back().tiny;  // gemma3: the most paths
        path_ = new std::string(tiny_path("contexts"));
        write_tiny(*path_, tiny);
    }
    static void TearDownTestSuite() { delete path_; }
    static std::shared_ptr<const Model> load() { return Model::load(*path_); }
    static ContextOptions options(uint32_t n_ctx = 32) {
        ContextOptions o;
        o.n_ctx = n_ctx;
        o.n_threads = 2;
        return o;
    }
    static std::string* path_;
};
std::string* TinyContexts::path_ = nullptr;

TEST_F(TinyContexts, TwoContextsOnOneModelGiveIdenticalLogits) {
    auto model = load();
    Context a(model, options());
    Context b(model, options());
    const std::vector<float> first = copy(a.decode(kTokens));
    EXPECT_EQ(copy(b.decode(kTokens)), first);
    // Interleaved decoding does not disturb either.
    const std::vector<float> a_next = copy(a.decode(std::vector<int32_t>{7}));
    EXPECT_EQ(copy(b.decode(std::vector<int32_t>{7})), a_next);
    EXPECT_EQ(model.use_count(), 3);  // each context holds the model
}

TEST_F(TinyContexts, ResetAndReuseGiveIdenticalLogits) {
    Context context(load(), options());
    const std::vector<float> prompt = copy(context.decode(kTokens));
    const std::vector<float> next = copy(context.decode(std::vector<int32_t>{9}));
    context.reset();
    EXPECT_EQ(context.position(), 0u);
    EXPECT_EQ(copy(context.decode(kTokens)), prompt);
    EXPECT_EQ(copy(context.decode(std::vector<int32_t>{9})), next);
}

TEST_F(TinyContexts, PromptBatchMatchesTokenByToken) {
    auto model = load();
    Context batched(model, options());
    Context stepped(model, options());
    const std::span<const float> all = batched.decode(kTokens, Logits::All);
    const auto n_vocab = static_cast<size_t>(batched.n_vocab());
    for (size_t j = 0; j < kTokens.size(); ++j) {
        const std::vector<float> step = copy(stepped.decode(std::span(&kTokens[j], 1)));
        EXPECT_LT(relative_difference(step, all.subspan(j * n_vocab, n_vocab)), 1e-4)
            << "token " << j;
    }
    Context last_only(model, options());
    EXPECT_LT(relative_difference(last_only.decode(kTokens),
                                  all.subspan((kTokens.size() - 1) * n_vocab, n_vocab)),
              1e-5);
    // One pass for a single token, one per batch size and logits mode.
    EXPECT_EQ(stepped.n_compiled(), 1u);
}

TEST_F(TinyContexts, InputsLongerThanTheBatchAreSplit) {
    auto model = load();
    ContextOptions small = options();
    small.n_batch = 4;
    Context split(model, small);
    Context whole(model, options());
    EXPECT_EQ(split.n_batch(), 4u);
    const std::vector<float> all_split = copy(split.decode(kTokens, Logits::All));
    const std::vector<float> all_whole = copy(whole.decode(kTokens, Logits::All));
    EXPECT_LT(relative_difference(all_split, all_whole), 1e-4);
    split.reset();
    whole.reset();
    EXPECT_LT(relative_difference(split.decode(kTokens), whole.decode(kTokens)), 1e-4);
}

TEST_F(TinyContexts, CompiledPassesAreReusedAndBounded) {
    Context context(load(), options(64));
    const std::vector<float> first = copy(context.decode(std::span(kTokens.data(), 3)));
    context.reset();
    EXPECT_EQ(copy(context.decode(std::span(kTokens.data(), 3))), first);
    EXPECT_EQ(context.n_compiled(), 1u);  // the same pass again
    for (size_t n = 1; n <= 20; ++n) {
        context.reset();
        context.decode(std::vector<int32_t>(n, 4));
    }
    EXPECT_EQ(context.n_compiled(), 16u);
    context.reset();  // the 3-token pass was evicted; compiled again, it gives the same
    EXPECT_EQ(copy(context.decode(std::span(kTokens.data(), 3))), first);
}

TEST_F(TinyContexts, PositionPastTheContextIsRefusedBeforeRunning) {
    Context context(load(), options(8));
    const std::vector<int32_t> nine(9, 3);
    try {
        context.decode(nine);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("context"), std::string::npos) << message;
        EXPECT_NE(message.find("8"), std::string::npos) << message;
    }
    EXPECT_EQ(context.position(), 0u);
    context.decode(std::vector<int32_t>(8, 3));
    EXPECT_EQ(context.position(), 8u);
    EXPECT_THROW(context.decode(std::vector<int32_t>{3}), Error);
    EXPECT_EQ(context.position(), 8u);
    context.reset();
    EXPECT_NO_THROW(context.decode(std::vector<int32_t>{3}));
}

TEST_F(TinyContexts, BadInputsAreRefused) {
    Context context(load(), options());
    EXPECT_THROW(context.decode(std::vector<int32_t>{}), Error);
    try {
        context.decode(std::vector<int32_t>{1, 2, 128});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("token id 128"), std::string::npos) << e.what();
    }
    EXPECT_THROW(context.decode(std::vector<int32_t>{-1}), Error);
    EXPECT_EQ(context.position(), 0u);
    ContextOptions bad = options();
    bad.kv_type = TensorType::Q4_0;
    EXPECT_THROW(Context(load(), bad), Error);
    bad = options();
    bad.n_batch = 0;
    EXPECT_THROW(Context(load(), bad), Error);
}

TEST_F(TinyContexts, Q8CacheStaysCloseToF16) {
    auto model = load();
    ContextOptions q8 = options();
    q8.kv_type = TensorType::Q8_0;
    Context f16_context(model, options());
    Context q8_context(model, q8);
    EXPECT_LT(q8_context.kv_cache_bytes(), f16_context.kv_cache_bytes());
    const std::vector<float> want = copy(f16_context.decode(kTokens));
    const std::vector<float> got = copy(q8_context.decode(kTokens));
    EXPECT_LT(relative_difference(got, want), 3e-2);
    EXPECT_GT(relative_difference(got, want), 0.0);  // it really is another cache
}

TEST_F(TinyContexts, ContextsOnSeveralThreadsShareOneModel) {
    auto model = load();
    Context sequential(model, options());
    const std::vector<float> want = copy(sequential.decode(kTokens, Logits::All));
    std::vector<std::vector<float>> got(3);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < got.size(); ++i) {
        threads.emplace_back([&, i] {
            Context context(model, options());
            got[i] = copy(context.decode(kTokens, Logits::All));
        });
    }
    for (std::thread& thread : threads) thread.join();
    for (const std::vector<float>& logits : got) EXPECT_EQ(logits, want);
}

// A device whose memory the host cannot reach, as a discrete GPU's: it computes with the CPU
// device inside, but its buffers have no host address and wrap_host() declines, so the runtime
// must upload the weights and inputs and download the logits.
class OpaqueBuffer final : public backend::Buffer {
  public:
    explicit OpaqueBuffer(std::unique_ptr<backend::Buffer> inner) : inner_(std::move(inner)) {}
    uint64_t size() const override { return inner_->size(); }
    backend::MemoryKind kind() const override { return backend::MemoryKind::DeviceLocal; }
    void* host_data() override { return nullptr; }
    backend::Buffer& inner() { return *inner_; }

  private:
    std::unique_ptr<backend::Buffer> inner_;
};

class OpaqueDevice final : public backend::Device {
  public:
    const backend::DeviceInfo& info() const override { return cpu_->info(); }
    bool supports(const backend::Graph& graph, const backend::Node& node) const override {
        return cpu_->supports(graph, node);
    }
    std::unique_ptr<backend::Buffer> allocate(uint64_t size, backend::MemoryKind kind) override {
        return std::make_unique<OpaqueBuffer>(cpu_->allocate(size, kind));
    }
    std::unique_ptr<backend::Buffer> wrap_host(const void*, uint64_t) override { return nullptr; }
    void upload(backend::Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) override {
        uploaded += bytes.size();
        cpu_->upload(inner(dst), offset, bytes);
    }
    void download(backend::Buffer& src, uint64_t offset, std::span<uint8_t> bytes) override {
        downloaded += bytes.size();
        cpu_->download(inner(src), offset, bytes);
    }
    void copy(backend::Buffer& src, uint64_t src_offset, backend::Buffer& dst, uint64_t dst_offset,
              uint64_t size) override {
        cpu_->copy(inner(src), src_offset, inner(dst), dst_offset, size);
    }
    std::unique_ptr<backend::Executable> compile(
        const backend::Graph& graph, std::span<backend::Buffer* const> buffers) override {
        std::vector<backend::Buffer*> inner_buffers;
        for (backend::Buffer* buffer : buffers) inner_buffers.push_back(&inner(*buffer));
        return cpu_->compile(graph, inner_buffers);
    }
    std::unique_ptr<backend::Queue> create_queue(const backend::QueueOptions& options) override {
        return cpu_->create_queue(options);
    }

    std::atomic<uint64_t> uploaded{0};
    std::atomic<uint64_t> downloaded{0};

  private:
    static backend::Buffer& inner(backend::Buffer& buffer) {
        return dynamic_cast<OpaqueBuffer&>(buffer).inner();
    }
    std::shared_ptr<backend::Device> cpu_ = backend::open_device("cpu", 0);
};

TEST_F(TinyContexts, DeviceWithoutHostAccessGetsWeightsUploadedAndLogitsDownloaded) {
    auto device = std::make_shared<OpaqueDevice>();
    auto uploaded_model = Model::load(*path_, device);
    EXPECT_FALSE(uploaded_model->weights_in_place());
    EXPECT_GE(device->uploaded.load(), uploaded_model->weight_bytes());
    auto mapped_model = load();
    EXPECT_TRUE(mapped_model->weights_in_place());
    EXPECT_EQ(uploaded_model->weight_bytes(), mapped_model->weight_bytes());

    Context on_device(uploaded_model, options());
    Context on_cpu(mapped_model, options());
    EXPECT_EQ(copy(on_device.decode(kTokens, Logits::All)),
              copy(on_cpu.decode(kTokens, Logits::All)));
    EXPECT_EQ(copy(on_device.decode(std::vector<int32_t>{5})),
              copy(on_cpu.decode(std::vector<int32_t>{5})));
    EXPECT_GE(device->downloaded.load(), (kTokens.size() + 1) * on_cpu.n_vocab() * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// The real Gemma 3 270M.

class RealGemma : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::optional<std::string> found = find_default_model();
        if (!found) {
            GTEST_SKIP() << "the default model (" << kDefaultModelFile << ") is not in "
                         << default_model_dir() << "; run scripts/fetch_model.py to test it";
        }
        path_ = *found;
    }
    std::string path_;
};

// <bos>The capital of France is
const std::vector<int32_t> kFrancePrompt = {2, 818, 5279, 529, 7001, 563};
// The five most likely next tokens by an independent float64 NumPy forward pass over the
// file's weights dequantized with gguf-py (logits 19.09, 18.55, 18.27, 18.11, 17.78): "▁the",
// "▁a", "▁Paris", "▁one", "▁known". This 270M base model continues "the capital of the
// country of France." greedily.
const std::vector<int32_t> kReferenceTop5 = {506, 496, 9079, 886, 3224};

std::vector<int32_t> top_ids(std::span<const float> logits, size_t k) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(),
                      [&](int32_t a, int32_t b) {
                          return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
                      });
    ids.resize(k);
    return ids;
}

std::vector<int32_t> greedy(Context& context, const std::vector<int32_t>& prompt, int n) {
    std::vector<int32_t> out;
    int32_t next = argmax(context.decode(prompt));
    for (int i = 0; i < n; ++i) {
        out.push_back(next);
        next = argmax(context.decode(std::span(&next, 1)));
    }
    return out;
}

TEST_F(RealGemma, FiniteLogitsAndAStableGreedyContinuation) {
    auto model = Model::load(path_);
    EXPECT_TRUE(model->weights_in_place());
    const HParams& hp = model->hparams();
    EXPECT_EQ(hp.n_layer, 18u);
    EXPECT_EQ(hp.n_swa, 512u);
    EXPECT_TRUE(hp.is_swa(0));
    EXPECT_FALSE(hp.is_swa(5));
    EXPECT_FLOAT_EQ(hp.rope_freq_base_swa, 10000.0f);
    EXPECT_FLOAT_EQ(hp.rope_freq_base, 1000000.0f);
    EXPECT_FLOAT_EQ(hp.kq_scale(), 1.0f / 16.0f);

    ContextOptions options;
    options.n_ctx = 256;
    options.n_threads = 2;
    Context context(model, options);
    const std::span<const float> logits = context.decode(kFrancePrompt);
    ASSERT_EQ(logits.size(), 262144u);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    // The top two are half a logit apart; the next three within 0.2 of each other, where
    // quantized activations may reorder them.
    const std::vector<int32_t> top5 = top_ids(logits, 5);
    EXPECT_EQ(top5[0], kReferenceTop5[0]);
    EXPECT_EQ(top5[1], kReferenceTop5[1]);
    std::vector<int32_t> sorted_top5 = top5;
    std::vector<int32_t> sorted_reference = kReferenceTop5;
    std::sort(sorted_top5.begin(), sorted_top5.end());
    std::sort(sorted_reference.begin(), sorted_reference.end());
    EXPECT_EQ(sorted_top5, sorted_reference);

    context.reset();
    const std::vector<int32_t> first = greedy(context, kFrancePrompt, 12);
    Context other(model, options);
    EXPECT_EQ(greedy(other, kFrancePrompt, 12), first);
    std::printf("greedy continuation ids:");
    for (int32_t id : first) std::printf(" %d", id);
    std::printf("\n");

    // Token by token through the prompt gives the same continuation.
    Context stepped(model, options);
    for (size_t j = 0; j + 1 < kFrancePrompt.size(); ++j)
        stepped.decode(std::span(&kFrancePrompt[j], 1));
    std::vector<int32_t> continuation = {
        argmax(stepped.decode(std::span(&kFrancePrompt.back(), 1)))};
    for (int i = 1; i < 12; ++i) {
        continuation.push_back(argmax(stepped.decode(std::span(&continuation.back(), 1))));
    }
    EXPECT_EQ(continuation, first);
}

}  // namespace
}  // namespace tessera

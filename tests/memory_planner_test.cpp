// The activation memory planner and the graph builder's checks: tensors whose lifetimes overlap
// never share bytes (on random graphs with views, and on a transformer built with the
// GraphBuilder), views land on their source's bytes, the peak of an 18-layer transformer is
// that of a 1-layer one, and every op helper refuses operands that do not fit, naming the op
// and the tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/graph_builder.h"
#include "runtime/memory_planner.h"

namespace tessera {
namespace {

using backend::Op;
using quant::TensorType;

constexpr uint32_t kWeights = 0;
constexpr uint32_t kInputs = 1;
constexpr uint32_t kActivations = 2;
constexpr uint32_t kCache = 3;

struct Interval {
    int32_t first = -1;
    int32_t last = -1;
};

// First and last node touching each tensor's storage, a view counting for its root.
std::vector<Interval> lifetimes(const backend::Graph& graph, const std::vector<int32_t>& root) {
    std::vector<Interval> life(graph.tensors.size());
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
        const backend::Node& node = graph.nodes[n];
        std::vector<int32_t> touched(node.src.begin(), node.src.end());
        touched.push_back(node.dst);
        for (int32_t t : touched) {
            if (t < 0) continue;
            Interval& i = life[static_cast<size_t>(root[static_cast<size_t>(t)])];
            if (i.first < 0) i.first = static_cast<int32_t>(n);
            i.last = static_cast<int32_t>(n);
        }
    }
    return life;
}

// Checks that no two roots alive at the same node share a byte, and that every view sits on its
// root's bytes. Returns the number of overlapping-lifetime pairs checked, to show the check ran.
size_t expect_no_shared_bytes(const backend::Graph& graph, const std::vector<uint8_t>& planned,
                              const std::vector<int32_t>& view_of) {
    std::vector<int32_t> root(graph.tensors.size());
    for (size_t t = 0; t < root.size(); ++t) {
        auto r = static_cast<int32_t>(t);
        while (view_of[static_cast<size_t>(r)] >= 0) r = view_of[static_cast<size_t>(r)];
        root[t] = r;
    }
    const std::vector<Interval> life = lifetimes(graph, root);
    size_t pairs = 0;
    for (size_t a = 0; a < graph.tensors.size(); ++a) {
        if (root[a] != static_cast<int32_t>(a) || !planned[a] || life[a].first < 0) continue;
        for (size_t b = a + 1; b < graph.tensors.size(); ++b) {
            if (root[b] != static_cast<int32_t>(b) || !planned[b] || life[b].first < 0) continue;
            const bool alive_together =
                life[a].first <= life[b].last && life[b].first <= life[a].last;
            if (!alive_together) continue;
            ++pairs;
            const backend::Tensor& ta = graph.tensors[a];
            const backend::Tensor& tb = graph.tensors[b];
            const bool disjoint =
                ta.offset + ta.n_bytes() <= tb.offset || tb.offset + tb.n_bytes() <= ta.offset;
            EXPECT_TRUE(disjoint) << "'" << ta.name << "' [" << ta.offset << ", +" << ta.n_bytes()
                                  << ") and '" << tb.name << "' [" << tb.offset << ", +"
                                  << tb.n_bytes() << ") are alive together but share bytes";
        }
    }
    for (size_t t = 0; t < graph.tensors.size(); ++t) {
        if (view_of[t] < 0 || !planned[static_cast<size_t>(root[t])]) continue;
        const backend::Tensor& view = graph.tensors[t];
        const backend::Tensor& source = graph.tensors[static_cast<size_t>(root[t])];
        EXPECT_GE(view.offset, source.offset) << view.name;
        EXPECT_LE(view.offset + view.n_bytes(), source.offset + source.n_bytes()) << view.name;
    }
    return pairs;
}

// ---------------------------------------------------------------------------------------------
// The planner on random graphs.

TEST(MemoryPlanner, RandomGraphsNeverShareBytesBetweenLiveTensors) {
    std::mt19937 rng(1234);
    for (int trial = 0; trial < 50; ++trial) {
        backend::Graph graph;
        std::vector<uint8_t> planned;
        std::vector<int32_t> view_of;
        const auto add_tensor = [&](int64_t n, bool plan, int32_t view) {
            backend::Tensor t;
            t.type = TensorType::F32;
            t.shape = {n, 1, 1, 1};
            t.buffer = plan ? kActivations : kWeights;
            t.name = std::to_string(graph.tensors.size());  // (GCC 12 warns on "t" + ...)
            graph.tensors.push_back(t);
            planned.push_back(plan);
            view_of.push_back(view);
            return static_cast<int32_t>(graph.tensors.size() - 1);
        };
        std::vector<int32_t> written = {add_tensor(64, false, -1)};  // an external input
        const int n_nodes = 20 + static_cast<int>(rng() % 60);
        for (int n = 0; n < n_nodes; ++n) {
            backend::Node node{};
            node.op = Op::ADD;
            // Read one or two tensors written earlier, often recent ones, sometimes old ones.
            for (int s = 0; s < 1 + static_cast<int>(rng() % 2); ++s) {
                const size_t back = rng() % 4 == 0
                                        ? rng() % written.size()
                                        : std::min<size_t>(rng() % 3, written.size() - 1);
                node.src[static_cast<size_t>(s)] = written[written.size() - 1 - back];
            }
            const int32_t dst = add_tensor(1 + static_cast<int64_t>(rng() % 3000), true, -1);
            node.dst = dst;
            graph.nodes.push_back(node);
            written.push_back(dst);
            if (rng() % 3 == 0) {  // a view of the new tensor, read later like any other
                const int64_t n_elements = graph.tensors[static_cast<size_t>(dst)].shape[0];
                const int32_t view = add_tensor(n_elements, false, dst);
                graph.tensors[static_cast<size_t>(view)].buffer = kActivations;
                written.push_back(view);
            }
        }
        const uint64_t peak = plan_activations(graph, planned, view_of);
        uint64_t total = 0;
        for (size_t t = 0; t < graph.tensors.size(); ++t) {
            if (planned[t]) total += graph.tensors[t].n_bytes();
            if (planned[t]) {
                EXPECT_EQ(graph.tensors[t].offset % kActivationAlignment, 0u);
                EXPECT_LE(graph.tensors[t].offset + graph.tensors[t].n_bytes(), peak);
            }
        }
        const size_t pairs = expect_no_shared_bytes(graph, planned, view_of);
        EXPECT_GT(pairs, 0u);
        EXPECT_LE(peak, total + kActivationAlignment * graph.tensors.size());
    }
}

TEST(MemoryPlanner, ReusesBytesOnceTheLastReaderHasRun) {
    // a -> b -> c -> d, each read only by the next: at most two are alive at once.
    backend::Graph graph;
    std::vector<uint8_t> planned;
    std::vector<int32_t> view_of;
    for (int i = 0; i < 5; ++i) {
        backend::Tensor t;
        t.shape = {1024, 1, 1, 1};  // 4 KiB
        t.buffer = i == 0 ? kInputs : kActivations;
        t.name = std::string(1, static_cast<char>('a' + i));
        graph.tensors.push_back(t);
        planned.push_back(i != 0);
        view_of.push_back(-1);
    }
    for (int i = 0; i < 4; ++i) {
        backend::Node node{};
        node.op = Op::SCALE;
        node.src[0] = i;
        node.dst = i + 1;
        graph.nodes.push_back(node);
    }
    EXPECT_EQ(plan_activations(graph, planned, view_of), 2u * 4096u);
    EXPECT_NE(graph.tensors[1].offset, graph.tensors[2].offset);
    EXPECT_EQ(graph.tensors[1].offset, graph.tensors[3].offset);
}

TEST(MemoryPlanner, RefusesATensorReadBeforeItIsWritten) {
    backend::Graph graph;
    graph.tensors.resize(2);
    graph.tensors[0].name = "never_written";
    graph.tensors[1].name = "out";
    backend::Node node{};
    node.op = Op::SILU;
    node.src[0] = 0;
    node.dst = 1;
    graph.nodes.push_back(node);
    const std::vector<uint8_t> planned = {1, 1};
    const std::vector<int32_t> view_of = {-1, -1};
    try {
        plan_activations(graph, planned, view_of);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'never_written'"), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------------------------------------
// A transformer built with the GraphBuilder.

struct TransformerShape {
    int64_t n_embd = 640;
    int64_t n_head = 4;
    int64_t n_head_kv = 1;
    int64_t head_dim = 256;
    int64_t n_ff = 2048;
    int64_t n_vocab = 4096;
    int64_t n_ctx = 1024;
};

BuiltGraph build_transformer(int n_layer, int64_t m, const TransformerShape& s = {}) {
    GraphBuilder g(kInputs, kActivations);
    uint64_t weight_offset = 0;
    const auto weight = [&](const std::string& name, int64_t in, int64_t out) {
        const TensorId id =
            g.external(name, TensorType::F32, {in, out, 1, 1}, kWeights, weight_offset);
        weight_offset += g.tensor(id).n_bytes();
        return id;
    };
    const TensorId tokens = g.input("tokens", TensorType::I32, {m, 1, 1, 1});
    const TensorId positions = g.input("positions", TensorType::I32, {m, 1, 1, 1});
    const int64_t n_q = s.head_dim * s.n_head;
    const int64_t n_kv = s.head_dim * s.n_head_kv;
    TensorId x = g.get_rows(weight("token_embd", s.n_embd, s.n_vocab), tokens, "embd");
    for (int il = 0; il < n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        TensorId cur = g.mul(g.rms_norm(x, 1e-6f, p + "norm"), weight(p + "attn_norm", s.n_embd, 1),
                             p + "normed");
        TensorId q = g.reshape(g.mul_mat(weight(p + "attn_q", s.n_embd, n_q), cur, p + "q"),
                               {s.head_dim, s.n_head, m, 1}, p + "q_heads");
        TensorId k = g.reshape(g.mul_mat(weight(p + "attn_k", s.n_embd, n_kv), cur, p + "k"),
                               {s.head_dim, s.n_head_kv, m, 1}, p + "k_heads");
        const TensorId v = g.mul_mat(weight(p + "attn_v", s.n_embd, n_kv), cur, p + "v");
        q = g.rope(q, positions, backend::RopeStyle::NeoX, static_cast<int32_t>(s.head_dim), 1e4f,
                   1.0f, p + "q_rope");
        k = g.rope(k, positions, backend::RopeStyle::NeoX, static_cast<int32_t>(s.head_dim), 1e4f,
                   1.0f, p + "k_rope");
        const TensorId k_cache =
            g.external(p + "cache_k", TensorType::F16, {n_kv, s.n_ctx, 1, 1}, kCache,
                       static_cast<uint64_t>(il) * 2 * n_kv * s.n_ctx * 2);
        const TensorId v_cache =
            g.external(p + "cache_v", TensorType::F16, {n_kv, s.n_ctx, 1, 1}, kCache,
                       (static_cast<uint64_t>(il) * 2 + 1) * n_kv * s.n_ctx * 2);
        g.kv_store(g.reshape(k, {n_kv, m, 1, 1}, p + "k_rows"), k_cache);
        g.kv_store(v, v_cache);
        TensorId attn = g.flash_attn(q, k_cache, v_cache, TensorId{}, {}, p + "attn");
        attn = g.reshape(attn, {n_q, m, 1, 1}, p + "attn_rows");
        x = g.add(g.mul_mat(weight(p + "attn_output", n_q, s.n_embd), attn, p + "attn_out"), x,
                  p + "attn_residual");
        cur = g.mul(g.rms_norm(x, 1e-6f, p + "ffn_norm"), weight(p + "ffn_norm_w", s.n_embd, 1),
                    p + "ffn_normed");
        cur =
            g.geglu(g.mul_mat(weight(p + "ffn_gate", s.n_embd, s.n_ff), cur, p + "gate"),
                    g.mul_mat(weight(p + "ffn_up", s.n_embd, s.n_ff), cur, p + "up"), p + "geglu");
        x = g.add(g.mul_mat(weight(p + "ffn_down", s.n_ff, s.n_embd), cur, p + "down"), x,
                  p + "ffn_residual");
    }
    const TensorId logits = g.mul_mat(weight("output", s.n_embd, s.n_vocab), x, "logits");
    g.place(logits, 4, 0);
    return g.finish();
}

TEST(MemoryPlanner, PeakOfEighteenLayersIsThatOfOne) {
    for (int64_t m : {1, 7, 128}) {
        const BuiltGraph one = build_transformer(1, m);
        const BuiltGraph eighteen = build_transformer(18, m);
        uint64_t sum = 0;
        for (const backend::Tensor& t : eighteen.graph.tensors) {
            if (t.buffer == kActivations) sum += t.n_bytes();
        }
        EXPECT_GT(one.activation_bytes, 0u);
        EXPECT_LE(eighteen.activation_bytes, one.activation_bytes + one.activation_bytes / 4)
            << "m = " << m;
        EXPECT_LT(eighteen.activation_bytes * 8, sum) << "m = " << m;  // real reuse happened
    }
}

TEST(MemoryPlanner, BuiltTransformerNeverSharesBytesBetweenLiveTensors) {
    const BuiltGraph built = build_transformer(3, 5);
    const backend::Graph& graph = built.graph;
    // Rebuild the planner's view of the graph: roots are activations that some node writes;
    // reshapes are activations at the same bytes as an earlier tensor with the same size.
    std::vector<uint8_t> planned(graph.tensors.size(), 0);
    std::vector<int32_t> view_of(graph.tensors.size(), -1);
    std::vector<bool> written(graph.tensors.size(), false);
    for (const backend::Node& node : graph.nodes) written[static_cast<size_t>(node.dst)] = true;
    for (size_t t = 0; t < graph.tensors.size(); ++t) {
        const backend::Tensor& tensor = graph.tensors[t];
        if (tensor.buffer != kActivations) continue;
        if (written[t]) {
            planned[t] = 1;
            continue;
        }
        for (size_t s = 0; s < t; ++s) {  // a reshape: the latest earlier tensor at its bytes
            const backend::Tensor& source = graph.tensors[s];
            if (source.buffer == kActivations && source.offset == tensor.offset &&
                source.n_bytes() == tensor.n_bytes()) {
                view_of[t] = static_cast<int32_t>(s);
            }
        }
        ASSERT_GE(view_of[t], 0) << tensor.name << " is neither written nor a view";
    }
    EXPECT_GT(expect_no_shared_bytes(graph, planned, view_of), 10u);
    for (const backend::Tensor& t : graph.tensors) {
        if (t.buffer == kActivations) {
            EXPECT_LE(t.offset + t.n_bytes(), built.activation_bytes) << t.name;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Build-time checks of the op helpers.

std::string error_of(const std::function<void()>& build) {
    try {
        build();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void expect_error(const std::function<void()>& build, std::initializer_list<const char*> parts) {
    const std::string message = error_of(build);
    ASSERT_FALSE(message.empty()) << "expected an error";
    for (const char* part : parts) {
        EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
}

TEST(GraphBuilder, ResultsHaveTheShapesTheOpsDefine) {
    GraphBuilder g(kInputs, kActivations);
    const TensorId w = g.external("w", TensorType::Q8_0, {64, 96, 1, 1}, kWeights, 0);
    const TensorId ids = g.input("ids", TensorType::I32, {5, 1, 1, 1});
    const TensorId x = g.get_rows(w, ids, "x");
    EXPECT_EQ(g.tensor(x).shape, (Shape{64, 5, 1, 1}));
    EXPECT_EQ(g.tensor(x).type, TensorType::F32);
    const TensorId w2 = g.external("w2", TensorType::F16, {64, 32, 1, 1}, kWeights, 0);
    const TensorId y = g.mul_mat(w2, x, "y");
    EXPECT_EQ(g.tensor(y).shape, (Shape{32, 5, 1, 1}));
    const TensorId heads = g.reshape(y, {16, 2, 5, 1}, "heads");
    const TensorId roped = g.rope(heads, ids, backend::RopeStyle::Normal, 16, 1e4f, 1.0f, "roped");
    EXPECT_EQ(g.tensor(roped).shape, (Shape{16, 2, 5, 1}));
    EXPECT_EQ(g.tensor(g.argmax(y, "best")).shape, (Shape{5, 1, 1, 1}));
    EXPECT_EQ(g.tensor(g.top_k(y, 3, "top")).shape, (Shape{3, 5, 1, 1}));
    EXPECT_EQ(g.tensor(g.top_k(y, 3, "top")).type, TensorType::I32);
    const BuiltGraph built = g.finish();
    EXPECT_EQ(built.graph.nodes.size(), 6u);
    EXPECT_GT(built.input_bytes, 0u);
    EXPECT_TRUE(g.graph().tensors.empty());  // handed over
}

TEST(GraphBuilder, RefusesOperandsThatDoNotFit) {
    GraphBuilder g(kInputs, kActivations);
    const TensorId w =
        g.external("blk.0.attn_q.weight", TensorType::Q4_0, {64, 128, 1, 1}, kWeights, 0);
    const TensorId x = g.input("x48", TensorType::F32, {48, 3, 1, 1});
    const TensorId x64 = g.input("x64", TensorType::F32, {64, 3, 1, 1});
    const TensorId ids = g.input("ids", TensorType::I32, {3, 1, 1, 1});
    const TensorId floats = g.input("floats", TensorType::F32, {3, 1, 1, 1});

    expect_error([&] { g.mul_mat(w, x, "q"); },
                 {"MUL_MAT", "'q'", "'blk.0.attn_q.weight'", "'x48'", "64", "48"});
    expect_error([&] { g.mul_mat(x64, w, "q2"); }, {"MUL_MAT", "must be f32"});
    expect_error([&] { g.add(x64, x, "sum"); }, {"ADD", "'sum'", "'x48'", "broadcast"});
    expect_error([&] { g.mul(x64, ids, "product"); }, {"MUL", "'ids'", "f32"});
    expect_error([&] { g.get_rows(w, floats, "rows"); }, {"GET_ROWS", "'floats'", "i32"});
    expect_error([&] { g.swiglu(x64, x, "glu"); }, {"SWIGLU", "'x64'", "'x48'", "shape"});
    expect_error([&] { g.softcap(x64, 0.0f, "capped"); }, {"SOFTCAP", "'capped'"});
    expect_error([&] { g.top_k(x64, 65, "top"); }, {"TOP_K", "'top'", "65"});
    expect_error([&] { g.reshape(x64, {64, 2, 1, 1}, "bad_view"); }, {"reshape", "'bad_view'"});

    const TensorId heads = g.reshape(x64, {16, 4, 3, 1}, "heads");
    const TensorId two_positions = g.input("two_positions", TensorType::I32, {2, 1, 1, 1});
    expect_error(
        [&] { g.rope(heads, two_positions, backend::RopeStyle::NeoX, 16, 1e4f, 1.0f, "r"); },
        {"ROPE", "'r'", "'two_positions'"});
    expect_error([&] { g.rope(heads, ids, backend::RopeStyle::NeoX, 15, 1e4f, 1.0f, "r"); },
                 {"ROPE", "15"});
    expect_error([&] { g.rope(heads, ids, backend::RopeStyle::NeoX, 32, 1e4f, 1.0f, "r"); },
                 {"ROPE", "32"});

    const TensorId k_cache = g.external("cache_k", TensorType::F16, {48, 16, 1, 1}, kCache, 0);
    const TensorId v_cache = g.external("cache_v", TensorType::F16, {48, 16, 1, 1}, kCache, 0);
    const TensorId f32_cache = g.external("cache_f32", TensorType::F32, {48, 16, 1, 1}, kCache, 0);
    expect_error([&] { g.kv_store(x64, k_cache); }, {"KV_STORE", "'x64'", "'cache_k'"});
    expect_error([&] { g.kv_store(x, f32_cache); }, {"KV_STORE", "'cache_f32'", "f16 or q8_0"});
    // 4 query heads of 16 cannot share the cache's 3 KV heads.
    expect_error([&] { g.flash_attn(heads, k_cache, v_cache, TensorId{}, {}, "attn"); },
                 {"FLASH_ATTN", "'attn'", "4 query heads", "3 KV heads"});
    const TensorId q12 =
        g.reshape(g.input("q", TensorType::F32, {48, 3, 1, 1}), {16, 3, 3, 1}, "q12");
    const TensorId bad_mask = g.input("mask", TensorType::F32, {8, 3, 1, 1});
    expect_error([&] { g.flash_attn(q12, k_cache, v_cache, bad_mask, {}, "attn"); },
                 {"FLASH_ATTN", "'mask'"});
    const TensorId attn = g.flash_attn(q12, k_cache, v_cache, TensorId{}, {}, "attn_ok");
    EXPECT_EQ(g.tensor(attn).shape, (Shape{16, 3, 3, 1}));

    expect_error([&] { g.place(heads, 5, 0); }, {"'heads'", "not an op result"});
    const TensorId viewed = g.silu(x64, "viewed");
    g.reshape(viewed, {32, 6, 1, 1}, "view_of_viewed");
    expect_error([&] { g.place(viewed, 5, 0); }, {"'viewed'", "reshape"});
    expect_error([&] { g.silu(TensorId{999}, "s"); }, {"SILU", "999"});
    expect_error(
        [&] {
            g.external("q4_odd", TensorType::Q4_0, {48, 1, 1, 1}, kWeights, 0);
        },
        {"'q4_odd'", "blocks"});
}

}  // namespace
}  // namespace tessera

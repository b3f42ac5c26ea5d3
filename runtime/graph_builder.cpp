#include "runtime/graph_builder.h"

#include <string>
#include <utility>

#include "formats/error.h"
#include "runtime/memory_planner.h"

namespace tessera {

namespace {

using backend::Op;
using quant::TensorType;

std::string shape_string(const backend::Tensor& tensor) {
    int n_dims = backend::kMaxDims;
    while (n_dims > 1 && tensor.shape[static_cast<size_t>(n_dims - 1)] == 1) --n_dims;
    std::string text = "[";
    for (int d = 0; d < n_dims; ++d) {
        if (d > 0) text += ", ";
        text += std::to_string(tensor.shape[static_cast<size_t>(d)]);
    }
    return text + "]";
}

// "'blk.0.attn_q.weight' [640, 1024] q5_0", the way errors show an operand.
std::string describe(const backend::Tensor& tensor) {
    return "'" + tensor.name + "' " + shape_string(tensor) + " " +
           std::string(quant::type_info(tensor.type).name);
}

[[noreturn]] void fail(Op op, std::string_view name, const std::string& what) {
    throw Error("graph: " + std::string(backend::op_name(op)) + " '" + std::string(name) +
                "': " + what);
}

bool is_matrix(const backend::Tensor& tensor) {
    return tensor.shape[2] == 1 && tensor.shape[3] == 1;
}
bool is_vector(const backend::Tensor& tensor) {
    return tensor.shape[1] == 1 && is_matrix(tensor);
}

void require_type(Op op, std::string_view name, const backend::Tensor& tensor, TensorType type,
                  std::string_view role) {
    if (tensor.type != type) {
        fail(op, name,
             std::string(role) + " " + describe(tensor) + " must be " +
                 std::string(quant::type_info(type).name));
    }
}

void require_codec(Op op, std::string_view name, const backend::Tensor& tensor,
                   std::string_view role) {
    if (!quant::type_info(tensor.type).has_codec) {
        fail(op, name,
             std::string(role) + " " + describe(tensor) + " has a type no backend can read");
    }
}

void require_cache_type(Op op, std::string_view name, const backend::Tensor& tensor,
                        std::string_view role) {
    if (tensor.type != TensorType::F16 && tensor.type != TensorType::Q8_0) {
        fail(op, name, std::string(role) + " " + describe(tensor) + " must be f16 or q8_0");
    }
}

bool valid_shape(const Shape& shape) {
    for (int64_t extent : shape) {
        if (extent < 1) return false;
    }
    return true;
}

}  // namespace

GraphBuilder::GraphBuilder(uint32_t inputs_buffer, uint32_t activations_buffer)
    : inputs_buffer_(inputs_buffer), activations_buffer_(activations_buffer) {}

TensorId GraphBuilder::add_tensor(backend::Tensor tensor, Kind kind, int32_t view_of) {
    if (!valid_shape(tensor.shape)) {
        throw Error("graph: tensor '" + tensor.name + "' has an empty or negative dimension " +
                    shape_string(tensor));
    }
    const auto& info = quant::type_info(tensor.type);
    if (tensor.shape[0] % info.block_size != 0) {
        throw Error("graph: tensor '" + tensor.name + "' " + shape_string(tensor) +
                    " has rows that are not whole " + std::string(info.name) + " blocks of " +
                    std::to_string(info.block_size));
    }
    graph_.tensors.push_back(std::move(tensor));
    kinds_.push_back(kind);
    view_of_.push_back(view_of);
    return TensorId{static_cast<int32_t>(graph_.tensors.size() - 1)};
}

TensorId GraphBuilder::external(std::string name, TensorType type, Shape shape, uint32_t buffer,
                                uint64_t offset) {
    return add_tensor({type, shape, buffer, offset, std::move(name)}, Kind::External, -1);
}

TensorId GraphBuilder::input(std::string name, TensorType type, Shape shape) {
    const TensorId id =
        add_tensor({type, shape, inputs_buffer_, input_bytes_, std::move(name)}, Kind::Input, -1);
    const uint64_t bytes = tensor(id).n_bytes();
    input_bytes_ +=
        (bytes + kActivationAlignment - 1) / kActivationAlignment * kActivationAlignment;
    return id;
}

TensorId GraphBuilder::activation(std::string name, TensorType type, Shape shape) {
    return add_tensor({type, shape, activations_buffer_, 0, std::move(name)}, Kind::Activation, -1);
}

const backend::Tensor& GraphBuilder::tensor(TensorId id) const {
    if (id.index < 0 || static_cast<size_t>(id.index) >= graph_.tensors.size()) {
        throw Error("graph: no tensor " + std::to_string(id.index) + " (the graph has " +
                    std::to_string(graph_.tensors.size()) + ")");
    }
    return graph_.tensors[static_cast<size_t>(id.index)];
}

TensorId GraphBuilder::reshape(TensorId source, Shape shape, std::string name) {
    const backend::Tensor& from = tensor(source);
    backend::Tensor view = from;
    view.shape = shape;
    view.name = std::move(name);
    if (!valid_shape(shape) || view.n_elements() != from.n_elements() ||
        view.n_bytes() != from.n_bytes()) {
        throw Error("graph: reshape '" + view.name + "' of " + describe(from) + " to " +
                    shape_string(view) + " changes its number of elements or bytes");
    }
    // A view shares its source's bytes: same buffer, and the same offset (relative to the root
    // for an activation, whose place the planner decides later).
    return add_tensor(std::move(view), Kind::View, source.index);
}

void GraphBuilder::place(TensorId id, uint32_t buffer, uint64_t offset) {
    const backend::Tensor& target = tensor(id);
    const auto index = static_cast<size_t>(id.index);
    if (kinds_[index] != Kind::Activation) {
        throw Error("graph: cannot place '" + target.name + "': it is not an op result");
    }
    for (int32_t source : view_of_) {
        if (source == id.index) {
            throw Error("graph: cannot place '" + target.name + "': a reshape views it");
        }
    }
    graph_.tensors[index].buffer = buffer;
    graph_.tensors[index].offset = offset;
    kinds_[index] = Kind::External;
}

void GraphBuilder::check_id(Op op, TensorId id, std::string_view role) const {
    if (id.index < 0 || static_cast<size_t>(id.index) >= graph_.tensors.size()) {
        throw Error("graph: " + std::string(backend::op_name(op)) + ": " + std::string(role) +
                    " is not a tensor of this graph (index " + std::to_string(id.index) + ")");
    }
}

TensorId GraphBuilder::add_node(Op op, std::initializer_list<TensorId> sources, TensorId dst,
                                const backend::OpParams& params) {
    backend::Node node{};
    node.op = op;
    node.params = params;
    size_t slot = 0;
    for (TensorId source : sources) node.src[slot++] = source.index;
    node.dst = dst.index;
    graph_.nodes.push_back(node);
    return dst;
}

TensorId GraphBuilder::unary(Op op, TensorId x, const backend::OpParams& params, std::string name) {
    check_id(op, x, "input");
    const backend::Tensor& in = tensor(x);
    require_type(op, name, in, TensorType::F32, "input");
    const TensorId dst = activation(std::move(name), TensorType::F32, in.shape);
    return add_node(op, {x}, dst, params);
}

TensorId GraphBuilder::binary(Op op, TensorId a, TensorId b, std::string name) {
    check_id(op, a, "first operand");
    check_id(op, b, "second operand");
    const backend::Tensor& lhs = tensor(a);
    const backend::Tensor& rhs = tensor(b);
    require_type(op, name, lhs, TensorType::F32, "first operand");
    require_type(op, name, rhs, TensorType::F32, "second operand");
    for (size_t d = 0; d < backend::kMaxDims; ++d) {
        if (rhs.shape[d] != lhs.shape[d] && rhs.shape[d] != 1) {
            fail(op, name,
                 "second operand " + describe(rhs) + " does not broadcast to first operand " +
                     describe(lhs) + " (dimension " + std::to_string(d) + ")");
        }
    }
    const TensorId dst = activation(std::move(name), TensorType::F32, lhs.shape);
    return add_node(op, {a, b}, dst, {});
}

TensorId GraphBuilder::gated(Op op, TensorId gate, TensorId up, std::string name) {
    check_id(op, gate, "gate");
    check_id(op, up, "up projection");
    const backend::Tensor& g = tensor(gate);
    const backend::Tensor& u = tensor(up);
    require_type(op, name, g, TensorType::F32, "gate");
    require_type(op, name, u, TensorType::F32, "up projection");
    if (g.shape != u.shape) {
        fail(op, name,
             "gate " + describe(g) + " and up projection " + describe(u) + " differ in shape");
    }
    const TensorId dst = activation(std::move(name), TensorType::F32, g.shape);
    return add_node(op, {gate, up}, dst, {});
}

TensorId GraphBuilder::get_rows(TensorId table, TensorId ids, std::string name) {
    constexpr Op op = Op::GET_ROWS;
    check_id(op, table, "table");
    check_id(op, ids, "ids");
    const backend::Tensor& t = tensor(table);
    const backend::Tensor& i = tensor(ids);
    require_codec(op, name, t, "table");
    if (!is_matrix(t)) fail(op, name, "table " + describe(t) + " must be a matrix");
    require_type(op, name, i, TensorType::I32, "ids");
    if (!is_vector(i)) fail(op, name, "ids " + describe(i) + " must be a vector");
    const TensorId dst =
        activation(std::move(name), TensorType::F32, {t.shape[0], i.shape[0], 1, 1});
    return add_node(op, {table, ids}, dst, {});
}

TensorId GraphBuilder::mul_mat(TensorId weights, TensorId x, std::string name) {
    constexpr Op op = Op::MUL_MAT;
    check_id(op, weights, "weights");
    check_id(op, x, "input");
    const backend::Tensor& w = tensor(weights);
    const backend::Tensor& in = tensor(x);
    require_codec(op, name, w, "weights");
    if (!is_matrix(w)) fail(op, name, "weights " + describe(w) + " must be a matrix");
    require_type(op, name, in, TensorType::F32, "input");
    if (!is_matrix(in)) fail(op, name, "input " + describe(in) + " must be a matrix");
    if (in.shape[0] != w.shape[0]) {
        fail(op, name,
             "weights " + describe(w) + " have rows of " + std::to_string(w.shape[0]) +
                 " but input " + describe(in) + " has rows of " + std::to_string(in.shape[0]));
    }
    const TensorId dst =
        activation(std::move(name), TensorType::F32, {w.shape[1], in.shape[1], 1, 1});
    return add_node(op, {weights, x}, dst, {});
}

TensorId GraphBuilder::add(TensorId a, TensorId b, std::string name) {
    return binary(Op::ADD, a, b, std::move(name));
}

TensorId GraphBuilder::mul(TensorId a, TensorId b, std::string name) {
    return binary(Op::MUL, a, b, std::move(name));
}

TensorId GraphBuilder::scale(TensorId x, float factor, std::string name) {
    backend::OpParams params;
    params.scale = factor;
    return unary(Op::SCALE, x, params, std::move(name));
}

TensorId GraphBuilder::rms_norm(TensorId x, float eps, std::string name) {
    if (!(eps >= 0.0f)) fail(Op::RMS_NORM, name, "epsilon must be >= 0");
    backend::OpParams params;
    params.eps = eps;
    return unary(Op::RMS_NORM, x, params, std::move(name));
}

TensorId GraphBuilder::rope(TensorId x, TensorId positions, backend::RopeStyle style, int32_t n_rot,
                            float freq_base, float freq_scale, std::string name) {
    constexpr Op op = Op::ROPE;
    check_id(op, x, "input");
    check_id(op, positions, "positions");
    const backend::Tensor& in = tensor(x);
    const backend::Tensor& pos = tensor(positions);
    require_type(op, name, in, TensorType::F32, "input");
    if (in.shape[3] != 1)
        fail(op, name, "input " + describe(in) + " must be [head_dim, n_heads, m]");
    require_type(op, name, pos, TensorType::I32, "positions");
    if (!is_vector(pos) || pos.shape[0] != in.shape[2]) {
        fail(op, name,
             "positions " + describe(pos) + " must be a vector of " + std::to_string(in.shape[2]) +
                 " (one per token of input " + describe(in) + ")");
    }
    if (n_rot <= 0 || n_rot % 2 != 0 || n_rot > in.shape[0]) {
        fail(op, name,
             "rotated dimensions " + std::to_string(n_rot) + " must be even and in 2.." +
                 std::to_string(in.shape[0]) + " (the head dimension)");
    }
    if (!(freq_base > 0.0f) || !(freq_scale > 0.0f)) {
        fail(op, name, "frequency base and scale must be positive");
    }
    backend::OpParams params;
    params.rope_style = style;
    params.n_rot = n_rot;
    params.freq_base = freq_base;
    params.freq_scale = freq_scale;
    const TensorId dst = activation(std::move(name), TensorType::F32, in.shape);
    return add_node(op, {x, positions}, dst, params);
}

TensorId GraphBuilder::silu(TensorId x, std::string name) {
    return unary(Op::SILU, x, {}, std::move(name));
}

TensorId GraphBuilder::gelu(TensorId x, std::string name) {
    return unary(Op::GELU, x, {}, std::move(name));
}

TensorId GraphBuilder::gelu_tanh(TensorId x, std::string name) {
    return unary(Op::GELU_TANH, x, {}, std::move(name));
}

TensorId GraphBuilder::swiglu(TensorId gate, TensorId up, std::string name) {
    return gated(Op::SWIGLU, gate, up, std::move(name));
}

TensorId GraphBuilder::geglu(TensorId gate, TensorId up, std::string name) {
    return gated(Op::GEGLU, gate, up, std::move(name));
}

TensorId GraphBuilder::softmax(TensorId x, float scale, std::string name) {
    backend::OpParams params;
    params.scale = scale;
    return unary(Op::SOFTMAX, x, params, std::move(name));
}

TensorId GraphBuilder::softcap(TensorId x, float cap, std::string name) {
    if (!(cap > 0.0f)) fail(Op::SOFTCAP, name, "the cap must be positive");
    backend::OpParams params;
    params.softcap = cap;
    return unary(Op::SOFTCAP, x, params, std::move(name));
}

void GraphBuilder::kv_store(TensorId x, TensorId cache) {
    constexpr Op op = Op::KV_STORE;
    check_id(op, x, "input");
    check_id(op, cache, "cache");
    const backend::Tensor& in = tensor(x);
    const backend::Tensor& c = tensor(cache);
    const std::string& name = c.name;
    require_type(op, name, in, TensorType::F32, "input");
    if (!is_matrix(in)) fail(op, name, "input " + describe(in) + " must be [row, m]");
    require_cache_type(op, name, c, "cache");
    if (!is_matrix(c)) fail(op, name, "cache " + describe(c) + " must be [row, n_ctx]");
    if (in.shape[0] != c.shape[0]) {
        fail(op, name,
             "input " + describe(in) + " and cache " + describe(c) + " differ in row length");
    }
    if (in.shape[1] > c.shape[1]) {
        fail(op, name, "input " + describe(in) + " has more columns than cache " + describe(c));
    }
    add_node(op, {x}, cache, {});
}

TensorId GraphBuilder::flash_attn(TensorId q, TensorId k_cache, TensorId v_cache, TensorId mask,
                                  const Attention& attention, std::string name) {
    constexpr Op op = Op::FLASH_ATTN;
    check_id(op, q, "queries");
    check_id(op, k_cache, "K cache");
    check_id(op, v_cache, "V cache");
    const backend::Tensor& queries = tensor(q);
    const backend::Tensor& k = tensor(k_cache);
    const backend::Tensor& v = tensor(v_cache);
    require_type(op, name, queries, TensorType::F32, "queries");
    if (queries.shape[3] != 1) {
        fail(op, name, "queries " + describe(queries) + " must be [head_dim, n_heads, m]");
    }
    require_cache_type(op, name, k, "K cache");
    require_cache_type(op, name, v, "V cache");
    if (!is_matrix(k) || k.shape != v.shape || k.type != v.type) {
        fail(op, name,
             "K cache " + describe(k) + " and V cache " + describe(v) +
                 " must be matrices of one shape and type");
    }
    const int64_t head_dim = queries.shape[0];
    const int64_t n_heads = queries.shape[1];
    if (k.shape[0] % head_dim != 0) {
        fail(
            op, name,
            "K cache " + describe(k) + " rows are not whole heads of queries " + describe(queries));
    }
    const int64_t n_kv_heads = k.shape[0] / head_dim;
    if (n_heads % n_kv_heads != 0) {
        fail(op, name,
             std::to_string(n_heads) + " query heads of " + describe(queries) + " cannot share " +
                 std::to_string(n_kv_heads) + " KV heads of " + describe(k));
    }
    if (queries.shape[2] > k.shape[1]) {
        fail(op, name, "queries " + describe(queries) + " outnumber the cache's columns");
    }
    if (mask.valid()) {
        check_id(op, mask, "mask");
        const backend::Tensor& m = tensor(mask);
        require_type(op, name, m, TensorType::F32, "mask");
        if (!is_matrix(m) || m.shape[0] != k.shape[1] || m.shape[1] != queries.shape[2]) {
            fail(op, name,
                 "mask " + describe(m) + " must be [" + std::to_string(k.shape[1]) + ", " +
                     std::to_string(queries.shape[2]) + "] (a row of cache columns per query)");
        }
    }
    if (attention.window < 0) fail(op, name, "the sliding window must be >= 0");
    if (!(attention.softcap >= 0.0f)) fail(op, name, "the softcap must be >= 0");
    backend::OpParams params;
    params.scale = attention.scale;
    params.softcap = attention.softcap;
    params.causal = attention.causal;
    params.window = attention.window;
    const TensorId dst = activation(std::move(name), TensorType::F32, queries.shape);
    if (mask.valid()) return add_node(op, {q, k_cache, v_cache, mask}, dst, params);
    return add_node(op, {q, k_cache, v_cache}, dst, params);
}

TensorId GraphBuilder::mtp_next_n(TensorId embeddings, TensorId hidden, TensorId enorm,
                                  TensorId hnorm, float eps, std::string name) {
    constexpr Op op = Op::MTP_HEAD;
    check_id(op, embeddings, "embeddings");
    check_id(op, hidden, "hidden states");
    check_id(op, enorm, "enorm");
    check_id(op, hnorm, "hnorm");
    const backend::Tensor& e = tensor(embeddings);
    const backend::Tensor& h = tensor(hidden);
    require_type(op, name, e, TensorType::F32, "embeddings");
    require_type(op, name, h, TensorType::F32, "hidden states");
    if (!is_matrix(e) || e.shape != h.shape) {
        fail(op, name,
             "embeddings " + describe(e) + " and hidden states " + describe(h) +
                 " must be matrices of one shape");
    }
    for (const TensorId weight : {enorm, hnorm}) {
        const backend::Tensor& w = tensor(weight);
        require_type(op, name, w, TensorType::F32, "norm weight");
        if (!is_vector(w) || w.shape[0] != e.shape[0]) {
            fail(op, name,
                 "norm weight " + describe(w) + " must be [" + std::to_string(e.shape[0]) + "]");
        }
    }
    backend::OpParams params;
    params.eps = eps;
    params.mtp_style = backend::MtpStyle::NextN;
    const TensorId dst =
        activation(std::move(name), TensorType::F32, {2 * e.shape[0], e.shape[1], 1, 1});
    return add_node(op, {embeddings, hidden, enorm, hnorm}, dst, params);
}

TensorId GraphBuilder::mtp_medusa(TensorId hidden, TensorId projected, TensorId bias,
                                  std::string name) {
    constexpr Op op = Op::MTP_HEAD;
    check_id(op, hidden, "hidden states");
    check_id(op, projected, "projection");
    const backend::Tensor& h = tensor(hidden);
    const backend::Tensor& z = tensor(projected);
    require_type(op, name, h, TensorType::F32, "hidden states");
    require_type(op, name, z, TensorType::F32, "projection");
    if (!is_matrix(h) || h.shape != z.shape) {
        fail(op, name,
             "hidden states " + describe(h) + " and projection " + describe(z) +
                 " must be matrices of one shape");
    }
    if (bias.valid()) {
        check_id(op, bias, "bias");
        const backend::Tensor& b = tensor(bias);
        require_type(op, name, b, TensorType::F32, "bias");
        if (!is_vector(b) || b.shape[0] != h.shape[0]) {
            fail(op, name, "bias " + describe(b) + " must be [" + std::to_string(h.shape[0]) + "]");
        }
    }
    backend::OpParams params;
    params.mtp_style = backend::MtpStyle::Medusa;
    const TensorId dst = activation(std::move(name), TensorType::F32, h.shape);
    return add_node(op, {hidden, projected, bias}, dst, params);
}

TensorId GraphBuilder::argmax(TensorId x, std::string name) {
    constexpr Op op = Op::ARGMAX;
    check_id(op, x, "input");
    const backend::Tensor& in = tensor(x);
    require_type(op, name, in, TensorType::F32, "input");
    if (!is_matrix(in)) fail(op, name, "input " + describe(in) + " must be [n, m]");
    const TensorId dst = activation(std::move(name), TensorType::I32, {in.shape[1], 1, 1, 1});
    return add_node(op, {x}, dst, {});
}

TensorId GraphBuilder::top_k(TensorId x, int32_t k, std::string name) {
    constexpr Op op = Op::TOP_K;
    check_id(op, x, "input");
    const backend::Tensor& in = tensor(x);
    require_type(op, name, in, TensorType::F32, "input");
    if (!is_matrix(in)) fail(op, name, "input " + describe(in) + " must be [n, m]");
    if (k < 1 || k > in.shape[0]) {
        fail(op, name,
             "k = " + std::to_string(k) + " must be in 1.." + std::to_string(in.shape[0]));
    }
    backend::OpParams params;
    params.k = k;
    const TensorId dst = activation(std::move(name), TensorType::I32, {k, in.shape[1], 1, 1});
    return add_node(op, {x}, dst, params);
}

TensorId GraphBuilder::draft_verify(TensorId logits, TensorId drafts, TensorId draft_probs,
                                    TensorId parents, const backend::VerifyParams& verify,
                                    std::string name) {
    constexpr Op op = Op::DRAFT_VERIFY;
    check_id(op, logits, "target logits");
    check_id(op, drafts, "draft tokens");
    const backend::Tensor& l = tensor(logits);
    const backend::Tensor& d = tensor(drafts);
    require_type(op, name, l, TensorType::F32, "target logits");
    require_type(op, name, d, TensorType::I32, "draft tokens");
    if (!is_matrix(l)) fail(op, name, "target logits " + describe(l) + " must be [n_vocab, k+1]");
    if (!is_vector(d) || d.shape[0] + 1 != l.shape[1]) {
        fail(op, name,
             "draft tokens " + describe(d) + " must be a vector of k = " +
                 std::to_string(l.shape[1] - 1) + " for target logits " + describe(l));
    }
    const int64_t k = d.shape[0];
    if (draft_probs.valid()) {
        check_id(op, draft_probs, "draft distributions");
        const backend::Tensor& q = tensor(draft_probs);
        require_type(op, name, q, TensorType::F32, "draft distributions");
        if (q.shape != Shape{l.shape[0], k, 1, 1}) {
            fail(op, name, "draft distributions " + describe(q) + " must be [n_vocab, k]");
        }
    }
    if (parents.valid()) {
        check_id(op, parents, "tree parents");
        const backend::Tensor& t = tensor(parents);
        require_type(op, name, t, TensorType::I32, "tree parents");
        if (!is_vector(t) || t.shape[0] != k) {
            fail(op, name, "tree parents " + describe(t) + " must be a vector of k");
        }
    }
    backend::OpParams params;
    params.verify = verify;
    const TensorId dst = activation(std::move(name), TensorType::I32, {k + 2, 1, 1, 1});
    // Absent operands are invalid ids, index -1: the node's "no source".
    return add_node(op, {logits, drafts, draft_probs, parents}, dst, params);
}

BuiltGraph GraphBuilder::finish() {
    std::vector<uint8_t> planned(kinds_.size());
    for (size_t t = 0; t < kinds_.size(); ++t) planned[t] = kinds_[t] == Kind::Activation;
    BuiltGraph built;
    built.activation_bytes = plan_activations(graph_, planned, view_of_);
    built.input_bytes = input_bytes_;
    built.graph = std::move(graph_);
    graph_ = {};
    kinds_.clear();
    view_of_.clear();
    input_bytes_ = 0;
    return built;
}

}  // namespace tessera

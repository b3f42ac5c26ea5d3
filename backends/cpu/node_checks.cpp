#include "backends/cpu/node_checks.h"

#include <cmath>
#include <string>

#include "backends/cpu/quant_dot.h"
#include "formats/quant/tensor_type.h"

namespace tessera::backend::cpu {

namespace {

using quant::TensorType;

// Thrown inside this file only, and turned into check_node's answer.
struct Problem {
    std::string what;
};

std::string shape_text(const Tensor& tensor) {
    int n_dims = kMaxDims;
    while (n_dims > 1 && tensor.shape[n_dims - 1] == 1) --n_dims;
    std::string text = "[";
    for (int d = 0; d < n_dims; ++d) {
        text += (d ? ", " : "") + std::to_string(tensor.shape[d]);
    }
    return text + "]";
}

std::string type_text(TensorType type) {
    const quant::TypeInfo* info = quant::type_info(static_cast<uint32_t>(type));
    return info ? std::string(info->name) : "type " + std::to_string(static_cast<uint32_t>(type));
}

std::string tensor_text(const Tensor& tensor) {
    const std::string name = tensor.name.empty() ? "(unnamed)" : "'" + tensor.name + "'";
    return name + " (" + type_text(tensor.type) + " " + shape_text(tensor) + ")";
}

class NodeChecker {
  public:
    NodeChecker(const Graph& graph, const Node& node, const KernelSupport& kernels)
        : graph_(graph), node_(node), kernels_(kernels) {}

    void check() {
        switch (node_.op) {
            case Op::GET_ROWS:
                return check_get_rows();
            case Op::MUL_MAT:
                return check_mul_mat();
            case Op::ADD:
            case Op::MUL:
                return check_binary();
            case Op::SCALE:
            case Op::SILU:
            case Op::GELU:
            case Op::GELU_TANH:
            case Op::SOFTMAX:
                return check_same_shape_f32(1);
            case Op::SOFTCAP:
                check_same_shape_f32(1);
                if (!(node_.params.softcap > 0.0f)) fail("params.softcap must be positive");
                return;
            case Op::RMS_NORM:
                check_same_shape_f32(1);
                if (!(node_.params.eps >= 0.0f)) fail("params.eps must not be negative");
                return;
            case Op::SWIGLU:
            case Op::GEGLU:
                return check_same_shape_f32(2);
            case Op::ROPE:
                return check_rope();
            case Op::KV_STORE:
                return check_kv_store();
            case Op::FLASH_ATTN:
                return check_flash_attn();
            case Op::ARGMAX:
            case Op::TOP_K:
                return check_selection();
            case Op::MTP_HEAD:
                return check_mtp_head();
            case Op::DRAFT_VERIFY:
                return check_draft_verify();
        }
        fail("unknown op " + std::to_string(static_cast<int>(node_.op)));
    }

  private:
    [[noreturn]] void fail(const std::string& what) const { throw Problem{what}; }

    // The tensor at `index`, checked to exist and to be well formed.
    const Tensor& tensor(int32_t index, const char* role) const {
        if (index < 0 || static_cast<size_t>(index) >= graph_.tensors.size()) {
            fail(std::string(role) + " is tensor " + std::to_string(index) + " but the graph has " +
                 std::to_string(graph_.tensors.size()) + " tensors");
        }
        const Tensor& t = graph_.tensors[static_cast<size_t>(index)];
        const quant::TypeInfo* info = quant::type_info(static_cast<uint32_t>(t.type));
        if (info == nullptr)
            fail(std::string(role) + " " + tensor_text(t) + " has an unknown type");
        // Extents up to 2^40 and 2^50 elements in all: sizes in bytes cannot overflow.
        constexpr int64_t kMaxExtent = int64_t{1} << 40;
        constexpr int64_t kMaxElements = int64_t{1} << 50;
        int64_t n_elements = 1;
        for (int64_t extent : t.shape) {
            if (extent < 1 || extent > kMaxExtent) {
                fail(std::string(role) + " " + tensor_text(t) + " has a dimension of " +
                     std::to_string(extent));
            }
            if (n_elements > kMaxElements / extent) {
                fail(std::string(role) + " " + tensor_text(t) + " has too many elements");
            }
            n_elements *= extent;
        }
        if (t.shape[0] % info->block_size != 0) {
            fail(std::string(role) + " " + tensor_text(t) + ": rows of " +
                 std::to_string(t.shape[0]) + " elements are not whole blocks of " +
                 std::to_string(info->block_size));
        }
        return t;
    }

    // Sources: exactly `required` of them, plus `optional` more that may be absent.
    void expect_sources(int required, int optional = 0) const {
        for (int i = 0; i < kMaxSources; ++i) {
            const bool present = node_.src[static_cast<size_t>(i)] >= 0;
            if (i < required && !present) fail("src" + std::to_string(i) + " is missing");
            if (i >= required + optional && present) {
                fail("src" + std::to_string(i) + " is set but " + op_name(node_.op) + " reads " +
                     std::to_string(required + optional) + " source(s)");
            }
        }
    }

    const Tensor& src(int i) const {
        static constexpr const char* kRoles[kMaxSources] = {"src0", "src1", "src2", "src3"};
        return tensor(node_.src[static_cast<size_t>(i)], kRoles[i]);
    }
    const Tensor& dst() const { return tensor(node_.dst, "dst"); }

    void expect_type(const Tensor& t, const char* role, TensorType type) const {
        if (t.type != type) {
            fail(std::string(role) + " " + tensor_text(t) + " must be " + type_text(type));
        }
    }
    void expect_same_shape(const Tensor& a, const char* role_a, const Tensor& b,
                           const char* role_b) const {
        if (a.shape != b.shape) {
            fail(std::string(role_a) + " " + tensor_text(a) + " and " + role_b + " " +
                 tensor_text(b) + " must have the same shape");
        }
    }
    void expect_2d(const Tensor& t, const char* role) const {
        if (t.shape[2] != 1 || t.shape[3] != 1) {
            fail(std::string(role) + " " + tensor_text(t) + " must be a matrix (2 dimensions)");
        }
    }
    static int64_t n_rows(const Tensor& t) { return t.shape[1] * t.shape[2] * t.shape[3]; }

    void check_same_shape_f32(int n_sources) const {
        expect_sources(n_sources);
        const Tensor& out = dst();
        expect_type(out, "dst", TensorType::F32);
        for (int i = 0; i < n_sources; ++i) {
            const Tensor& in = src(i);
            const std::string role = "src" + std::to_string(i);
            expect_type(in, role.c_str(), TensorType::F32);
            expect_same_shape(in, role.c_str(), out, "dst");
        }
    }

    void check_get_rows() const {
        expect_sources(2);
        const Tensor& table = src(0);
        const Tensor& ids = src(1);
        const Tensor& out = dst();
        if (!quant::type_info(table.type).has_codec) {
            fail("src0 " + tensor_text(table) + ": the type has no codec to dequantize rows with");
        }
        expect_2d(table, "src0");
        expect_type(ids, "src1", TensorType::I32);
        expect_type(out, "dst", TensorType::F32);
        if (out.shape[0] != table.shape[0] || n_rows(out) != ids.n_elements()) {
            fail("dst " + tensor_text(out) + " must hold " + std::to_string(ids.n_elements()) +
                 " rows of " + std::to_string(table.shape[0]) + " (src0 " + tensor_text(table) +
                 ", src1 " + tensor_text(ids) + ")");
        }
    }

    void check_mul_mat() const {
        expect_sources(2);
        const Tensor& weights = src(0);
        const Tensor& input = src(1);
        const Tensor& out = dst();
        const std::optional<TensorType> activation_type = kernels_.activation_type(weights.type);
        if (!activation_type) {
            fail("src0 " + tensor_text(weights) + ": MUL_MAT has no " + kernels_.backend +
                 " dot kernel for " + type_text(weights.type) + " weights");
        }
        expect_2d(weights, "src0");
        expect_type(input, "src1", TensorType::F32);
        expect_type(out, "dst", TensorType::F32);
        if (input.shape[0] != weights.shape[0]) {
            fail("src1 " + tensor_text(input) + " must have rows of " +
                 std::to_string(weights.shape[0]) + " like src0 " + tensor_text(weights));
        }
        const uint32_t block = quant::type_info(*activation_type).block_size;
        if (input.shape[0] % block != 0) {
            fail("src1 " + tensor_text(input) + ": rows must be whole blocks of " +
                 std::to_string(block) + " for " + type_text(*activation_type) + " activations");
        }
        if (out.shape[0] != weights.shape[1] || out.shape[1] != input.shape[1] ||
            out.shape[2] != input.shape[2] || out.shape[3] != input.shape[3]) {
            fail("dst " + tensor_text(out) + " must be [" + std::to_string(weights.shape[1]) +
                 ", ...] with src1's outer dimensions (src0 " + tensor_text(weights) + ", src1 " +
                 tensor_text(input) + ")");
        }
    }

    void check_binary() const {
        expect_sources(2);
        const Tensor& a = src(0);
        const Tensor& b = src(1);
        const Tensor& out = dst();
        expect_type(a, "src0", TensorType::F32);
        expect_type(b, "src1", TensorType::F32);
        expect_type(out, "dst", TensorType::F32);
        expect_same_shape(a, "src0", out, "dst");
        for (int d = 0; d < kMaxDims; ++d) {
            if (b.shape[d] != 1 && b.shape[d] != a.shape[d]) {
                fail("src1 " + tensor_text(b) + " does not broadcast to src0 " + tensor_text(a) +
                     ": dimension " + std::to_string(d) + " must be " + std::to_string(a.shape[d]) +
                     " or 1");
            }
        }
    }

    void check_rope() const {
        expect_sources(2);
        const Tensor& x = src(0);
        const Tensor& positions = src(1);
        const Tensor& out = dst();
        expect_type(x, "src0", TensorType::F32);
        expect_type(positions, "src1", TensorType::I32);
        expect_type(out, "dst", TensorType::F32);
        expect_same_shape(x, "src0", out, "dst");
        if (x.shape[3] != 1) fail("src0 " + tensor_text(x) + " must be [head_dim, n_heads, m]");
        if (positions.n_elements() != x.shape[2]) {
            fail("src1 " + tensor_text(positions) + " must hold one position for each of the " +
                 std::to_string(x.shape[2]) + " tokens of src0 " + tensor_text(x));
        }
        const int32_t n_rot = node_.params.n_rot;
        if (n_rot <= 0 || n_rot % 2 != 0 || n_rot > x.shape[0]) {
            fail("params.n_rot is " + std::to_string(n_rot) +
                 "; it must be even, positive and at most head_dim " + std::to_string(x.shape[0]));
        }
        if (!(node_.params.freq_base > 0.0f)) fail("params.freq_base must be positive");
    }

    void check_kv_store() const {
        expect_sources(1);
        const Tensor& input = src(0);
        const Tensor& cache = dst();
        expect_type(input, "src0", TensorType::F32);
        if (cache.type != TensorType::F16 && cache.type != TensorType::Q8_0) {
            fail("dst " + tensor_text(cache) + ": a cache must be f16 or q8_0");
        }
        expect_2d(input, "src0");
        expect_2d(cache, "dst");
        if (input.shape[0] != cache.shape[0]) {
            fail("src0 " + tensor_text(input) + " must have rows of " +
                 std::to_string(cache.shape[0]) + " like the cache dst " + tensor_text(cache));
        }
        if (input.shape[1] > cache.shape[1]) {
            fail("src0 " + tensor_text(input) + " has more tokens than the cache dst " +
                 tensor_text(cache) + " has columns");
        }
    }

    void check_flash_attn() const {
        expect_sources(3, 1);
        const Tensor& q = src(0);
        const Tensor& k = src(1);
        const Tensor& v = src(2);
        const Tensor& out = dst();
        expect_type(q, "src0", TensorType::F32);
        expect_type(out, "dst", TensorType::F32);
        expect_same_shape(q, "src0", out, "dst");
        if (q.shape[3] != 1) fail("src0 " + tensor_text(q) + " must be [head_dim, n_heads, m]");
        const int64_t head_dim = q.shape[0];
        const int64_t n_heads = q.shape[1];
        for (int i = 1; i <= 2; ++i) {
            const Tensor& cache = i == 1 ? k : v;
            const char* role = i == 1 ? "src1 (K)" : "src2 (V)";
            if (cache.type != TensorType::F16 && cache.type != TensorType::Q8_0) {
                fail(std::string(role) + " " + tensor_text(cache) +
                     ": a cache must be f16 or q8_0");
            }
            expect_2d(cache, role);
            if (cache.shape[0] % head_dim != 0) {
                fail(std::string(role) + " " + tensor_text(cache) +
                     ": rows must be whole heads of " + std::to_string(head_dim) + " (src0 " +
                     tensor_text(q) + ")");
            }
            if (cache.type == TensorType::Q8_0 && head_dim % 32 != 0) {
                fail(std::string(role) + " " + tensor_text(cache) +
                     ": a q8_0 cache needs head_dim " + "a multiple of 32, not " +
                     std::to_string(head_dim));
            }
        }
        if (k.shape != v.shape) {
            fail("src1 (K) " + tensor_text(k) + " and src2 (V) " + tensor_text(v) +
                 " must have the same shape");
        }
        const int64_t n_kv_heads = k.shape[0] / head_dim;
        if (n_heads % n_kv_heads != 0) {
            fail("src0 " + tensor_text(q) + " has " + std::to_string(n_heads) +
                 " heads, not a multiple of the cache's " + std::to_string(n_kv_heads) +
                 " KV heads");
        }
        if (!kernels_.activation_type(k.type)) {
            fail("src1 (K) " + tensor_text(k) + ": no " + kernels_.backend +
                 " dot kernel for the cache type");
        }
        if (node_.src[3] >= 0) {
            const Tensor& mask = src(3);
            expect_type(mask, "src3 (mask)", TensorType::F32);
            if (mask.shape[1] != q.shape[2] || mask.shape[2] != 1 || mask.shape[3] != 1) {
                fail("src3 (mask) " + tensor_text(mask) + " must be [n_kv, " +
                     std::to_string(q.shape[2]) + "], one row per query token");
            }
        }
        if (!(node_.params.softcap >= 0.0f)) fail("params.softcap must not be negative");
        if (node_.params.window < 0) fail("params.window must not be negative");
    }

    void check_selection() const {
        expect_sources(1);
        const Tensor& x = src(0);
        const Tensor& out = dst();
        expect_type(x, "src0", TensorType::F32);
        expect_type(out, "dst", TensorType::I32);
        if (node_.op == Op::ARGMAX) {
            if (out.n_elements() != n_rows(x)) {
                fail("dst " + tensor_text(out) + " must hold one index for each of the " +
                     std::to_string(n_rows(x)) + " rows of src0 " + tensor_text(x));
            }
            return;
        }
        const int32_t k = node_.params.k;
        if (k < 1 || k > x.shape[0]) {
            fail("params.k is " + std::to_string(k) + "; it must be between 1 and the row length " +
                 std::to_string(x.shape[0]));
        }
        if (out.shape[0] != k || n_rows(out) != n_rows(x)) {
            fail("dst " + tensor_text(out) + " must be [" + std::to_string(k) + ", " +
                 std::to_string(n_rows(x)) + "] for src0 " + tensor_text(x));
        }
    }

    void check_draft_verify() const {
        expect_sources(2, 2);
        const Tensor& logits = src(0);
        const Tensor& drafts = src(1);
        const Tensor& out = dst();
        expect_type(logits, "src0 (logits)", TensorType::F32);
        expect_type(drafts, "src1 (draft tokens)", TensorType::I32);
        expect_type(out, "dst", TensorType::I32);
        expect_2d(logits, "src0 (logits)");
        const int64_t k = drafts.n_elements();
        if (logits.shape[1] != k + 1) {
            fail("src0 (logits) " + tensor_text(logits) +
                 " must have k+1 = " + std::to_string(k + 1) + " rows for the " +
                 std::to_string(k) + " draft tokens of src1 " + tensor_text(drafts));
        }
        if (node_.src[2] >= 0) {
            const Tensor& q = src(2);
            expect_type(q, "src2 (draft distributions)", TensorType::F32);
            if (q.shape[0] != logits.shape[0] || n_rows(q) != k) {
                fail("src2 (draft distributions) " + tensor_text(q) + " must be [" +
                     std::to_string(logits.shape[0]) + ", " + std::to_string(k) +
                     "], one distribution per draft token");
            }
        }
        if (node_.src[3] >= 0) {
            const Tensor& parents = src(3);
            expect_type(parents, "src3 (tree parents)", TensorType::I32);
            if (parents.n_elements() != k) {
                fail("src3 (tree parents) " + tensor_text(parents) + " must hold " +
                     std::to_string(k) + " parents, one per draft token");
            }
        }
        if (out.n_elements() != k + 2) {
            fail("dst " + tensor_text(out) + " must hold k+2 = " + std::to_string(k + 2) +
                 " values (accepted count, next token, accepted nodes)");
        }
        const VerifyParams& verify = node_.params.verify;
        if (!std::isfinite(verify.temperature)) fail("params.verify.temperature must be finite");
        if (!(verify.top_p >= 0.0f && verify.top_p <= 1.0f)) {
            fail("params.verify.top_p must be between 0 and 1");
        }
        if (!(verify.min_p >= 0.0f && verify.min_p <= 1.0f)) {
            fail("params.verify.min_p must be between 0 and 1");
        }
        if (!(verify.typical_epsilon >= 0.0f) || !std::isfinite(verify.typical_epsilon) ||
            !(verify.typical_delta >= 0.0f) || !std::isfinite(verify.typical_delta)) {
            fail("params.verify.typical_epsilon and typical_delta must be finite and >= 0");
        }
    }

    // A weight or bias applied to every column: F32 [n_embd].
    void expect_column_vector(const Tensor& t, const char* role, int64_t n_embd) const {
        expect_type(t, role, TensorType::F32);
        if (t.n_elements() != n_embd || t.shape[0] != n_embd) {
            fail(std::string(role) + " " + tensor_text(t) + " must be [" + std::to_string(n_embd) +
                 "]");
        }
    }

    void check_mtp_head() const {
        const bool next_n = node_.params.mtp_style == MtpStyle::NextN;
        if (!next_n && node_.params.mtp_style != MtpStyle::Medusa) {
            fail("params.mtp_style " + std::to_string(static_cast<int>(node_.params.mtp_style)) +
                 " is neither NextN nor Medusa");
        }
        if (next_n) {
            expect_sources(4);
        } else {
            expect_sources(2, 1);
        }
        const Tensor& first = src(0);
        const Tensor& second = src(1);
        const Tensor& out = dst();
        const char* first_role = next_n ? "src0 (embeddings)" : "src0 (hidden states)";
        const char* second_role = next_n ? "src1 (hidden states)" : "src1 (projection)";
        expect_type(first, first_role, TensorType::F32);
        expect_type(second, second_role, TensorType::F32);
        expect_type(out, "dst", TensorType::F32);
        expect_2d(first, first_role);
        expect_same_shape(first, first_role, second, second_role);
        const int64_t n_embd = first.shape[0];
        if (next_n) {
            expect_column_vector(src(2), "src2 (enorm)", n_embd);
            expect_column_vector(src(3), "src3 (hnorm)", n_embd);
            if (out.shape != std::array<int64_t, kMaxDims>{2 * n_embd, first.shape[1], 1, 1}) {
                fail("dst " + tensor_text(out) + " must be [" + std::to_string(2 * n_embd) + ", " +
                     std::to_string(first.shape[1]) + "]: both halves of each column");
            }
            if (!(node_.params.eps >= 0.0f)) fail("params.eps must not be negative");
            return;
        }
        if (node_.src[2] >= 0) expect_column_vector(src(2), "src2 (bias)", n_embd);
        expect_same_shape(out, "dst", first, first_role);
    }

    const Graph& graph_;
    const Node& node_;
    const KernelSupport& kernels_;
};

}  // namespace

std::string describe_node(const Graph& graph, size_t node_index) {
    const Node& node = graph.nodes[node_index];
    std::string text = "node " + std::to_string(node_index) + " (" + op_name(node.op);
    if (node.dst >= 0 && static_cast<size_t>(node.dst) < graph.tensors.size()) {
        const std::string& name = graph.tensors[static_cast<size_t>(node.dst)].name;
        if (!name.empty()) text += " -> " + name;
    }
    return text + ")";
}

std::optional<std::string> check_node(const Graph& graph, const Node& node,
                                      const KernelSupport& kernels) {
    try {
        NodeChecker(graph, node, kernels).check();
    } catch (const Problem& problem) {
        return problem.what;
    }
    return std::nullopt;
}

std::optional<std::string> check_node(const Graph& graph, const Node& node,
                                      const CpuFeatures& features) {
    const KernelSupport kernels{"CPU",
                                [&features](TensorType weight_type) -> std::optional<TensorType> {
                                    const DotKernel* kernel = dot_kernel(weight_type, features);
                                    if (kernel == nullptr) return std::nullopt;
                                    return kernel->activation_type;
                                }};
    return check_node(graph, node, kernels);
}

bool may_run_in_place(Op op) {
    switch (op) {
        case Op::ADD:
        case Op::MUL:
        case Op::SCALE:
        case Op::RMS_NORM:
        case Op::ROPE:
        case Op::SILU:
        case Op::GELU:
        case Op::GELU_TANH:
        case Op::SWIGLU:
        case Op::GEGLU:
        case Op::SOFTMAX:
        case Op::SOFTCAP:
            return true;
        default:
            return false;
    }
}

}  // namespace tessera::backend::cpu

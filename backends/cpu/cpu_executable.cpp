#include "backends/cpu/cpu_executable.h"

#include <algorithm>
#include <string>

#include "backends/cpu/node_checks.h"
#include "formats/error.h"

namespace tessera::backend::cpu {

namespace {

constexpr uint64_t kScratchAlignment = 64;

uint64_t align_up(uint64_t bytes) {
    return (bytes + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment;
}

// Bytes a tensor's address must be a multiple of: its widest scalar field.
uint64_t alignment_of(quant::TensorType type) {
    switch (type) {
        case quant::TensorType::F32:
        case quant::TensorType::I32:
        case quant::TensorType::Q8_K:
            return 4;
        default:
            return 2;
    }
}

struct ByteRange {
    uint32_t buffer;
    uint64_t begin, end;
    bool overlaps(const ByteRange& other) const {
        return buffer == other.buffer && begin < other.end && other.begin < end;
    }
    bool operator==(const ByteRange&) const = default;
};

class Compiler {
  public:
    Compiler(const Graph& graph, std::span<Buffer* const> buffers, const CpuFeatures& features)
        : graph_(graph), buffers_(buffers), features_(features) {}

    CompiledNode compile(size_t index) {
        const Node& node = graph_.nodes[index];
        label_ = describe_node(graph_, index);
        if (const auto problem = check_node(graph_, node, features_)) fail(*problem);

        CompiledNode compiled;
        compiled.op = node.op;
        compiled.params = node.params;
        compiled.label = label_;
        compiled.dst = resolve(node.dst, "dst");
        const ByteRange dst_range = range_of(node.dst);
        for (size_t i = 0; i < kMaxSources; ++i) {
            if (node.src[i] < 0) continue;
            const std::string role = "src" + std::to_string(i);
            compiled.src[i] = resolve(node.src[i], role.c_str());
            const ByteRange source_range = range_of(node.src[i]);
            const bool in_place = may_run_in_place(node.op) && source_range == dst_range;
            if (!in_place && source_range.overlaps(dst_range)) {
                fail("dst " + quoted(node.dst) + " overlaps " + role + " " + quoted(node.src[i]) +
                     (may_run_in_place(node.op)
                          ? " without being the same bytes (only an exact in-place use is allowed)"
                          : std::string(" and ") + op_name(node.op) + " cannot run in place"));
            }
        }
        if (node.op == Op::MUL_MAT || node.op == Op::FLASH_ATTN) {
            compiled.dot = dot_kernel(compiled.src[node.op == Op::MUL_MAT ? 0 : 1].type, features_);
        }
        if (node.op == Op::FLASH_ATTN) compiled.attention = &attention_kernels(features_);
        switch (node.op) {
            case Op::MUL_MAT:
                compiled.scratch = mul_mat_scratch(compiled);
                break;
            case Op::FLASH_ATTN:
                compiled.scratch = flash_attn_scratch(compiled);
                break;
            case Op::ARGMAX:
                compiled.scratch = argmax_scratch(compiled);
                break;
            case Op::ROPE:
                compiled.scratch = rope_scratch(compiled);
                break;
            case Op::TOP_K:
                compiled.scratch = top_k_scratch(compiled);
                break;
            default:
                break;
        }
        return compiled;
    }

  private:
    [[noreturn]] void fail(const std::string& what) const { throw Error(label_ + ": " + what); }

    std::string quoted(int32_t tensor) const {
        const std::string& name = graph_.tensors[static_cast<size_t>(tensor)].name;
        return name.empty() ? "tensor " + std::to_string(tensor) : "'" + name + "'";
    }

    ByteRange range_of(int32_t tensor) const {
        const Tensor& t = graph_.tensors[static_cast<size_t>(tensor)];
        return {t.buffer, t.offset, t.offset + t.n_bytes()};
    }

    TensorRef resolve(int32_t index, const char* role) const {
        const Tensor& t = graph_.tensors[static_cast<size_t>(index)];
        const std::string what = std::string(role) + " " + quoted(index);
        if (t.buffer >= buffers_.size() || buffers_[t.buffer] == nullptr) {
            fail(what + " is in buffer " + std::to_string(t.buffer) + " but compile was given " +
                 std::to_string(buffers_.size()) + " buffers");
        }
        Buffer& buffer = *buffers_[t.buffer];
        auto* base = static_cast<uint8_t*>(buffer.host_data());
        if (base == nullptr) {
            fail(what + " is in buffer " + std::to_string(t.buffer) +
                 ", which is not host memory the CPU can read");
        }
        const uint64_t n_bytes = t.n_bytes();
        if (t.offset > buffer.size() || n_bytes > buffer.size() - t.offset) {
            fail(what + " needs bytes " + std::to_string(t.offset) + ".." +
                 std::to_string(t.offset + n_bytes) + " of buffer " + std::to_string(t.buffer) +
                 ", which has " + std::to_string(buffer.size()));
        }
        const uint64_t alignment = alignment_of(t.type);
        if ((reinterpret_cast<uintptr_t>(base) + t.offset) % alignment != 0) {
            fail(what + " is at offset " + std::to_string(t.offset) + ", not a multiple of " +
                 std::to_string(alignment) + " bytes");
        }
        TensorRef ref;
        ref.type = t.type;
        ref.shape = t.shape;
        ref.data = base + t.offset;
        ref.row_bytes = t.row_bytes();
        return ref;
    }

    const Graph& graph_;
    std::span<Buffer* const> buffers_;
    const CpuFeatures& features_;
    std::string label_;
};

OpKernel kernel_of(Op op) {
    switch (op) {
        case Op::GET_ROWS:
            return run_get_rows;
        case Op::MUL_MAT:
            return run_mul_mat;
        case Op::ADD:
        case Op::MUL:
            return run_binary;
        case Op::SCALE:
            return run_scale;
        case Op::RMS_NORM:
            return run_rms_norm;
        case Op::ROPE:
            return run_rope;
        case Op::SILU:
        case Op::GELU:
        case Op::GELU_TANH:
        case Op::SOFTCAP:
            return run_unary;
        case Op::SWIGLU:
        case Op::GEGLU:
            return run_glu;
        case Op::SOFTMAX:
            return run_softmax;
        case Op::KV_STORE:
            return run_kv_store;
        case Op::FLASH_ATTN:
            return run_flash_attn;
        case Op::ARGMAX:
            return run_argmax;
        case Op::TOP_K:
            return run_top_k;
        case Op::DRAFT_VERIFY:
            return run_draft_verify;
        case Op::MTP_HEAD:
            return run_mtp_head;
        default:
            return nullptr;  // refused by check_node
    }
}

}  // namespace

CpuExecutable::CpuExecutable(const Graph& graph, std::span<Buffer* const> buffers,
                             const CpuFeatures& features) {
    Compiler compiler(graph, buffers, features);
    schedule_.reserve(graph.nodes.size());
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        CompiledNode node = compiler.compile(i);
        shared_scratch_bytes_ = std::max(shared_scratch_bytes_, align_up(node.scratch.shared));
        per_thread_scratch_bytes_ =
            std::max(per_thread_scratch_bytes_, align_up(node.scratch.per_thread));
        const OpKernel kernel = kernel_of(node.op);
        schedule_.push_back({std::move(node), kernel});
    }
}

void CpuExecutable::check_step(const StepValues& step) const {
    for (const Step& scheduled : schedule_) {
        if (scheduled.node.op == Op::KV_STORE) check_kv_store_step(scheduled.node, step);
        if (scheduled.node.op == Op::FLASH_ATTN) check_flash_attn_step(scheduled.node, step);
    }
}

uint64_t CpuExecutable::scratch_bytes(int n_threads) const {
    return shared_scratch_bytes_ + static_cast<uint64_t>(n_threads) * per_thread_scratch_bytes_;
}

void CpuExecutable::run(ThreadPool& pool, const StepValues& step, uint8_t* scratch) const {
    const OpContext context{pool, step, scratch, scratch + shared_scratch_bytes_,
                            per_thread_scratch_bytes_};
    for (const Step& scheduled : schedule_) scheduled.kernel(scheduled.node, context);
}

}  // namespace tessera::backend::cpu

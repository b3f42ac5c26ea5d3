#include "backends/vulkan/ops/ops.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "backends/cpu/node_checks.h"
#include "formats/error.h"

namespace tessera::backend::vulkan {

using quant::TensorType;

void PushConstants::append(const void* value, uint32_t size) {
    if (size_ + size > bytes_.size()) {
        throw Error("vulkan: a dispatch needs more than " + std::to_string(kPushConstantBytes) +
                    " bytes of push constants");
    }
    std::memcpy(bytes_.data() + size_, value, size);
    size_ += size;
}

PushConstants& PushConstants::address(VkDeviceAddress address) {
    size_ = (size_ + 7u) & ~7u;  // std430 aligns a uvec2 to 8 bytes
    const uint32_t words[2] = {static_cast<uint32_t>(address),
                               static_cast<uint32_t>(address >> 32)};
    append(words, sizeof(words));
    return *this;
}

PushConstants& PushConstants::word_address(VkDeviceAddress address) {
    this->address(address & ~VkDeviceAddress{3});
    return u32(static_cast<uint32_t>(address & 3));
}

PushConstants& PushConstants::u32(uint32_t value) {
    append(&value, sizeof(value));
    return *this;
}

PushConstants& PushConstants::i32(int32_t value) {
    append(&value, sizeof(value));
    return *this;
}

PushConstants& PushConstants::f32(float value) {
    append(&value, sizeof(value));
    return *this;
}

std::optional<TensorType> mul_mat_activation_type(TensorType weight_type) {
    switch (weight_type) {
        case TensorType::Q4_0:
        case TensorType::Q5_0:
        case TensorType::Q8_0:
            return TensorType::Q8_0;
        case TensorType::Q4_1:
        case TensorType::Q5_1:
            return TensorType::Q8_1;
        case TensorType::Q2_K:
        case TensorType::Q3_K:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
        case TensorType::Q8_K:
            return TensorType::Q8_K;
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::F32:
            return weight_type;
        default:
            return std::nullopt;
    }
}

// The layouts of shaders/quantize.comp, in 32-bit words: Q8_0 and Q8_1 blocks are 10 words
// (the scale, the quants' sum or Q8_1's s, 32 quants in 8 words), Q8_K super-blocks 82 (the
// scale, a zero word, 256 quants in 64 words, 16 group sums), F16 and BF16 one float per
// element. Blocks of an even number of words keep 64-bit reads aligned.
uint64_t converted_activation_bytes(TensorType type, int64_t k, int64_t m) {
    const auto columns = static_cast<uint64_t>(m);
    const auto elements = static_cast<uint64_t>(k);
    switch (type) {
        case TensorType::Q8_0:
        case TensorType::Q8_1:
            return columns * (elements / 32) * 10 * 4;
        case TensorType::Q8_K:
            return columns * (elements / 256) * 82 * 4;
        case TensorType::F16:
        case TensorType::BF16:
            return columns * elements * 4;
        default:
            return 0;
    }
}

std::optional<std::string> node_problem(const Graph& graph, const Node& node,
                                        const DeviceTuning& tuning) {
    const cpu::KernelSupport kernels{"Vulkan", mul_mat_activation_type};
    if (auto problem = cpu::check_node(graph, node, kernels)) return problem;
    // Shaders address a tensor's bytes and elements with 32-bit offsets.
    constexpr uint64_t kMaxTensorBytes = (uint64_t{1} << 32) - 64;
    const auto too_large = [&](int32_t index, const char* role) -> std::optional<std::string> {
        const Tensor& t = graph.tensors[static_cast<size_t>(index)];
        if (t.n_bytes() <= kMaxTensorBytes &&
            static_cast<uint64_t>(t.n_elements()) < kMaxTensorBytes) {
            return std::nullopt;
        }
        return std::string(role) + " '" + t.name + "' has " + std::to_string(t.n_bytes()) +
               " bytes; the Vulkan backend addresses a tensor with 32-bit offsets (< 4 GiB)";
    };
    static constexpr const char* kRoles[kMaxSources] = {"src0", "src1", "src2", "src3"};
    for (size_t i = 0; i < kMaxSources; ++i) {
        if (node.src[i] < 0) continue;
        if (auto problem = too_large(node.src[i], kRoles[i])) return problem;
    }
    if (auto problem = too_large(node.dst, "dst")) return problem;
    if (node.op == Op::FLASH_ATTN) {
        const int64_t head_dim = graph.tensors[static_cast<size_t>(node.src[0])].shape[0];
        if (head_dim > kMaxHeadDim) {
            return "head_dim " + std::to_string(head_dim) +
                   " is larger than the Vulkan attention kernel's " + std::to_string(kMaxHeadDim);
        }
    }
    if (node.op == Op::DRAFT_VERIFY && tuning.loops_limited) {
        // One workgroup walks the whole tree, scanning a row per depth: once for the argmax,
        // and once per candidate kept when sampling, each scan a loop over the row's share of
        // one thread plus a reduction.
        const int64_t n_vocab = graph.tensors[static_cast<size_t>(node.src[0])].shape[0];
        const int64_t k = graph.tensors[static_cast<size_t>(node.src[1])].n_elements();
        const int64_t workgroup = tuning.large_workgroup_size;
        const int64_t scan =
            (n_vocab + workgroup - 1) / workgroup + std::bit_width(uint64_t(workgroup));
        const VerifyParams& verify = node.params.verify;
        const int64_t kept = verify.top_k > 0 ? std::min<int64_t>(verify.top_k, n_vocab) : n_vocab;
        const int64_t per_row = verify.temperature > 0.0f ? kept * (scan + 8) + scan : scan;
        const int64_t iterations = (k + 1) * per_row;
        if (iterations > kMaxLoopIterations) {
            return "its loops would run about " + std::to_string(iterations) + " iterations (" +
                   std::to_string(k) + " drafts over " + std::to_string(n_vocab) + " tokens, " +
                   std::to_string(kept) + " candidates kept), past the " +
                   std::to_string(kMaxLoopIterations) +
                   " after which this device (a CPU implementation) ends a shader's loops: "
                   "draft fewer tokens, keep fewer candidates (top-k) or verify greedily";
        }
    }
    if (node.op == Op::DRAFT_VERIFY && node.params.verify.temperature > 0.0f) {
        const int64_t n_vocab = graph.tensors[static_cast<size_t>(node.src[0])].shape[0];
        const int32_t top_k = node.params.verify.top_k;
        const int64_t candidates = top_k > 0 ? std::min<int64_t>(top_k, n_vocab) : n_vocab;
        if (candidates > kMaxVerifyCandidates) {
            return "sampled verification keeps " + std::to_string(candidates) +
                   " candidates per row (top-k " + std::to_string(top_k) + ", " +
                   std::to_string(n_vocab) + " tokens); the Vulkan kernel takes at most " +
                   std::to_string(kMaxVerifyCandidates) + ": use top-k between 1 and " +
                   std::to_string(kMaxVerifyCandidates);
        }
    }
    return std::nullopt;
}

namespace {

void build_node(const NodeContext& context, std::vector<Dispatch>& out) {
    switch (context.node.op) {
        case Op::GET_ROWS:
            return build_get_rows(context, out);
        case Op::MUL_MAT:
            return build_mul_mat(context, out);
        case Op::ADD:
        case Op::MUL:
            return build_binary(context, out);
        case Op::SCALE:
        case Op::SILU:
        case Op::GELU:
        case Op::GELU_TANH:
        case Op::SOFTCAP:
            return build_unary(context, out);
        case Op::SWIGLU:
        case Op::GEGLU:
            return build_glu(context, out);
        case Op::RMS_NORM:
            return build_rms_norm(context, out);
        case Op::ROPE:
            return build_rope(context, out);
        case Op::SOFTMAX:
            return build_softmax(context, out);
        case Op::KV_STORE:
            return build_kv_store(context, out);
        case Op::FLASH_ATTN:
            return build_flash_attn(context, out);
        case Op::ARGMAX:
            return build_argmax(context, out);
        case Op::TOP_K:
            return build_top_k(context, out);
        case Op::MTP_HEAD:
            return build_mtp_head(context, out);
        case Op::DRAFT_VERIFY:
            return build_draft_verify(context, out);
    }
    throw Error(context.label + ": op " + op_name(context.node.op) + " has no Vulkan kernel");
}

}  // namespace

void build_dispatches(const NodeContext& context, std::vector<Dispatch>& out) {
    const size_t first = out.size();
    build_node(context, out);
    for (size_t i = first; i < out.size(); ++i) out[i].label = context.label;
}

uint32_t ceil_div(uint64_t value, uint64_t divisor) {
    return static_cast<uint32_t>((value + divisor - 1) / divisor);
}

std::array<uint32_t, 3> grid_of(uint64_t n_groups, const DeviceTuning& tuning) {
    const uint64_t limit = tuning.max_group_count;
    const uint64_t x = std::clamp<uint64_t>(n_groups, 1, limit);
    const uint64_t y = (n_groups + x - 1) / x;
    if (y > limit) {
        throw Error("vulkan: " + std::to_string(n_groups) + " workgroups exceed the device's grid");
    }
    return {static_cast<uint32_t>(x), static_cast<uint32_t>(std::max<uint64_t>(y, 1)), 1};
}

std::string type_suffix(TensorType type) {
    std::string name(quant::type_info(type).name);
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return name;
}

int64_t n_rows(const Tensor& tensor) {
    return tensor.shape[1] * tensor.shape[2] * tensor.shape[3];
}

}  // namespace tessera::backend::vulkan

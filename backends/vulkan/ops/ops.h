// The Vulkan kernels of the ops of backends/backend.h. For each node, a builder (one file per op
// family, named after its shaders/<op>.comp) turns the node into dispatches: a shader variant,
// its specialization constants, its push constants (tensors as buffer device addresses, shapes,
// parameters) and the memory it reads and writes, from which the executable derives the
// barriers between dependent dispatches.
//
// Values that change per run (StepValues) are not in push constants, which are recorded once:
// shaders read them from the executable's step buffer, whose address they are given. Errors
// found on the device (a row id out of range) go to the node's error slot, read after the run.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/vulkan/vulkan_device.h"
#include "backends/vulkan/vulkan_pipelines.h"

namespace tessera::backend::vulkan {

// Bytes [begin, end) of a VkBuffer.
struct MemoryRange {
    VkBuffer buffer = VK_NULL_HANDLE;
    uint64_t begin = 0, end = 0;
    bool overlaps(const MemoryRange& other) const {
        return buffer == other.buffer && begin < other.end && other.begin < end;
    }
};

// A tensor of a compiled graph on the device.
struct TensorView {
    const Tensor* tensor = nullptr;  // nullptr for an absent source
    MemoryRange range;               // its bytes in its buffer's block
    VkDeviceAddress address = 0;     // of its first byte
    uint8_t* host = nullptr;         // its first byte in the host's address space, if mapped
    bool present() const { return tensor != nullptr; }
};

// The push constants of one dispatch, laid out as the shaders' std430 push-constant blocks:
// addresses are uvec2 (low, high) at multiples of 8 bytes, the rest 32-bit scalars.
class PushConstants {
  public:
    PushConstants& address(VkDeviceAddress address);
    // A tensor read and written by 32-bit words (quantized blocks, halves): its address rounded
    // down to 4 bytes, then the bytes past that (a uvec2 and a uint).
    PushConstants& word_address(VkDeviceAddress address);
    PushConstants& u32(uint32_t value);
    PushConstants& i32(int32_t value);
    PushConstants& f32(float value);
    std::span<const uint8_t> bytes() const { return {bytes_.data(), size_}; }

  private:
    void append(const void* value, uint32_t size);
    std::array<uint8_t, kPushConstantBytes> bytes_{};
    uint32_t size_ = 0;
};

struct Dispatch {
    std::string label;  // the node's, for errors (set by build_dispatches)
    std::string shader;
    std::vector<uint32_t> constants;  // constant_id i = constants[i]
    PushConstants push;
    std::array<uint32_t, 3> groups = {1, 1, 1};
    std::vector<MemoryRange> reads, writes;
};

// MUL_MAT's activations converted to the weights' partner type live in scratch memory of the
// executable. A builder asks where a source's conversion goes; `ready` says an earlier node
// already converted the same bytes (Q, K and V projections of one input) and nothing wrote
// them since.
struct ScratchSlot {
    VkDeviceAddress address = 0;
    MemoryRange range;
    bool ready = false;
};
class ActivationScratch {
  public:
    virtual ~ActivationScratch() = default;
    virtual ScratchSlot converted(const TensorView& source, quant::TensorType type,
                                  uint64_t bytes) = 0;
};

struct NodeContext {
    const Graph& graph;
    const Node& node;
    std::string label;  // "node 7 (MUL_MAT -> ffn_up.3)"
    std::array<TensorView, kMaxSources> src;
    TensorView dst;
    const DeviceTuning& tuning;
    VkDeviceAddress step_values;  // int32 position, int32 n_kv, uint32 seed low and high
    VkDeviceAddress error_slot;   // kErrorSlotWords words for this node
    ActivationScratch& scratch;
};

// An error slot: word 0 is non-zero once the node failed, word 1 the lowest failing index
// (initially 0xffffffff).
inline constexpr uint32_t kErrorSlotWords = 4;

// What keeps the node from running on the Vulkan backend, or nothing. The checks of
// backends/cpu/node_checks.h with the Vulkan kernels, plus this backend's limits (tensors
// addressed with 32-bit offsets, attention heads of at most kMaxHeadDim, DRAFT_VERIFY's rows).
std::optional<std::string> node_problem(const Graph& graph, const Node& node,
                                        const DeviceTuning& tuning);
inline constexpr int64_t kMaxHeadDim = 512;
// DRAFT_VERIFY samples among at most this many candidates per row, kept in shared memory: a
// sampled (temperature > 0) node runs only when top-k, or the vocabulary itself, is this small.
inline constexpr int64_t kMaxVerifyCandidates = 256;
// On a device whose loops are limited (DeviceTuning::loops_limited), a shader invocation's
// loops may run this many iterations in all, with a margin below the 65535 of llvmpipe.
inline constexpr int64_t kMaxLoopIterations = 60000;

// MUL_MAT's activation type for weights of a type (the CPU's: ggml's vec_dot_type).
std::optional<quant::TensorType> mul_mat_activation_type(quant::TensorType weight_type);
// Bytes MUL_MAT's activations of `type` take in scratch, for m columns of k elements.
uint64_t converted_activation_bytes(quant::TensorType type, int64_t k, int64_t m);

// The dispatches of a node, appended to `out`.
void build_dispatches(const NodeContext& context, std::vector<Dispatch>& out);

// Builders, one per op family.
void build_get_rows(const NodeContext& context, std::vector<Dispatch>& out);
void build_mul_mat(const NodeContext& context, std::vector<Dispatch>& out);
void build_binary(const NodeContext& context, std::vector<Dispatch>& out);
void build_unary(const NodeContext& context, std::vector<Dispatch>& out);
void build_glu(const NodeContext& context, std::vector<Dispatch>& out);
void build_rms_norm(const NodeContext& context, std::vector<Dispatch>& out);
void build_rope(const NodeContext& context, std::vector<Dispatch>& out);
void build_softmax(const NodeContext& context, std::vector<Dispatch>& out);
void build_kv_store(const NodeContext& context, std::vector<Dispatch>& out);
void build_flash_attn(const NodeContext& context, std::vector<Dispatch>& out);
void build_argmax(const NodeContext& context, std::vector<Dispatch>& out);
void build_top_k(const NodeContext& context, std::vector<Dispatch>& out);
void build_draft_verify(const NodeContext& context, std::vector<Dispatch>& out);
void build_mtp_head(const NodeContext& context, std::vector<Dispatch>& out);

// Helpers for builders.
// A grid of at least n_groups workgroups within the device's per-dimension limit: {x, y, 1}
// with x * y >= n_groups. Shaders number their group x + y * num_x and skip those past the end.
std::array<uint32_t, 3> grid_of(uint64_t n_groups, const DeviceTuning& tuning);
uint32_t ceil_div(uint64_t value, uint64_t divisor);
// The tensor's row count (product of the outer dimensions).
int64_t n_rows(const Tensor& tensor);
// "q4_k", "f16": the suffix of a shader variant for a tensor type.
std::string type_suffix(quant::TensorType type);

}  // namespace tessera::backend::vulkan

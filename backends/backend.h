// The one interface every device implements: CPU, Vulkan and CUDA alike.
//
// The vocabulary follows IREE's HAL and ggml's backend interface:
//   - a Device is a piece of hardware: its memory and what it can compute. It is shared (a
//     loaded model's weights live in its buffers, used by every context of that model) and is
//     safe to use from several threads;
//   - a Buffer is a block of memory on a device, device-local or host-visible;
//   - a Graph is a whole forward pass as data: tensors (views into buffers) and nodes (one op
//     each). A device compiles it once into an Executable (recorded command buffers, a captured
//     CUDA graph, a CPU schedule) that runs again and again;
//   - a Queue is where one context submits work, in order. Execution is asynchronous: submit()
//     returns at once and wait() is the explicit synchronisation. A queue owns its execution
//     resources (the CPU's thread pool, a Vulkan queue and fences, a CUDA stream), so nothing is
//     global.
//   - Per-step values (the position of the first token, the number of valid KV entries) change
//     between runs of an executable without a rebuild: they travel in StepValues, and per-step
//     tensors (token ids, positions, masks) live in buffers the caller writes before submit().
//
// A backend knows ops and memory, nothing of models or tokens. Every op is defined once, here,
// with the CPU backend as its reference; the conformance suite holds every backend to it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/quant/tensor_type.h"

namespace tessera::backend {

// ---------------------------------------------------------------------------------------------
// Ops. Tensors use ggml's order: shape[0] is the innermost (contiguous) dimension, so a matrix
// of n rows of k elements has shape {k, n}. "F32" below means quant::TensorType::F32; I32 is
// quant::TensorType::I32.
enum class Op : uint8_t {
    // dst[k, m] (F32) = rows src1[m] (I32 ids) of src0[k, n_rows] (any type with a codec). An
    // id outside [0, n_rows) is an error reported by Queue::wait().
    GET_ROWS,
    // dst[n, m] (F32) = src0[k, n] (weights, any type with a codec) times src1[k, m] (F32):
    // dst[i, j] = sum_l src0[l, i] * src1[l, j]. m = 1 is the decoding case. A backend may
    // convert src1 on the fly to the weights' partner type to use integer dot products, as ggml
    // does: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 (with its F16-rounded block sums) for Q4_1/Q5_1, Q8_K
    // for the K-quants.
    MUL_MAT,
    // Element-wise: dst = src0 + src1, src0 * src1. src1 broadcasts: each of its dimensions is
    // either src0's or 1.
    ADD,
    MUL,
    // dst = src0 * params.scale.
    SCALE,
    // Per row: dst = src0 / sqrt(mean(src0^2) + params.eps). The weight is a separate MUL.
    RMS_NORM,
    // Rotary position embedding of src0[head_dim, n_heads, m] at positions src1[m] (I32):
    // dimension pairs rotate by pos * freq_scale * freq_base^(-2i/n_rot) for i < n_rot/2.
    // Normal style pairs (2i, 2i+1); NeoX style pairs (i, i + n_rot/2). Dimensions past n_rot
    // pass through.
    ROPE,
    // Activations, element-wise on src0.
    SILU,       // x * sigmoid(x)
    GELU,       // x * Phi(x), with the exact error function
    GELU_TANH,  // the tanh approximation (PyTorch's gelu(approximate="tanh"))
    // Gated units: dst = act(src0) * src1, with src0 the gate and src1 the up projection.
    SWIGLU,  // act = SILU
    GEGLU,   // act = GELU_TANH
    // Per row: dst = softmax(src0 * params.scale).
    SOFTMAX,
    // dst = params.softcap * tanh(src0 / params.softcap).
    SOFTCAP,
    // Writes src0[row, m] (F32) into the cache dst[row, n_ctx] (F16 or Q8_0) at columns
    // step.position .. step.position + m - 1. A position past n_ctx is an error at submit.
    KV_STORE,
    // Attention over the cache: src0 = Q[head_dim, n_heads, m] (F32), src1 = K cache and
    // src2 = V cache, each [head_dim * n_kv_heads, n_ctx] (F16 or Q8_0), src3 = optional
    // explicit mask [>= n_kv, m] (F32, added to the scores; -inf masks; its shape is fixed at
    // compile time while n_kv changes, so only its first step.n_kv columns are read). Only the
    // first step.n_kv cache columns are read. dst[head_dim, n_heads, m] (F32) =
    // softmax(Q.K^T * scale (softcapped when params.softcap > 0) + mask) . V, computed tile by
    // tile with an online softmax. Query head h reads KV head h / (n_heads / n_kv_heads). Query
    // j sits at position step.position + j: with params.causal it sees cache columns up to its
    // position, and with params.window > 0 only the last `window` positions (p - window, p]
    // (the window applies with or without causal). A query row that sees no column gives zeros.
    // A backend may convert Q to the K cache's dot type first, as ggml does.
    FLASH_ATTN,
    // dst[m] (I32) = the index of the largest value of each row of src0[n, m] (F32); the first
    // such index on ties.
    ARGMAX,
    // dst[k, m] (I32) = the indices of the params.k largest values of each row of src0[n, m],
    // largest first; ties by the lower index.
    TOP_K,
    // The fused element-wise input stage of a speculative draft head (runtime/speculative);
    // the projections around it are ordinary MUL_MATs. params.mtp_style picks the style:
    //   - NextN (DeepSeek-V3 multi-token prediction, as the released checkpoints run it):
    //     src0 = e [n_embd, m] (F32, the embeddings of the next tokens), src1 = h [n_embd, m]
    //     (F32, the main model's hidden states), src2 = enorm [n_embd] and src3 = hnorm [n_embd]
    //     (F32 weights). dst [2 * n_embd, m] (F32): column j is rmsnorm(e_j) * enorm followed by
    //     rmsnorm(h_j) * hnorm, embedding first, each normalised as RMS_NORM does with
    //     params.eps. The block's eh_proj then maps it back to n_embd.
    //   - Medusa (Cai et al. 2024, one residual block of a head): src0 = h [n_embd, m] (F32),
    //     src1 = z [n_embd, m] (F32, the head's W_k h), src2 = optional bias b [n_embd] (F32).
    //     dst [n_embd, m] (F32) = h + SILU(z + b).
    MTP_HEAD,
    // Speculative decoding's verification, on the device so that the target's logits never
    // cross to the host. k draft tokens (k >= 1) form a chain or a tree of nodes 0..k-1.
    //   src0 = target logits F32 [n_vocab, k+1]: row 0 after the accepted prefix (it predicts
    //          the root's children), row j+1 after node j (it predicts node j's children).
    //   src1 = draft tokens I32 [k]: node j's token. A token outside [0, n_vocab) is never
    //          accepted.
    //   src2 = optional draft distributions F32 [n_vocab, k]: column j is the distribution q_j
    //          node j's token was drawn from (transformed and summing to 1). Absent: the drafts
    //          are deterministic, q_j one-hot at node j's token.
    //   src3 = optional tree parents I32 [k]: node j's parent, -1 for the root; a parent outside
    //          [-1, j) makes node j unreachable. Absent: a chain (node j's parent is j-1).
    //   dst  = I32 [k+2]: [n_accepted, next_token, the accepted nodes from the root down...],
    //          unused entries -1. For a chain the accepted nodes are 0..n_accepted-1.
    // The walk starts at the root with row 0; at each depth the current row's children (the
    // nodes whose parent is the current node) are tried in index order, the first accepted one
    // becomes the current node (its row next), and the walk stops when none is accepted.
    // params.verify says how:
    //   - Greedy (temperature <= 0): a child is accepted when its token is argmax(row), the first
    //     index on ties; next_token = argmax of the last row reached.
    //   - Exact (Leviathan et al. 2023, Chen et al. 2023; SpecInfer's multi-draft form for
    //     trees): p = the row's distribution after top-k -> top-p -> min-p -> temperature, the
    //     stages and order of runtime/sampler.h (softmax in double; top-p over the top-k set at
    //     temperature 1; ranks by value, then lower index). Child j with token x and q_j is
    //     accepted when u(seed, 2j) * q_j(x) < p(x); on rejection p <- norm(max(0, p - q_j))
    //     (p unchanged should that be all zero, as rounding can make it) and the next child is
    //     tried with that p. With no child accepted next_token is drawn from
    //     the final p; after an accepted leaf (no children) it is drawn from the leaf's row.
    //     Either draw uses u(seed, 2d + 1), d = n_accepted. Accepted tokens and next_token then
    //     follow the target's own distribution exactly, whatever the drafts.
    //   - Typical (Cai et al. 2024, Medusa; opt-in, NOT distribution-preserving): a child with
    //     token x is accepted when p(x) > min(typical_epsilon, typical_delta * exp(-H(p))), with
    //     p the transformed distribution and H its entropy in nats; p is not changed by a
    //     rejection, and next_token is drawn from p as in Exact.
    // Draws walk the candidates in token-index order: token t is chosen when
    // u * total < sum of the weights of tokens <= t. u(seed, i) is the top 53 bits of
    // splitmix64's output for seed + (i + 1) * 0x9E3779B97F4A7C15 times 2^-53, in [0, 1), with
    // seed = step.seed. Backends agree up to float rounding of the probabilities.
    DRAFT_VERIFY,
};
inline constexpr int kOpCount = static_cast<int>(Op::DRAFT_VERIFY) + 1;

// "MUL_MAT", "FLASH_ATTN", ...
const char* op_name(Op op);

enum class RopeStyle : uint8_t { Normal, NeoX };
// MTP_HEAD's two styles.
enum class MtpStyle : uint8_t { NextN, Medusa };

// How DRAFT_VERIFY accepts a sampled draft token (greedy verification ignores it).
enum class Acceptance : uint8_t {
    Exact,    // rejection sampling: the target's distribution exactly
    Typical,  // Medusa's typical acceptance: more tokens accepted, distribution not kept
};

// DRAFT_VERIFY's sampling: the transforms of runtime/sampler.h, without penalties.
struct VerifyParams {
    float temperature = 0.0f;  // <= 0: greedy
    int32_t top_k = 0;         // <= 0: off
    float top_p = 1.0f;        // >= 1: off
    float min_p = 0.0f;        // <= 0: off
    Acceptance acceptance = Acceptance::Exact;
    // Typical's threshold min(epsilon, delta * exp(-entropy)), with the Medusa code's defaults
    // (posterior_threshold 0.09, posterior_alpha 0.3).
    float typical_epsilon = 0.09f;
    float typical_delta = 0.3f;
};

// The parameters of a node; each op reads the fields its description names.
struct OpParams {
    float eps = 0.0f;      // RMS_NORM, MTP_HEAD (NextN)
    float scale = 1.0f;    // SCALE, SOFTMAX, FLASH_ATTN
    float softcap = 0.0f;  // SOFTCAP, FLASH_ATTN (0: none)
    RopeStyle rope_style = RopeStyle::Normal;
    int32_t n_rot = 0;  // ROPE: rotated dimensions
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;
    bool causal = true;                    // FLASH_ATTN
    int32_t window = 0;                    // FLASH_ATTN: sliding window in positions, 0 for none
    int32_t k = 0;                         // TOP_K
    MtpStyle mtp_style = MtpStyle::NextN;  // MTP_HEAD
    VerifyParams verify;                   // DRAFT_VERIFY
};

// ---------------------------------------------------------------------------------------------
// Graphs.

inline constexpr int kMaxDims = 4;
inline constexpr int kMaxSources = 4;

// A tensor of a graph: a view of `buffer` (an index into the buffers given to compile()) at
// `offset`, contiguous, with the given type and shape. Unused trailing dimensions are 1. An op
// may write in place (dst the very bytes of a source) only when it is element-wise or row-wise
// (ADD, MUL, SCALE, RMS_NORM, ROPE, activations, gated units, SOFTMAX, SOFTCAP).
struct Tensor {
    quant::TensorType type = quant::TensorType::F32;
    std::array<int64_t, kMaxDims> shape = {1, 1, 1, 1};
    uint32_t buffer = 0;
    uint64_t offset = 0;
    std::string name;  // for errors: "blk.3.attn_q", "kq"

    int64_t n_elements() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
    uint64_t n_bytes() const;
    uint64_t row_bytes() const;  // bytes of one row of shape[0] elements
};

struct Node {
    Op op;
    std::array<int32_t, kMaxSources> src = {-1, -1, -1, -1};  // tensor indices, -1 for none
    int32_t dst = -1;
    OpParams params;
};

struct Graph {
    std::vector<Tensor> tensors;
    std::vector<Node> nodes;  // in execution order
};

// Values that change from one run of an executable to the next.
struct StepValues {
    int32_t position = 0;  // position of the first token of this step
    int32_t n_kv = 0;      // valid cache columns after this step's KV_STORE
    uint64_t seed = 0;     // DRAFT_VERIFY: this step's random stream
};

// ---------------------------------------------------------------------------------------------
// Devices, memory and execution.

enum class DeviceKind : uint8_t { DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu };

struct DeviceInfo {
    std::string backend;  // "cpu", "vulkan", "cuda"
    std::string name;     // the device's own name
    DeviceKind kind = DeviceKind::Cpu;
    uint64_t memory_bytes = 0;    // memory the device can allocate
    bool unified_memory = false;  // host and device share memory
};

enum class MemoryKind : uint8_t {
    DeviceLocal,  // fastest for the device; reached from the host through upload/download
    HostVisible,  // mapped into the host's address space
};

class Buffer {
  public:
    virtual ~Buffer() = default;
    virtual uint64_t size() const = 0;
    virtual MemoryKind kind() const = 0;
    // The host address of a host-visible buffer, else nullptr.
    virtual void* host_data() = 0;
};

class Executable {
  public:
    virtual ~Executable() = default;
};

class Queue {
  public:
    virtual ~Queue() = default;
    // Starts a run of the executable with these step values and returns at once. Runs on one
    // queue happen in submission order.
    virtual void submit(Executable& executable, const StepValues& step) = 0;
    // Blocks until everything submitted has finished. Errors of an asynchronous run (a device
    // lost, a position past the cache) are thrown here as tessera::Error.
    virtual void wait() = 0;
};

struct QueueOptions {
    int n_threads = 0;  // CPU: worker threads, 0 for one per core
};

class Device {
  public:
    virtual ~Device() = default;
    virtual const DeviceInfo& info() const = 0;

    // Whether the device runs this node of this graph (its op with its sources' and
    // destination's types and shapes). The runtime asks before building on a device.
    virtual bool supports(const Graph& graph, const Node& node) const = 0;

    // Memory. allocate() throws tessera::Error saying what was needed and what is available
    // when memory runs out, and leaves nothing half-allocated.
    virtual std::unique_ptr<Buffer> allocate(uint64_t size, MemoryKind kind) = 0;
    // A buffer over host memory that the caller keeps alive (a memory-mapped file): zero-copy
    // where the device can read host memory (the CPU), else nullptr and the caller uploads.
    virtual std::unique_ptr<Buffer> wrap_host(const void* data, uint64_t size) = 0;
    // Blocking transfers between host memory and a buffer, and between buffers of this device.
    // A copy within one buffer may overlap, as memmove's may.
    virtual void upload(Buffer& dst, uint64_t offset, std::span<const uint8_t> bytes) = 0;
    virtual void download(Buffer& src, uint64_t offset, std::span<uint8_t> bytes) = 0;
    virtual void copy(Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
                      uint64_t size) = 0;

    // Compiles a whole graph over these buffers (indexed by Tensor::buffer). Throws
    // tessera::Error naming the node and op that the device cannot run or whose shapes do not
    // fit.
    virtual std::unique_ptr<Executable> compile(const Graph& graph,
                                                std::span<Buffer* const> buffers) = 0;

    virtual std::unique_ptr<Queue> create_queue(const QueueOptions& options) = 0;
};

// The devices of every backend built in, in the default order: discrete, integrated and
// virtual GPUs, then the CPU. A backend whose driver is missing contributes none.
std::vector<DeviceInfo> list_devices();
// Opens a device by backend name and index within that backend ("cpu" 0, "vulkan" 1). Throws
// tessera::Error listing the devices when there is no such device.
std::shared_ptr<Device> open_device(const std::string& backend, int index = 0);

}  // namespace tessera::backend

// The CPU kernels of the ops of backends/backend.h, one family per file, and what they share:
// a node of a compiled graph with its tensors' addresses resolved (CompiledNode) and the
// resources of the run that executes it (OpContext: the queue's threads, the step values and
// scratch memory).
//
// Every kernel splits its work into tasks by the shapes alone and runs them with
// ThreadPool::parallel_for; each output element is computed by one task, in a fixed order, so
// that the result is the same bit for bit whatever the number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/cpu/ops/attention_kernels.h"
#include "backends/cpu/quant_dot.h"
#include "backends/cpu/thread_pool.h"

namespace tessera::backend::cpu {

// A tensor of a compiled graph: a Tensor with its host address.
struct TensorRef {
    quant::TensorType type = quant::TensorType::F32;
    std::array<int64_t, kMaxDims> shape = {1, 1, 1, 1};
    uint8_t* data = nullptr;  // nullptr for an absent source
    uint64_t row_bytes = 0;   // bytes of one row of shape[0] elements

    int64_t n_rows() const { return shape[1] * shape[2] * shape[3]; }
    int64_t n_elements() const { return shape[0] * n_rows(); }
    uint8_t* row(int64_t index) const { return data + static_cast<uint64_t>(index) * row_bytes; }
    float* f32() const { return reinterpret_cast<float*>(data); }
    int32_t* i32() const { return reinterpret_cast<int32_t*>(data); }
};

// Scratch memory a node needs while it runs, sized when the graph is compiled: `shared` bytes
// used by all threads together (activations converted for MUL_MAT) and `per_thread` bytes for
// each thread on its own (attention tiles).
struct ScratchSize {
    uint64_t shared = 0;
    uint64_t per_thread = 0;
};

struct CompiledNode {
    Op op = Op::GET_ROWS;
    OpParams params;
    std::string label;  // "node 7 (FLASH_ATTN -> kqv.0)", for errors at run time
    TensorRef dst;
    std::array<TensorRef, kMaxSources> src;
    // MUL_MAT: the weights' kernel; FLASH_ATTN: the K cache's (scores are dot products of Q
    // converted to the kernel's activation type with the cache rows, as ggml computes them).
    const DotKernel* dot = nullptr;
    const AttentionKernels* attention = nullptr;  // FLASH_ATTN
    ScratchSize scratch;
};

// What a kernel runs with. Scratch is 64-byte aligned.
struct OpContext {
    ThreadPool& pool;
    StepValues step;
    uint8_t* shared_scratch = nullptr;
    uint8_t* thread_scratch = nullptr;  // thread t's part starts at t * thread_scratch_stride
    uint64_t thread_scratch_stride = 0;

    uint8_t* scratch_of_thread(int thread) const {
        return thread_scratch + static_cast<uint64_t>(thread) * thread_scratch_stride;
    }
};

// Work splitting: element-wise kernels hand out about this many elements per task, enough to
// amortise claiming a task (one atomic add) and few enough to balance a handful of threads.
inline constexpr int64_t kElementsPerTask = 16384;

inline int64_t ceil_div(int64_t value, int64_t divisor) {
    return (value + divisor - 1) / divisor;
}

// Rows per task for rows of `row_length` elements: whole rows, about kElementsPerTask in all.
inline int64_t rows_per_task(int64_t row_length) {
    return row_length >= kElementsPerTask ? 1 : kElementsPerTask / row_length;
}

using OpKernel = void (*)(const CompiledNode& node, const OpContext& context);

// Kernels. Each computes its node as defined in backends/backend.h; the node was checked when
// the graph was compiled.
void run_get_rows(const CompiledNode& node, const OpContext& context);
void run_mul_mat(const CompiledNode& node, const OpContext& context);
// ADD and MUL.
void run_binary(const CompiledNode& node, const OpContext& context);
void run_scale(const CompiledNode& node, const OpContext& context);
void run_rms_norm(const CompiledNode& node, const OpContext& context);
void run_rope(const CompiledNode& node, const OpContext& context);
// SILU, GELU, GELU_TANH and SOFTCAP.
void run_unary(const CompiledNode& node, const OpContext& context);
// SWIGLU and GEGLU.
void run_glu(const CompiledNode& node, const OpContext& context);
void run_softmax(const CompiledNode& node, const OpContext& context);
void run_kv_store(const CompiledNode& node, const OpContext& context);
void run_flash_attn(const CompiledNode& node, const OpContext& context);
void run_argmax(const CompiledNode& node, const OpContext& context);
void run_top_k(const CompiledNode& node, const OpContext& context);
void run_draft_verify(const CompiledNode& node, const OpContext& context);
void run_mtp_head(const CompiledNode& node, const OpContext& context);

// Scratch sizes, for the ops that need any.
ScratchSize mul_mat_scratch(const CompiledNode& node);
ScratchSize flash_attn_scratch(const CompiledNode& node);
ScratchSize argmax_scratch(const CompiledNode& node);
ScratchSize rope_scratch(const CompiledNode& node);
ScratchSize top_k_scratch(const CompiledNode& node);

// Checks of the step values, made for every node before a run starts so that a bad step runs
// nothing at all. Throw tessera::Error naming the node.
void check_kv_store_step(const CompiledNode& node, const StepValues& step);
void check_flash_attn_step(const CompiledNode& node, const StepValues& step);

}  // namespace tessera::backend::cpu

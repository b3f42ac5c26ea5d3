// ARGMAX per row. A long row (the logits of a large vocabulary) is cut into fixed chunks
// searched in parallel; the chunks' winners are then compared in order. Taking the first
// strictly larger value at both levels gives exactly the sequential scan's answer: the first
// index of the maximum.
#include <algorithm>
#include <limits>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

constexpr int64_t kChunk = 32768;

struct Candidate {
    float value;
    int64_t index;  // -1: nothing in the chunk beat -infinity
};

}  // namespace

ScratchSize argmax_scratch(const CompiledNode& node) {
    const int64_t n_chunks = ceil_div(node.src[0].shape[0], kChunk);
    return {static_cast<uint64_t>(n_chunks * node.src[0].n_rows()) * sizeof(Candidate), 0};
}

void run_argmax(const CompiledNode& node, const OpContext& context) {
    const int64_t length = node.src[0].shape[0];
    const int64_t n_rows = node.src[0].n_rows();
    const int64_t n_chunks = ceil_div(length, kChunk);
    auto* candidates = reinterpret_cast<Candidate*>(context.shared_scratch);

    context.pool.parallel_for(n_rows * n_chunks, [&](int64_t task, int) {
        const int64_t row = task / n_chunks;
        const int64_t begin = (task % n_chunks) * kChunk;
        const int64_t end = std::min(length, begin + kChunk);
        const float* x = node.src[0].f32() + row * length;
        Candidate best{-std::numeric_limits<float>::infinity(), -1};
        for (int64_t i = begin; i < end; ++i) {
            if (x[i] > best.value) best = {x[i], i};
        }
        candidates[task] = best;
    });

    for (int64_t row = 0; row < n_rows; ++row) {
        Candidate best{-std::numeric_limits<float>::infinity(), 0};
        for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
            const Candidate& candidate = candidates[row * n_chunks + chunk];
            if (candidate.index >= 0 && candidate.value > best.value) best = candidate;
        }
        node.dst.i32()[row] = static_cast<int32_t>(best.index);
    }
}

}  // namespace tessera::backend::cpu

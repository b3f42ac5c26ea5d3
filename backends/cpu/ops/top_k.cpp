// TOP_K per row: one pass keeping the k best so far in a heap whose top is the weakest of them,
// then a sort of those k. "Better" is the larger value, or the lower index on equal values; NaN
// ranks as -infinity so that the order stays strict.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

struct Entry {
    float value;
    int32_t index;
};

bool better(const Entry& a, const Entry& b) {
    return a.value > b.value || (a.value == b.value && a.index < b.index);
}

}  // namespace

ScratchSize top_k_scratch(const CompiledNode& node) {
    return {0, static_cast<uint64_t>(node.params.k) * sizeof(Entry)};
}

void run_top_k(const CompiledNode& node, const OpContext& context) {
    const int64_t length = node.src[0].shape[0];
    const int64_t n_rows = node.src[0].n_rows();
    const auto k = static_cast<int64_t>(node.params.k);

    context.pool.parallel_for(n_rows, [&](int64_t row, int thread) {
        const float* x = node.src[0].f32() + row * length;
        auto* heap = reinterpret_cast<Entry*>(context.scratch_of_thread(thread));
        // With `better` as the heap's "less", the top is the weakest entry kept.
        int64_t size = 0;
        for (int64_t i = 0; i < length; ++i) {
            const float value = std::isnan(x[i]) ? -std::numeric_limits<float>::infinity() : x[i];
            const Entry entry{value, static_cast<int32_t>(i)};
            if (size < k) {
                heap[size++] = entry;
                std::push_heap(heap, heap + size, better);
            } else if (better(entry, heap[0])) {
                std::pop_heap(heap, heap + size, better);
                heap[size - 1] = entry;
                std::push_heap(heap, heap + size, better);
            }
        }
        std::sort(heap, heap + size, better);
        int32_t* out = node.dst.i32() + row * k;
        for (int64_t i = 0; i < k; ++i) out[i] = heap[i].index;
    });
}

}  // namespace tessera::backend::cpu

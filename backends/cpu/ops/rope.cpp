// ROPE with ggml's angle computation (rope_yarn without the YaRN extras): theta starts at the
// position as a float and is multiplied by freq_base^(-2/n_rot) once per pair, in float; the
// angle is freq_scale * theta, and its cosine and sine are float functions.
#include <algorithm>
#include <cmath>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

// Fills cos_sin[2i] = cos and cos_sin[2i + 1] = sin of pair i's angle at `position`.
void rotation_table(int32_t position, const OpParams& params, float* cos_sin) {
    const int32_t n_pairs = params.n_rot / 2;
    const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_rot));
    auto theta = static_cast<float>(position);
    for (int32_t i = 0; i < n_pairs; ++i) {
        const float angle = params.freq_scale * theta;
        cos_sin[2 * i] = std::cos(angle);
        cos_sin[2 * i + 1] = std::sin(angle);
        theta *= theta_scale;
    }
}

// Rotates one head: Normal pairs (2i, 2i + 1), NeoX pairs (i, i + n_rot / 2); the dimensions
// past n_rot are copied.
void rotate_head(const float* x, float* y, int64_t head_dim, const OpParams& params,
                 const float* cos_sin) {
    const int32_t n_pairs = params.n_rot / 2;
    const bool neox = params.rope_style == RopeStyle::NeoX;
    const int64_t step = neox ? 1 : 2;           // from one pair's first element to the next
    const int64_t partner = neox ? n_pairs : 1;  // from a pair's first element to its second
    for (int32_t i = 0; i < n_pairs; ++i) {
        const int64_t first = i * step;
        const float cos_theta = cos_sin[2 * i];
        const float sin_theta = cos_sin[2 * i + 1];
        const float x0 = x[first];
        const float x1 = x[first + partner];
        y[first] = x0 * cos_theta - x1 * sin_theta;
        y[first + partner] = x0 * sin_theta + x1 * cos_theta;
    }
    for (int64_t i = params.n_rot; i < head_dim; ++i) y[i] = x[i];
}

}  // namespace

ScratchSize rope_scratch(const CompiledNode& node) {
    return {0, static_cast<uint64_t>(node.params.n_rot) * sizeof(float)};
}

void run_rope(const CompiledNode& node, const OpContext& context) {
    const TensorRef& x = node.src[0];
    const int64_t head_dim = x.shape[0];
    const int64_t n_heads = x.shape[1];
    const int64_t n_tokens = x.shape[2];
    const int32_t* positions = node.src[1].i32();
    const int64_t heads_per_task = std::min(n_heads, rows_per_task(head_dim));
    const int64_t head_groups = ceil_div(n_heads, heads_per_task);

    context.pool.parallel_for(n_tokens * head_groups, [&](int64_t task, int thread) {
        const int64_t token = task / head_groups;
        const int64_t head_begin = (task % head_groups) * heads_per_task;
        const int64_t head_end = std::min(n_heads, head_begin + heads_per_task);
        auto* cos_sin = reinterpret_cast<float*>(context.scratch_of_thread(thread));
        rotation_table(positions[token], node.params, cos_sin);
        for (int64_t head = head_begin; head < head_end; ++head) {
            const int64_t offset = (token * n_heads + head) * head_dim;
            rotate_head(x.f32() + offset, node.dst.f32() + offset, head_dim, node.params, cos_sin);
        }
    });
}

}  // namespace tessera::backend::cpu

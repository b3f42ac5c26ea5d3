// FLASH_ATTN: attention over the KV cache, tile by tile with an online softmax, so that no
// score matrix is ever materialised: each query row (one token, one head) keeps its running
// maximum, the running sum of its exponentials and the running weighted sum of V rows, and
// rescales them when a tile raises the maximum.
//
// A task is a block of up to kTokensPerTask query tokens and one KV head with the query heads
// that read it (GQA): each tile of K is dotted with all those query rows at once (the kernels'
// tile form) and each tile of V is decoded to F32 once for all of them. When that gives fewer
// than kMinTasks tasks (decoding with few KV heads), a task takes one query head instead.
// Scores are ggml's: Q converted to the K cache kernel's activation type (F16 for an F16 cache,
// Q8_0 for a Q8_0 cache), dotted with the cache rows by the SIMD kernels of quant_dot.h, then
// scaled, softcapped (cap * tanh(score * scale / cap)) and masked. The columns a query sees:
// those before n_kv; with params.causal only those at or before its position; with
// params.window > 0 only those after position - window.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "backends/cpu/ops/ops.h"
#include "formats/error.h"

namespace tessera::backend::cpu {

namespace {

constexpr int64_t kTileColumns = 64;
constexpr int64_t kTokensPerTask = 8;
constexpr int64_t kMinTasks = 8;
constexpr uint64_t kAlignment = 64;

uint64_t align_up(uint64_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

struct Geometry {
    int64_t head_dim, n_heads, n_tokens, n_kv_heads, group_size;
    int64_t tokens_per_task, token_blocks, heads_per_task, rows_per_task;
    uint64_t query_bytes;  // one query row converted to the K kernel's activation type
};

Geometry geometry_of(const CompiledNode& node) {
    Geometry g{};
    g.head_dim = node.src[0].shape[0];
    g.n_heads = node.src[0].shape[1];
    g.n_tokens = node.src[0].shape[2];
    g.n_kv_heads = node.src[1].shape[0] / g.head_dim;
    g.group_size = g.n_heads / g.n_kv_heads;
    g.tokens_per_task = std::min(kTokensPerTask, g.n_tokens);
    g.token_blocks = ceil_div(g.n_tokens, g.tokens_per_task);
    g.heads_per_task = g.token_blocks * g.n_kv_heads >= kMinTasks ? g.group_size : 1;
    g.rows_per_task = g.tokens_per_task * g.heads_per_task;
    g.query_bytes = align_up(quant::row_bytes(quant::type_info(node.dot->activation_type),
                                              static_cast<uint64_t>(g.head_dim)));
    return g;
}

// A thread's scratch: converted query rows, their accumulators, running maxima and sums, a tile
// of scores per row and one tile of decoded V rows.
struct TaskScratch {
    uint8_t* queries;
    float* accumulators;  // rows_per_task x head_dim
    float* maxima;
    float* sums;
    float* scores;  // rows_per_task x kTileColumns
    float* values;  // kTileColumns x head_dim

    TaskScratch(uint8_t* base, const Geometry& g) {
        queries = base;
        base += part_bytes(g, 0);
        accumulators = reinterpret_cast<float*>(base);
        base += part_bytes(g, 1);
        maxima = reinterpret_cast<float*>(base);
        base += part_bytes(g, 2);
        sums = reinterpret_cast<float*>(base);
        base += part_bytes(g, 3);
        scores = reinterpret_cast<float*>(base);
        base += part_bytes(g, 4);
        values = reinterpret_cast<float*>(base);
    }

    static uint64_t part_bytes(const Geometry& g, int part) {
        const auto rows = static_cast<uint64_t>(g.rows_per_task);
        const auto dim = static_cast<uint64_t>(g.head_dim);
        switch (part) {
            case 0:
                return g.query_bytes * rows;
            case 1:
                return align_up(rows * dim * sizeof(float));
            case 2:
            case 3:
                return align_up(rows * sizeof(float));
            case 4:
                return align_up(rows * kTileColumns * sizeof(float));
            default:
                return align_up(kTileColumns * dim * sizeof(float));
        }
    }
    static uint64_t bytes(const Geometry& g) {
        uint64_t total = 0;
        for (int part = 0; part < 6; ++part) total += part_bytes(g, part);
        return total;
    }
};

// The cache columns [begin, end) a query at `position` sees.
struct ColumnRange {
    int64_t begin, end;
};

ColumnRange visible_columns(const OpParams& params, int64_t position, int64_t n_kv) {
    ColumnRange range{0, n_kv};
    if (params.causal) range.end = std::min(range.end, position + 1);
    if (params.window > 0) range.begin = std::max<int64_t>(0, position - params.window + 1);
    return range;
}

}  // namespace

ScratchSize flash_attn_scratch(const CompiledNode& node) {
    return {0, TaskScratch::bytes(geometry_of(node))};
}

void check_flash_attn_step(const CompiledNode& node, const StepValues& step) {
    const int64_t n_ctx = node.src[1].n_rows();
    if (step.n_kv < 0 || step.n_kv > n_ctx) {
        throw Error(node.label + ": step.n_kv is " + std::to_string(step.n_kv) +
                    " but the cache has " + std::to_string(n_ctx) + " columns");
    }
    if (step.position < 0) {
        throw Error(node.label + ": step.position is negative (" + std::to_string(step.position) +
                    ")");
    }
    const TensorRef& mask = node.src[3];
    if (mask.data != nullptr && mask.shape[0] < step.n_kv) {
        throw Error(node.label + ": the mask has " + std::to_string(mask.shape[0]) +
                    " columns but step.n_kv is " + std::to_string(step.n_kv));
    }
}

void run_flash_attn(const CompiledNode& node, const OpContext& context) {
    const Geometry g = geometry_of(node);
    const TensorRef& q = node.src[0];
    const TensorRef& k_cache = node.src[1];
    const TensorRef& v_cache = node.src[2];
    const TensorRef& mask = node.src[3];
    const DotKernel& kernel = *node.dot;
    const AttentionKernels& vector = *node.attention;
    const auto decode_v =
        v_cache.type == quant::TensorType::F16 ? vector.decode_f16 : vector.decode_q8_0;
    const OpParams& params = node.params;
    const StepValues step = context.step;

    const uint64_t k_head_bytes = k_cache.row_bytes / static_cast<uint64_t>(g.n_kv_heads);
    const uint64_t v_head_bytes = v_cache.row_bytes / static_cast<uint64_t>(g.n_kv_heads);
    const bool softcapped = params.softcap > 0.0f;
    // Softcapping folds the scale into tanh's argument, as ggml does.
    const float score_scale = softcapped ? params.scale / params.softcap : params.scale;
    const int64_t subgroups = g.group_size / g.heads_per_task;
    const float negative_infinity = -std::numeric_limits<float>::infinity();

    const int64_t n_tasks = g.token_blocks * g.n_kv_heads * subgroups;
    context.pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
        const int64_t token_begin = (task / (g.n_kv_heads * subgroups)) * g.tokens_per_task;
        const int64_t token_end = std::min(g.n_tokens, token_begin + g.tokens_per_task);
        const int64_t kv_head = (task / subgroups) % g.n_kv_heads;
        const int64_t first_head = kv_head * g.group_size + (task % subgroups) * g.heads_per_task;
        const int64_t n_rows = (token_end - token_begin) * g.heads_per_task;
        TaskScratch scratch(context.scratch_of_thread(thread), g);

        // Row r is token token_begin + r / heads_per_task, head first_head + r % heads_per_task.
        ColumnRange all{step.n_kv, 0};
        for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t token = token_begin + r / g.heads_per_task;
            const int64_t head = first_head + r % g.heads_per_task;
            kernel.convert_activations(q.f32() + (token * g.n_heads + head) * g.head_dim,
                                       scratch.queries + static_cast<uint64_t>(r) * g.query_bytes,
                                       g.head_dim);
            scratch.maxima[r] = negative_infinity;
            scratch.sums[r] = 0.0f;
            const ColumnRange seen = visible_columns(params, step.position + token, step.n_kv);
            if (seen.begin < seen.end) {
                all.begin = std::min(all.begin, seen.begin);
                all.end = std::max(all.end, seen.end);
            }
        }
        std::fill(scratch.accumulators, scratch.accumulators + n_rows * g.head_dim, 0.0f);

        for (int64_t tile = all.begin; tile < all.end; tile += kTileColumns) {
            const int64_t n_columns = std::min(kTileColumns, all.end - tile);
            kernel.dot_tile(g.head_dim,
                            k_cache.row(tile) + static_cast<uint64_t>(kv_head) * k_head_bytes,
                            k_cache.row_bytes, n_columns, scratch.queries, g.query_bytes, n_rows,
                            scratch.scores, kTileColumns);
            for (int64_t c = 0; c < n_columns; ++c) {
                decode_v(v_cache.row(tile + c) + static_cast<uint64_t>(kv_head) * v_head_bytes,
                         scratch.values + c * g.head_dim, g.head_dim);
            }
            for (int64_t r = 0; r < n_rows; ++r) {
                const int64_t token = token_begin + r / g.heads_per_task;
                const ColumnRange seen = visible_columns(params, step.position + token, step.n_kv);
                // This row's columns within the tile.
                const int64_t begin = std::max<int64_t>(0, seen.begin - tile);
                const int64_t end = std::min(n_columns, seen.end - tile);
                if (begin >= end) continue;

                float* scores = scratch.scores + r * kTileColumns;
                const float* mask_row =
                    mask.data != nullptr ? mask.f32() + token * mask.shape[0] + tile : nullptr;
                float tile_max = negative_infinity;
                for (int64_t c = begin; c < end; ++c) {
                    float s = scores[c] * score_scale;
                    if (softcapped) s = params.softcap * std::tanh(s);
                    if (mask_row != nullptr) s += mask_row[c];
                    scores[c] = s;
                    tile_max = std::max(tile_max, s);
                }
                const float old_max = scratch.maxima[r];
                const float new_max = std::max(old_max, tile_max);
                if (new_max == negative_infinity) continue;  // everything so far is masked

                float tile_sum = 0.0f;
                for (int64_t c = begin; c < end; ++c) {
                    scores[c] = std::exp(scores[c] - new_max);
                    tile_sum += scores[c];
                }
                float* accumulator = scratch.accumulators + r * g.head_dim;
                if (new_max > old_max) {
                    const float correction = std::exp(old_max - new_max);  // 0 on the first tile
                    for (int64_t d = 0; d < g.head_dim; ++d) accumulator[d] *= correction;
                    scratch.sums[r] *= correction;
                }
                scratch.sums[r] += tile_sum;
                scratch.maxima[r] = new_max;
                vector.accumulate(accumulator, scores + begin, scratch.values + begin * g.head_dim,
                                  end - begin, g.head_dim);
            }
        }

        for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t token = token_begin + r / g.heads_per_task;
            const int64_t head = first_head + r % g.heads_per_task;
            float* out = node.dst.f32() + (token * g.n_heads + head) * g.head_dim;
            const float* accumulator = scratch.accumulators + r * g.head_dim;
            // A query that sees no column at all (n_kv = 0, or a mask of -inf) gets zeros.
            const float inverse_sum = scratch.sums[r] > 0.0f ? 1.0f / scratch.sums[r] : 0.0f;
            for (int64_t d = 0; d < g.head_dim; ++d) out[d] = accumulator[d] * inverse_sum;
        }
    });
}

}  // namespace tessera::backend::cpu

// FLASH_ATTN: one workgroup per query row (a token and a head), over the visible cache columns
// in tiles of WORKGROUP_SIZE with an online softmax: each thread scores one column of the tile
// (the tile's scores then live in shared memory), the tile's maximum and sum come from
// workgroup trees, and each thread accumulates DIMS_PER_THREAD (constant 1) dimensions of the
// output, rescaling them when a tile raises the maximum.
//
// As on the CPU (and in ggml), the query is first converted to the K cache's type: rounded to
// half for K_F16, quantized to Q8_0 for K_Q8_0 (then each score is the blocks' exact integer
// dots times the two scales). Scores are scaled, softcapped (softcap * tanh, the scale folded
// into tanh's argument by the host), then the mask is added. Query head h reads KV head
// h / group; query token j sits at position step.position + j, sees columns up to it when
// causal and only the last `window` positions when window > 0. A row that sees no column gives
// zeros. V_F16 or V_Q8_0 selects the V cache's type.
#version 450
#include "common.glsl"
#include "numerics.glsl"
#include "reduce.glsl"

layout(constant_id = 1) const uint DIMS_PER_THREAD = 1;
const uint MAX_HEAD_DIM = 512;

layout(push_constant, std430) uniform Parameters {
    uvec2 q;
    uvec2 k;
    uint k_offset;  // bytes past the K cache's word address
    uvec2 v;
    uint v_offset;
    uvec2 mask;  // zero: none
    uvec2 dst;
    uvec2 step;
    uint head_dim;
    uint n_heads;
    uint n_rows;  // heads times tokens
    uint group;   // query heads per KV head
    uint k_row_bytes;
    uint v_row_bytes;
    uint mask_length;  // the mask's row length
    uint causal;
    uint window;
    float score_scale;
    float softcap;  // 0: none
} p;

#if defined(K_F16)
shared float query[MAX_HEAD_DIM];  // rounded to half
#elif defined(K_Q8_0)
shared uint query_quants[MAX_HEAD_DIM / 4];  // four per word
shared float query_scales[MAX_HEAD_DIM / 32];
#else
#error "flash_attn.comp needs K_F16 or K_Q8_0"
#endif
shared float tile_weights[WORKGROUP_SIZE];

Words k_cache;
Words v_cache;

float score_of(uint column, uint kv_head) {
#if defined(K_F16)
    const uint start = p.k_offset + column * p.k_row_bytes + kv_head * p.head_dim * 2u;
    float sum = 0.0;
    uint d = 0;
    for (; d + 1u < p.head_dim; d += 2u) {
        const uint pair = u32_at(k_cache, start + 2u * d);
        sum += query[d] * half_to_float(pair & 0xffffu);
        sum += query[d + 1u] * half_to_float(pair >> 16);
    }
    if (d < p.head_dim) sum += query[d] * half_to_float(u16_at(k_cache, start + 2u * d));
    return sum;
#else
    const uint n_blocks = p.head_dim / 32u;
    const uint start = p.k_offset + column * p.k_row_bytes + kv_head * n_blocks * 34u;
    float sum = 0.0;
    for (uint b = 0; b < n_blocks; ++b) {
        const uint block = start + b * 34u;
        int isum = 0;
        for (uint w = 0; w < 8u; ++w) {
            isum += dot4_signed_signed(u32_at(k_cache, block + 2u + 4u * w), query_quants[b * 8u + w]);
        }
        sum += half_to_float(u16_at(k_cache, block)) * query_scales[b] * float(isum);
    }
    return sum;
#endif
}

float value_of(uint column, uint kv_head, uint d) {
#if defined(V_F16)
    return half_to_float(u16_at(v_cache, p.v_offset + column * p.v_row_bytes + (kv_head * p.head_dim + d) * 2u));
#else
    const uint block = p.v_offset + column * p.v_row_bytes + (kv_head * (p.head_dim / 32u) + d / 32u) * 34u;
    return half_to_float(u16_at(v_cache, block)) * float(bitfieldExtract(int(byte_at(v_cache, block + 2u + d % 32u)), 0, 8));
#endif
}

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    k_cache = Words(p.k);
    v_cache = Words(p.v);
    const uint t = gl_LocalInvocationID.x;
    const uint token = row / p.n_heads;
    const uint head = row % p.n_heads;
    const uint kv_head = head / p.group;
    const uint q_first = row * p.head_dim;
    Floats q = Floats(p.q);

#if defined(K_F16)
    for (uint d = t; d < p.head_dim; d += WORKGROUP_SIZE) query[d] = round_to_half(q.value[q_first + d]);
#else
    for (uint b = t; b < p.head_dim / 32u; b += WORKGROUP_SIZE) {
        const uint first = q_first + b * 32u;
        float amax = 0.0;
        for (uint i = 0; i < 32u; ++i) {
            const float a = abs(q.value[first + i]);
            amax = amax > a ? amax : a;
        }
        const float d = divide_rn(amax, 127.0);
        const float inverse = d != 0.0 ? divide_rn(1.0, d) : 0.0;
        for (uint w = 0; w < 8u; ++w) {
            uint packed = 0u;
            for (uint i = 0; i < 4u; ++i) {
                const int level = to_int8_like_x86(round_half_away(q.value[first + 4u * w + i] * inverse));
                packed |= (uint(level) & 0xffu) << (8u * i);
            }
            query_quants[b * 8u + w] = packed;
        }
        query_scales[b] = round_to_half(d);
    }
#endif
    barrier();

    StepValues step = StepValues(p.step);
    const int position = step.position + int(token);
    const int n_kv = step.n_kv;
    const int begin = p.window > 0u ? max(0, position - int(p.window) + 1) : 0;
    const int end = p.causal != 0u ? min(n_kv, position + 1) : n_kv;
    const bool masked = p.mask.x != 0u || p.mask.y != 0u;
    const float negative_infinity = uintBitsToFloat(0xff800000u);

    float accumulators[DIMS_PER_THREAD];
    for (uint j = 0; j < DIMS_PER_THREAD; ++j) accumulators[j] = 0.0;
    float running_max = negative_infinity;
    float running_sum = 0.0;
    for (int tile = begin; tile < end; tile += int(WORKGROUP_SIZE)) {
        const int column = tile + int(t);
        float score = negative_infinity;
        if (column < end) {
            score = score_of(uint(column), kv_head) * p.score_scale;
            if (p.softcap > 0.0) score = p.softcap * tanh_accurate(score);
            if (masked) score += Floats(p.mask).value[token * p.mask_length + uint(column)];
        }
        const float new_max = max(running_max, workgroup_max(score));
        if (new_max == negative_infinity) continue;  // everything so far is masked
        const float weight = column < end ? exp_accurate(score - new_max) : 0.0;
        tile_weights[t] = weight;
        const float tile_sum = workgroup_sum(weight);  // its barriers publish tile_weights
        if (new_max > running_max) {
            const float correction = exp_accurate(running_max - new_max);  // 0 on the first tile
            for (uint j = 0; j < DIMS_PER_THREAD; ++j) accumulators[j] *= correction;
            running_sum *= correction;
        }
        running_sum += tile_sum;
        running_max = new_max;
        const uint n_columns = uint(min(int(WORKGROUP_SIZE), end - tile));
        for (uint j = 0; j < DIMS_PER_THREAD; ++j) {
            const uint d = t + j * WORKGROUP_SIZE;
            if (d >= p.head_dim) continue;
            float sum = accumulators[j];
            for (uint c = 0; c < n_columns; ++c) {
                sum += tile_weights[c] * value_of(uint(tile) + c, kv_head, d);
            }
            accumulators[j] = sum;
        }
        barrier();  // before the next tile overwrites tile_weights
    }

    const float inverse_sum = running_sum > 0.0 ? 1.0 / running_sum : 0.0;
    Floats dst = Floats(p.dst);
    for (uint j = 0; j < DIMS_PER_THREAD; ++j) {
        const uint d = t + j * WORKGROUP_SIZE;
        if (d < p.head_dim) dst.value[q_first + d] = accumulators[j] * inverse_sum;
    }
}

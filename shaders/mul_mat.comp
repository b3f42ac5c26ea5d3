// MUL_MAT: dst[n, m] = weights[k, n] (a type with a codec, one TYPE_* define) times the
// activations, already converted by quantize.comp to the weights' partner type (Q8_0, Q8_1,
// Q8_K, or floats for F32, F16 and BF16 weights).
//
// Each thread computes a tile of ROWS weight rows (constant 3) by COLUMNS activation columns
// (constant 2): a weight block, once decoded, meets every column, and an activation block, once
// loaded, meets every row, so that the loads per product fall with the tile (devices that
// fetch memory lane by lane, like lavapipe, gain the most). THREADS_PER_ROW threads (constant
// 1; 1 on a CPU device) share a tile's rows and take their blocks in turn, adding their partial
// sums in a fixed tree. Per block the dot product is the CPU's: the exact integer dot of the
// levels and the activation quants, then the block scales, in the same float operations; only
// the order in which the blocks' results are added differs.
#version 450
#include "common.glsl"
#include "numerics.glsl"
#include "quant.glsl"

layout(constant_id = 1) const uint THREADS_PER_ROW = 1;
layout(constant_id = 2) const uint COLUMNS = 1;
layout(constant_id = 3) const uint ROWS = 1;
const uint TILE = ROWS * COLUMNS;

layout(push_constant, std430) uniform Parameters {
    uvec2 weights;
    uint weights_offset;  // bytes past the weights' word address
    uvec2 activations;
    uvec2 dst;
    uint k;
    uint n;
    uint m;
    uint row_bytes;
    uint column_words;  // words from one converted activation column to the next
    uint row_groups;    // workgroups along the rows
    uint column_groups;
} p;

Words weights;
Words activations;
uint first_row;     // the thread's tile: rows first_row ..., n_rows of them
uint n_rows;
uint first_column;  // and columns first_column ..., n_columns of them
uint n_columns;
float sums[TILE];   // row r, column c at r * COLUMNS + c
shared float partial[WORKGROUP_SIZE * TILE];

uint block_start(uint r, uint index) {
    return p.weights_offset + (first_row + r) * p.row_bytes + index * BLOCK_BYTES;
}

uint column_base(uint c) {
    return (first_column + c) * p.column_words;
}

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)

// Float weights: one element per block, products and sums in float.
void accumulate_block(uint element) {
    float w[ROWS];
    for (uint r = 0; r < n_rows; ++r) w[r] = dequantize(weights, block_start(r, element), 0u);
    for (uint c = 0; c < n_columns; ++c) {
        const float x = uintBitsToFloat(activations.word[column_base(c) + element]);
        for (uint r = 0; r < n_rows; ++r) sums[r * COLUMNS + c] += w[r] * x;
    }
}

#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1) || \
    defined(TYPE_Q8_0)

// The fifth bits of four consecutive elements (the low 4 bits of `bits`) moved to bit 4 of
// their bytes.
uint spread_fifth_bits(uint bits) {
    return ((bits & 1u) << 4) | ((bits & 2u) << 11) | ((bits & 4u) << 18) | ((bits & 8u) << 25);
}

// 32-element blocks against Q8_0 (Q8_1) blocks of activations: 10 words each, the scale, the
// quants' sum (Q8_1: s), then the quants.
void accumulate_block(uint index) {
    float d[ROWS];
    float m[ROWS];
    uint levels[ROWS * 8];  // row r's element 4i + b in byte b of levels[r * 8 + i]
    for (uint r = 0; r < n_rows; ++r) {
        const uint block = block_start(r, index);
        d[r] = half_to_float(u16_at(weights, block));
        m[r] = 0.0;
#if defined(TYPE_Q4_0)
        for (uint i = 0; i < 4u; ++i) {
            const uint q = u32_at(weights, block + 2u + 4u * i);
            levels[r * 8u + i] = q & 0x0f0f0f0fu;
            levels[r * 8u + 4u + i] = (q >> 4) & 0x0f0f0f0fu;
        }
#elif defined(TYPE_Q5_0)
        const uint high = u32_at(weights, block + 2u);
        for (uint i = 0; i < 4u; ++i) {
            const uint q = u32_at(weights, block + 6u + 4u * i);
            levels[r * 8u + i] = (q & 0x0f0f0f0fu) | spread_fifth_bits(high >> (4u * i));
            levels[r * 8u + 4u + i] =
                ((q >> 4) & 0x0f0f0f0fu) | spread_fifth_bits(high >> (16u + 4u * i));
        }
#elif defined(TYPE_Q4_1)
        m[r] = half_to_float(u16_at(weights, block + 2u));
        for (uint i = 0; i < 4u; ++i) {
            const uint q = u32_at(weights, block + 4u + 4u * i);
            levels[r * 8u + i] = q & 0x0f0f0f0fu;
            levels[r * 8u + 4u + i] = (q >> 4) & 0x0f0f0f0fu;
        }
#elif defined(TYPE_Q5_1)
        m[r] = half_to_float(u16_at(weights, block + 2u));
        const uint high = u32_at(weights, block + 4u);
        for (uint i = 0; i < 4u; ++i) {
            const uint q = u32_at(weights, block + 8u + 4u * i);
            levels[r * 8u + i] = (q & 0x0f0f0f0fu) | spread_fifth_bits(high >> (4u * i));
            levels[r * 8u + 4u + i] =
                ((q >> 4) & 0x0f0f0f0fu) | spread_fifth_bits(high >> (16u + 4u * i));
        }
#elif defined(TYPE_Q8_0)
        for (uint i = 0; i < 8u; ++i) levels[r * 8u + i] = u32_at(weights, block + 2u + 4u * i);
#endif
    }
    for (uint c = 0; c < n_columns; ++c) {
        const uint a = column_base(c) + index * 10u;
        uint quants[8];
        for (uint i = 0; i < 8u; ++i) quants[i] = activations.word[a + 2u + i];
        const float da = uintBitsToFloat(activations.word[a]);
        const uint extra = activations.word[a + 1u];  // Q8_0: the quants' sum; Q8_1: s
        for (uint r = 0; r < n_rows; ++r) {
            int isum = 0;
            for (uint i = 0; i < 8u; ++i) {
#if defined(TYPE_Q8_0)
                isum += dot4_signed_signed(levels[r * 8u + i], quants[i]);
#else
                isum += dot4_unsigned_signed(levels[r * 8u + i], quants[i]);
#endif
            }
#if defined(TYPE_Q4_0)
            isum -= 8 * int(extra);
#elif defined(TYPE_Q5_0)
            isum -= 16 * int(extra);
#endif
            precise float scaled = d[r] * da * float(isum);
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
            precise float with_min = scaled + m[r] * uintBitsToFloat(extra);
            sums[r * COLUMNS + c] += with_min;
#else
            sums[r * COLUMNS + c] += scaled;
#endif
        }
    }
}

#else  // the K-quants against Q8_K super-blocks: the scale, 64 words of quants, 16 group sums

int isums[TILE];
int msums[TILE];

void accumulate_block(uint index) {
    for (uint t = 0; t < TILE; ++t) {
        isums[t] = 0;
        msums[t] = 0;
    }
    float d[ROWS];
    float dmin[ROWS];
    for (uint r = 0; r < n_rows; ++r) {
        const uint block = block_start(r, index);
        dmin[r] = 0.0;
#if defined(TYPE_Q2_K)
        d[r] = half_to_float(u16_at(weights, block + 80u));
        dmin[r] = half_to_float(u16_at(weights, block + 82u));
#elif defined(TYPE_Q3_K)
        d[r] = half_to_float(u16_at(weights, block + 108u));
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
        d[r] = half_to_float(u16_at(weights, block));
        dmin[r] = half_to_float(u16_at(weights, block + 2u));
#elif defined(TYPE_Q6_K)
        d[r] = half_to_float(u16_at(weights, block + 208u));
#elif defined(TYPE_Q8_K)
        d[r] = uintBitsToFloat(u32_at(weights, block));
#endif
    }
#if defined(TYPE_Q3_K)
    const int zero = 4;
#elif defined(TYPE_Q6_K)
    const int zero = 32;
#else
    const int zero = 0;
#endif
    for (uint group = 0; group < 16u; ++group) {
        // Each row's 16 levels of the group (unsigned, but Q8_K's signed), four per word,
        // with the group's scale and minimum.
        const uint first = 16u * group;
        uint levels[ROWS * 4];
        int scale[ROWS];
        int minimum[ROWS];
        for (uint r = 0; r < n_rows; ++r) {
            const uint block = block_start(r, index);
            scale[r] = 1;
            minimum[r] = 0;
#if defined(TYPE_Q2_K)
            const uint shift = 2u * ((first % 128u) / 32u);
            for (uint i = 0; i < 4u; ++i) {
                levels[r * 4u + i] = (u32_at(weights, block + 16u + (first / 128u) * 32u +
                                                          first % 32u + 4u * i) >> shift) &
                                     0x03030303u;
            }
            const uint packed = byte_at(weights, block + group);
            scale[r] = int(packed & 0xfu);
            minimum[r] = int(packed >> 4);
#elif defined(TYPE_Q3_K)
            const uint shift = 2u * ((first % 128u) / 32u);
            for (uint i = 0; i < 4u; ++i) {
                const uint low = (u32_at(weights, block + 32u + (first / 128u) * 32u +
                                                      first % 32u + 4u * i) >> shift) &
                                 0x03030303u;
                const uint high =
                    (u32_at(weights, block + first % 32u + 4u * i) >> (first / 32u)) & 0x01010101u;
                levels[r * 4u + i] = low | (high << 2);
            }
            scale[r] = q3_k_scale(weights, block + 96u, group);
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
            const uint group32 = group / 2u;
            uint group_scale, group_min;
            k4_scale_min(weights, block + 4u, group32, group_scale, group_min);
            scale[r] = int(group_scale);
            minimum[r] = int(group_min);
            for (uint i = 0; i < 4u; ++i) {
#if defined(TYPE_Q4_K)
                levels[r * 4u + i] = (u32_at(weights, block + 16u + group32 / 2u * 32u +
                                                          first % 32u + 4u * i) >> (4u * (group32 % 2u))) &
                                     0x0f0f0f0fu;
#else
                const uint low = (u32_at(weights, block + 48u + group32 / 2u * 32u + first % 32u +
                                                      4u * i) >> (4u * (group32 % 2u))) &
                                 0x0f0f0f0fu;
                const uint high =
                    (u32_at(weights, block + 16u + first % 32u + 4u * i) >> group32) & 0x01010101u;
                levels[r * 4u + i] = low | (high << 4);
#endif
            }
#elif defined(TYPE_Q6_K)
            const uint base = (first / 128u) * 128u;
            const uint part = (first % 128u) / 32u;
            const uint l = first % 32u;
            for (uint i = 0; i < 4u; ++i) {
                const uint low = (u32_at(weights, block + base / 2u + l + 32u * (part % 2u) + 4u * i) >>
                                  (4u * (part / 2u))) &
                                 0x0f0f0f0fu;
                const uint high =
                    (u32_at(weights, block + 128u + base / 4u + l + 4u * i) >> (2u * part)) &
                    0x03030303u;
                levels[r * 4u + i] = low | (high << 4);
            }
            scale[r] = signed_byte_at(weights, block + 192u + group);
#elif defined(TYPE_Q8_K)
            for (uint i = 0; i < 4u; ++i) levels[r * 4u + i] = u32_at(weights, block + 4u + first + 4u * i);
#endif
        }
        for (uint c = 0; c < n_columns; ++c) {
            const uint a = column_base(c) + index * 81u;
            uint quants[4];
            for (uint i = 0; i < 4u; ++i) quants[i] = activations.word[a + 1u + 4u * group + i];
            const int group_sum = int(activations.word[a + 65u + group]);
            for (uint r = 0; r < n_rows; ++r) {
                int dot = 0;
                for (uint i = 0; i < 4u; ++i) {
#if defined(TYPE_Q8_K)
                    dot += dot4_signed_signed(levels[r * 4u + i], quants[i]);
#else
                    dot += dot4_unsigned_signed(levels[r * 4u + i], quants[i]);
#endif
                }
                isums[r * COLUMNS + c] += scale[r] * (dot - zero * group_sum);
                msums[r * COLUMNS + c] += minimum[r] * group_sum;
            }
        }
    }
    for (uint c = 0; c < n_columns; ++c) {
        const float da = uintBitsToFloat(activations.word[column_base(c) + index * 81u]);
        for (uint r = 0; r < n_rows; ++r) {
            const uint t = r * COLUMNS + c;
#if defined(TYPE_Q2_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
            precise float scaled =
                (da * d[r]) * float(isums[t]) - (da * dmin[r]) * float(msums[t]);
#elif defined(TYPE_Q8_K)
            precise float scaled = (d[r] * da) * float(isums[t]);
#else
            precise float scaled = (da * d[r]) * float(isums[t]);
#endif
            sums[t] += scaled;
        }
    }
}

#endif

void main() {
    const uint group = group_number();
    if (group >= p.row_groups * p.column_groups) return;
    weights = Words(p.weights);
    activations = Words(p.activations);
    const uint rows_per_group = WORKGROUP_SIZE / THREADS_PER_ROW * ROWS;
    const uint lane = gl_LocalInvocationID.x % THREADS_PER_ROW;
    first_row = (group % p.row_groups) * rows_per_group +
                gl_LocalInvocationID.x / THREADS_PER_ROW * ROWS;
    n_rows = first_row < p.n ? min(ROWS, p.n - first_row) : 0u;
    first_column = (group / p.row_groups) * COLUMNS;
    n_columns = min(COLUMNS, p.m - first_column);

    for (uint t = 0; t < TILE; ++t) sums[t] = 0.0;
    if (n_rows > 0u) {
        const uint n_blocks = p.k / BLOCK_ELEMENTS;
        for (uint b = lane; b < n_blocks; b += THREADS_PER_ROW) accumulate_block(b);
    }
    if (THREADS_PER_ROW > 1u) {
        // The lanes' partial sums added in a fixed tree, so that every run gives the same bits.
        const uint own = gl_LocalInvocationID.x * TILE;
        for (uint t = 0; t < TILE; ++t) partial[own + t] = sums[t];
        for (uint stride = THREADS_PER_ROW / 2u; stride > 0u; stride /= 2u) {
            barrier();
            if (lane < stride) {
                for (uint t = 0; t < TILE; ++t) partial[own + t] += partial[own + stride * TILE + t];
            }
        }
        barrier();
        for (uint t = 0; t < TILE; ++t) sums[t] = partial[own + t];
    }
    if (lane == 0u) {
        Floats dst = Floats(p.dst);
        for (uint r = 0; r < n_rows; ++r) {
            for (uint c = 0; c < n_columns; ++c) {
                dst.value[(first_column + c) * p.n + first_row + r] = sums[r * COLUMNS + c];
            }
        }
    }
}

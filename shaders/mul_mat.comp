// MUL_MAT: dst[n, m] = weights[k, n] (a type with a codec, one TYPE_* define) times the
// activations, already converted by quantize.comp to the weights' partner type (Q8_0, Q8_1,
// Q8_K, or floats for F32, F16 and BF16 weights).
//
// Each thread computes a tile of ROWS weight rows by COLUMNS activation columns (specialization
// constants 3 and 2): a weight block, once decoded, meets every column, and an activation block,
// once loaded, meets every row, so that the loads per product fall with the tile (devices that
// fetch memory lane by lane, like lavapipe, gain the most). THREADS_PER_ROW threads (constant
// 1; 1 on a CPU device) share a tile's rows and take their blocks in turn, adding their partial
// sums in a fixed tree. Per block the dot product is the CPU's: the exact integer dot of the
// levels and the activation quants, then the block scales, in the same float operations; only
// the order in which the blocks' results are added differs.
//
// WIDE_LOADS (the "_wide" variants, for devices with shaderInt64) reads weights and converted
// activations 8 bytes at a time; the results are the same bits.
#version 450
#if defined(WIDE_LOADS)
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif
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
uint first_row;     // the thread's tile: rows first_row ..., ROWS of them
uint first_column;  // and columns first_column ..., COLUMNS of them
float sums[TILE];   // row r, column c at r * COLUMNS + c
shared float partial[WORKGROUP_SIZE * TILE];

// A tile past the last row or column reads the last one again and stores nothing for it, so that
// every loop over a tile runs a constant ROWS or COLUMNS times: the compiler unrolls them and
// keeps the tile's arrays in registers (a loop of variable length leaves them in memory, where
// lavapipe reads and writes them lane by lane).
uint block_start(uint r, uint index) {
    return p.weights_offset + min(first_row + r, p.n - 1u) * p.row_bytes + index * BLOCK_BYTES;
}

uint column_base(uint c) {
    return min(first_column + c, p.m - 1u) * p.column_words;
}

#if defined(WIDE_LOADS)

// The variant for devices with 64-bit integers (shaderInt64): memory is read 8 bytes at a time,
// half the reads of the 32-bit variant.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Doublewords {
    uint64_t word[];
};

// Words `index` and `index` + 1 of the converted activations; `index` is even (their blocks
// are an even number of words, and their scratch space is 8-byte aligned).
uvec2 activation_pair(uint index) {
    return unpackUint2x32(Doublewords(packUint2x32(p.activations)).word[index / 2u]);
}

#else

uvec2 activation_pair(uint index) {
    return uvec2(activations.word[index], activations.word[index + 1u]);
}

#endif

#if defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1) || \
    defined(TYPE_Q8_0)

// The tile's current weight blocks, each read from memory once as whole words and kept aligned
// in registers: block r's byte b is byte b % 4 of cached[r * BLOCK_WORDS + b / 4]. Cutting the
// fields out of memory one by one would read most words twice (the blocks are not word
// aligned), and every read from memory is costly on a device that fetches it lane by lane.
// (The K-quants' blocks are too large for this: indexed by group, the copy would compile into
// very large shaders. They read their fields from memory, through the same functions.)
const uint BLOCK_WORDS = (BLOCK_BYTES + 3u) / 4u;
uint cached[ROWS * BLOCK_WORDS];

#if defined(WIDE_LOADS)

void cache_blocks(uint index) {
    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        const uint64_t address = packUint2x32(p.weights) + uint64_t(block_start(r, index));
        const uint shift = uint(address & 7ul) * 8u;
        Doublewords memory = Doublewords(address & ~uint64_t(7));
        uint64_t next = memory.word[0];
        [[unroll]] for (uint i = 0; i < (BLOCK_WORDS + 1u) / 2u; ++i) {
            const uint64_t doubleword = next;
            next = memory.word[i + 1u];
            // Two shifts, so that shift 0 moves `next` out entirely.
            const uint64_t aligned = (doubleword >> shift) | ((next << (63u - shift)) << 1u);
            cached[r * BLOCK_WORDS + 2u * i] = uint(aligned);
            if (2u * i + 1u < BLOCK_WORDS) {
                cached[r * BLOCK_WORDS + 2u * i + 1u] = uint(aligned >> 32);
            }
        }
    }
}

#else

void cache_blocks(uint index) {
    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        const uint start = block_start(r, index);
        const uint first = start >> 2;
        const uint shift = (start & 3u) * 8u;
        uint next = weights.word[first];
        [[unroll]] for (uint i = 0; i < BLOCK_WORDS; ++i) {
            const uint word = next;
            next = weights.word[first + i + 1u];
            // Two shifts, so that shift 0 moves `next` out entirely.
            cached[r * BLOCK_WORDS + i] = (word >> shift) | ((next << (31u - shift)) << 1u);
        }
    }
}

#endif

uint cached_byte(uint r, uint offset) {
    return (cached[r * BLOCK_WORDS + offset / 4u] >> ((offset % 4u) * 8u)) & 0xffu;
}

// A 16-bit field at an even offset.
uint cached_u16(uint r, uint offset) {
    return (cached[r * BLOCK_WORDS + offset / 4u] >> ((offset % 4u) * 8u)) & 0xffffu;
}

uint cached_u32(uint r, uint offset) {
    const uint shift = (offset % 4u) * 8u;
    const uint low = cached[r * BLOCK_WORDS + offset / 4u];
    const uint high = cached[r * BLOCK_WORDS + min(offset / 4u + 1u, BLOCK_WORDS - 1u)];
    return (low >> shift) | ((high << (31u - shift)) << 1u);
}

#elif !defined(TYPE_F32) && !defined(TYPE_F16) && !defined(TYPE_BF16)

uint block_starts[ROWS];  // the tile's current blocks, by row

void cache_blocks(uint index) {
    [[unroll]] for (uint r = 0; r < ROWS; ++r) block_starts[r] = block_start(r, index);
}

// The 16 bytes at `offset` in row r's block, as four words: a group's levels, or a block's
// scales. (Reading past a block's end stays inside the allocation's guard bytes.)
#if defined(WIDE_LOADS)
uvec4 cached_16_bytes(uint r, uint offset) {
    const uint64_t address = packUint2x32(p.weights) + uint64_t(block_starts[r] + offset);
    const uint shift = uint(address & 7ul) * 8u;
    Doublewords memory = Doublewords(address & ~uint64_t(7));
    const uint64_t first = memory.word[0];
    const uint64_t second = memory.word[1];
    const uint64_t third = memory.word[2];
    // Two shifts, so that shift 0 moves the next doubleword out entirely.
    const uint64_t low = (first >> shift) | ((second << (63u - shift)) << 1u);
    const uint64_t high = (second >> shift) | ((third << (63u - shift)) << 1u);
    return uvec4(unpackUint2x32(low), unpackUint2x32(high));
}
#else
uvec4 cached_16_bytes(uint r, uint offset) {
    const uint start = block_starts[r] + offset;
    const uint first = start >> 2;
    const uint shift = (start & 3u) * 8u;
    uint words[5];
    for (uint i = 0; i < 5u; ++i) words[i] = weights.word[first + i];
    uvec4 aligned;
    for (uint i = 0; i < 4u; ++i) {
        aligned[i] = (words[i] >> shift) | ((words[i + 1u] << (31u - shift)) << 1u);
    }
    return aligned;
}
#endif

uint cached_u16(uint r, uint offset) {
    return u16_at(weights, block_starts[r] + offset);
}

uint cached_u32(uint r, uint offset) {
    return u32_at(weights, block_starts[r] + offset);
}

// Byte j of a block's scales, read once per block into four words.
uint scale_byte(uvec4 scales, uint j) {
    return (scales[j / 4u] >> ((j % 4u) * 8u)) & 0xffu;
}

// Q3_K's 16 6-bit scales in 12 bytes, stored offset by 32 (as quant.glsl's q3_k_scale).
int q3_k_group_scale(uvec4 scales, uint j) {
    const uint low = j < 8u ? scale_byte(scales, j) & 0xfu : scale_byte(scales, j - 8u) >> 4;
    const uint high = (scale_byte(scales, 8u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return int(low | (high << 4)) - 32;
}

// Q4_K's and Q5_K's 6-bit scale and min of 32-element group j (as quant.glsl's k4_scale_min).
void k4_group_scale_min(uvec4 scales, uint j, out uint scale, out uint minimum) {
    if (j < 4u) {
        scale = scale_byte(scales, j) & 63u;
        minimum = scale_byte(scales, j + 4u) & 63u;
    } else {
        scale = (scale_byte(scales, j + 4u) & 0xfu) | ((scale_byte(scales, j - 4u) >> 6) << 4);
        minimum = (scale_byte(scales, j + 4u) >> 4) | ((scale_byte(scales, j) >> 6) << 4);
    }
}

#endif

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)

// Float weights: one element per block, products and sums in float.
void accumulate_block(uint element) {
    float w[ROWS];
    for (uint r = 0; r < ROWS; ++r) w[r] = dequantize(weights, block_start(r, element), 0u);
    for (uint c = 0; c < COLUMNS; ++c) {
        const float x = uintBitsToFloat(activations.word[column_base(c) + element]);
        for (uint r = 0; r < ROWS; ++r) sums[r * COLUMNS + c] += w[r] * x;
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
    cache_blocks(index);
    float d[ROWS];
    float m[ROWS];
    uint levels[ROWS * 8];  // row r's element 4i + b in byte b of levels[r * 8 + i]
    for (uint r = 0; r < ROWS; ++r) {
        d[r] = half_to_float(cached_u16(r, 0u));
        m[r] = 0.0;
#if defined(TYPE_Q4_0)
        for (uint i = 0; i < 4u; ++i) {
            const uint q = cached_u32(r, 2u + 4u * i);
            levels[r * 8u + i] = q & 0x0f0f0f0fu;
            levels[r * 8u + 4u + i] = (q >> 4) & 0x0f0f0f0fu;
        }
#elif defined(TYPE_Q5_0)
        const uint high = cached_u32(r, 2u);
        for (uint i = 0; i < 4u; ++i) {
            const uint q = cached_u32(r, 6u + 4u * i);
            levels[r * 8u + i] = (q & 0x0f0f0f0fu) | spread_fifth_bits(high >> (4u * i));
            levels[r * 8u + 4u + i] =
                ((q >> 4) & 0x0f0f0f0fu) | spread_fifth_bits(high >> (16u + 4u * i));
        }
#elif defined(TYPE_Q4_1)
        m[r] = half_to_float(cached_u16(r, 2u));
        for (uint i = 0; i < 4u; ++i) {
            const uint q = cached_u32(r, 4u + 4u * i);
            levels[r * 8u + i] = q & 0x0f0f0f0fu;
            levels[r * 8u + 4u + i] = (q >> 4) & 0x0f0f0f0fu;
        }
#elif defined(TYPE_Q5_1)
        m[r] = half_to_float(cached_u16(r, 2u));
        const uint high = cached_u32(r, 4u);
        for (uint i = 0; i < 4u; ++i) {
            const uint q = cached_u32(r, 8u + 4u * i);
            levels[r * 8u + i] = (q & 0x0f0f0f0fu) | spread_fifth_bits(high >> (4u * i));
            levels[r * 8u + 4u + i] =
                ((q >> 4) & 0x0f0f0f0fu) | spread_fifth_bits(high >> (16u + 4u * i));
        }
#elif defined(TYPE_Q8_0)
        for (uint i = 0; i < 8u; ++i) levels[r * 8u + i] = cached_u32(r, 2u + 4u * i);
#endif
    }
    for (uint c = 0; c < COLUMNS; ++c) {
        const uint a = column_base(c) + index * 10u;
        uint quants[8];
        for (uint i = 0; i < 4u; ++i) {
            const uvec2 pair = activation_pair(a + 2u + 2u * i);
            quants[2u * i] = pair.x;
            quants[2u * i + 1u] = pair.y;
        }
        const uvec2 head = activation_pair(a);
        const float da = uintBitsToFloat(head.x);
        const uint extra = head.y;  // Q8_0: the quants' sum; Q8_1: s
        for (uint r = 0; r < ROWS; ++r) {
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
    cache_blocks(index);
    for (uint t = 0; t < TILE; ++t) {
        isums[t] = 0;
        msums[t] = 0;
    }
    float d[ROWS];
    float dmin[ROWS];
    for (uint r = 0; r < ROWS; ++r) {
        dmin[r] = 0.0;
#if defined(TYPE_Q2_K)
        d[r] = half_to_float(cached_u16(r, 80u));
        dmin[r] = half_to_float(cached_u16(r, 82u));
#elif defined(TYPE_Q3_K)
        d[r] = half_to_float(cached_u16(r, 108u));
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
        d[r] = half_to_float(cached_u16(r, 0u));
        dmin[r] = half_to_float(cached_u16(r, 2u));
#elif defined(TYPE_Q6_K)
        d[r] = half_to_float(cached_u16(r, 208u));
#elif defined(TYPE_Q8_K)
        d[r] = uintBitsToFloat(cached_u32(r, 0u));
#endif
    }
#if defined(TYPE_Q3_K)
    const int zero = 4;
#elif defined(TYPE_Q6_K)
    const int zero = 32;
#else
    const int zero = 0;
#endif
#if defined(TYPE_Q2_K)
    const uint scales_offset = 0u;
#elif defined(TYPE_Q3_K)
    const uint scales_offset = 96u;
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    const uint scales_offset = 4u;
#elif defined(TYPE_Q6_K)
    const uint scales_offset = 192u;
#endif
#if !defined(TYPE_Q8_K)
    uvec4 scales[ROWS];
    for (uint r = 0; r < ROWS; ++r) scales[r] = cached_16_bytes(r, scales_offset);
#endif
    for (uint group = 0; group < 16u; ++group) {
        // Each row's 16 levels of the group (unsigned, but Q8_K's signed), four per word,
        // with the group's scale and minimum.
        const uint first = 16u * group;
        uint levels[ROWS * 4];
        int scale[ROWS];
        int minimum[ROWS];
        for (uint r = 0; r < ROWS; ++r) {
            scale[r] = 1;
            minimum[r] = 0;
#if defined(TYPE_Q2_K)
            const uint shift = 2u * ((first % 128u) / 32u);
            const uvec4 q = cached_16_bytes(r, 16u + (first / 128u) * 32u + first % 32u);
            for (uint i = 0; i < 4u; ++i) levels[r * 4u + i] = (q[i] >> shift) & 0x03030303u;
            const uint packed = scale_byte(scales[r], group);
            scale[r] = int(packed & 0xfu);
            minimum[r] = int(packed >> 4);
#elif defined(TYPE_Q3_K)
            const uint shift = 2u * ((first % 128u) / 32u);
            const uvec4 low = cached_16_bytes(r, 32u + (first / 128u) * 32u + first % 32u);
            const uvec4 high = cached_16_bytes(r, first % 32u);
            for (uint i = 0; i < 4u; ++i) {
                levels[r * 4u + i] = ((low[i] >> shift) & 0x03030303u) |
                                     (((high[i] >> (first / 32u)) & 0x01010101u) << 2);
            }
            scale[r] = q3_k_group_scale(scales[r], group);
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
            const uint group32 = group / 2u;
            uint group_scale, group_min;
            k4_group_scale_min(scales[r], group32, group_scale, group_min);
            scale[r] = int(group_scale);
            minimum[r] = int(group_min);
#if defined(TYPE_Q4_K)
            const uvec4 q = cached_16_bytes(r, 16u + group32 / 2u * 32u + first % 32u);
            for (uint i = 0; i < 4u; ++i) {
                levels[r * 4u + i] = (q[i] >> (4u * (group32 % 2u))) & 0x0f0f0f0fu;
            }
#else
            const uvec4 low = cached_16_bytes(r, 48u + group32 / 2u * 32u + first % 32u);
            const uvec4 high = cached_16_bytes(r, 16u + first % 32u);
            for (uint i = 0; i < 4u; ++i) {
                levels[r * 4u + i] = ((low[i] >> (4u * (group32 % 2u))) & 0x0f0f0f0fu) |
                                     (((high[i] >> group32) & 0x01010101u) << 4);
            }
#endif
#elif defined(TYPE_Q6_K)
            const uint base = (first / 128u) * 128u;
            const uint part = (first % 128u) / 32u;
            const uint l = first % 32u;
            const uvec4 low = cached_16_bytes(r, base / 2u + l + 32u * (part % 2u));
            const uvec4 high = cached_16_bytes(r, 128u + base / 4u + l);
            for (uint i = 0; i < 4u; ++i) {
                levels[r * 4u + i] = ((low[i] >> (4u * (part / 2u))) & 0x0f0f0f0fu) |
                                     (((high[i] >> (2u * part)) & 0x03030303u) << 4);
            }
            scale[r] = bitfieldExtract(int(scale_byte(scales[r], group)), 0, 8);
#elif defined(TYPE_Q8_K)
            const uvec4 q = cached_16_bytes(r, 4u + first);
            for (uint i = 0; i < 4u; ++i) levels[r * 4u + i] = q[i];
#endif
        }
        for (uint c = 0; c < COLUMNS; ++c) {
            const uint a = column_base(c) + index * 82u;
            const uvec2 low = activation_pair(a + 2u + 4u * group);
            const uvec2 high = activation_pair(a + 4u + 4u * group);
            const uint quants[4] = uint[4](low.x, low.y, high.x, high.y);
            const int group_sum = int(activations.word[a + 66u + group]);
            for (uint r = 0; r < ROWS; ++r) {
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
    for (uint c = 0; c < COLUMNS; ++c) {
        const float da = uintBitsToFloat(activations.word[column_base(c) + index * 82u]);
        for (uint r = 0; r < ROWS; ++r) {
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
    first_column = (group / p.row_groups) * COLUMNS;

    for (uint t = 0; t < TILE; ++t) sums[t] = 0.0;
    if (first_row < p.n) {
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
        for (uint r = 0; r < ROWS; ++r) {
            for (uint c = 0; c < COLUMNS; ++c) {
                if (first_row + r < p.n && first_column + c < p.m) {
                    dst.value[(first_column + c) * p.n + first_row + r] = sums[r * COLUMNS + c];
                }
            }
        }
    }
}

// MUL_MAT's activations converted to the weights' partner type before the dot products, as the
// CPU backend (and ggml) converts them, with the same roundings: the quants are those of
// formats/quant's quantize_row bit for bit. The layout is this backend's own, in 32-bit words
// (ops.cpp's converted_activation_bytes):
//   TYPE_Q8_0  per 32 elements: the scale (the float of its half), the sum of the quants, and
//              the 32 quants in 8 words (element 4i + b in byte b of word i);
//   TYPE_Q8_1  the same with Q8_1's s (the half of d times the quants' sum) as the second word;
//   TYPE_Q8_K  per 256: the scale, a zero word (so that the quants start 8 bytes into the
//              block, and a block is an even number of words), 256 quants in 64 words, 16
//              group sums;
//   TYPE_F16, TYPE_BF16   one float per element, rounded to the type.
// One thread per block (per element for F16 and BF16), scanning it in order as the CPU does.
#version 450
#include "common.glsl"
#include "numerics.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint k;  // elements per column
    uint m;  // columns
} p;

#if defined(TYPE_Q8_0) || defined(TYPE_Q8_1)
const uint BLOCK = 32;
const uint BLOCK_WORDS = 10;
#elif defined(TYPE_Q8_K)
const uint BLOCK = 256;
const uint BLOCK_WORDS = 82;
#else
const uint BLOCK = 1;
const uint BLOCK_WORDS = 1;
#endif

void main() {
    const uint blocks_per_column = p.k / BLOCK;
    const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= blocks_per_column * p.m) return;
    const uint column = index / blocks_per_column;
    const uint block = index % blocks_per_column;
    Floats src = Floats(p.src);
    Words dst = Words(p.dst);
    const uint first = column * p.k + block * BLOCK;
    const uint out_base = index * BLOCK_WORDS;
#if defined(TYPE_F16)
    dst.word[out_base] = floatBitsToUint(round_to_half(src.value[first]));
#elif defined(TYPE_BF16)
    dst.word[out_base] = floatBitsToUint(bfloat_to_float(float_to_bfloat(src.value[first])));
#elif defined(TYPE_Q8_0) || defined(TYPE_Q8_1)
    float amax = 0.0;
    for (uint i = 0; i < BLOCK; ++i) {
        const float a = abs(src.value[first + i]);
        amax = amax > a ? amax : a;
    }
    const float d = divide_rn(amax, 127.0);
    const float inverse = d != 0.0 ? divide_rn(1.0, d) : 0.0;
    int sum = 0;
    for (uint w = 0; w < 8u; ++w) {
        uint packed = 0u;
        for (uint b = 0; b < 4u; ++b) {
            const int q = to_int8_like_x86(round_half_away(src.value[first + 4u * w + b] * inverse));
            sum += q;
            packed |= (uint(q) & 0xffu) << (8u * b);
        }
        dst.word[out_base + 2u + w] = packed;
    }
    dst.word[out_base] = floatBitsToUint(round_to_half(d));
#if defined(TYPE_Q8_0)
    dst.word[out_base + 1u] = uint(sum);
#else
    dst.word[out_base + 1u] = floatBitsToUint(round_to_half(float(sum) * d));
#endif
#elif defined(TYPE_Q8_K)
    // The element of largest magnitude with its sign, the first one on ties.
    float amax = 0.0;
    float max_value = 0.0;
    for (uint i = 0; i < BLOCK; ++i) {
        const float x = src.value[first + i];
        if (abs(x) > amax) {
            amax = abs(x);
            max_value = x;
        }
    }
    if (amax == 0.0) {
        for (uint w = 0; w < BLOCK_WORDS; ++w) dst.word[out_base + w] = 0u;
        return;
    }
    const float inverse_scale = divide_rn(-127.0, max_value);
    for (uint group = 0; group < 16u; ++group) {
        int group_sum = 0;
        for (uint w = 0; w < 4u; ++w) {
            uint packed = 0u;
            for (uint b = 0; b < 4u; ++b) {
                const uint element = 16u * group + 4u * w + b;
                const int q = min(127, nearest_int(inverse_scale * src.value[first + element]));
                group_sum += q;
                packed |= (uint(q) & 0xffu) << (8u * b);
            }
            dst.word[out_base + 2u + 4u * group + w] = packed;
        }
        dst.word[out_base + 66u + group] = uint(group_sum);
    }
    dst.word[out_base] = floatBitsToUint(divide_rn(1.0, inverse_scale));
    dst.word[out_base + 1u] = 0u;
#endif
}

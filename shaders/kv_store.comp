// KV_STORE: token t's row of keys or values (F32) into the cache's column position + t, as
// TYPE_F16 halves or TYPE_Q8_0 blocks, with the reference codecs' roundings (bit-exact). One
// workgroup per token. A cache row need not start on a 32-bit word: each thread assembles whole
// words of the row's bytes, writing the words wholly inside the row and merging the bytes of a
// word shared with a neighbouring row with atomic and/or, so that the neighbour's bytes stay.
// The host checked the columns against the cache before the run.
#version 450
#include "common.glsl"
#include "numerics.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 cache;
    uint cache_offset;  // bytes past the cache's word address
    uvec2 step;
    uint row_elements;
    uint row_bytes;
    uint n_tokens;
} p;

Floats src;
Words cache;
uint source_row;  // the token's first element in src

// Writes `value`'s bytes selected by `mask` into word w.
void store_bytes(uint w, uint value, uint mask) {
    if (mask == 0xffffffffu) {
        cache.word[w] = value;
    } else if (mask != 0u) {
        atomicAnd(cache.word[w], ~mask);
        atomicOr(cache.word[w], value & mask);
    }
}

#if defined(TYPE_F16)

// The byte at `offset` of the row's halves.
uint row_byte(uint offset) {
    return (float_to_half(src.value[source_row + offset / 2u]) >> (8u * (offset % 2u))) & 0xffu;
}

void store_range(uint row_start, uint begin, uint end) {
    for (uint w = begin / 4u + gl_LocalInvocationID.x; w * 4u < end; w += WORKGROUP_SIZE) {
        uint value = 0u;
        uint mask = 0u;
        for (uint b = 0; b < 4u; ++b) {
            const uint byte_index = 4u * w + b;
            if (byte_index < begin || byte_index >= end) continue;
            value |= row_byte(byte_index - row_start) << (8u * b);
            mask |= 0xffu << (8u * b);
        }
        store_bytes(w, value, mask);
    }
}

void main() {
    const uint token = group_number();
    if (token >= p.n_tokens) return;
    src = Floats(p.src);
    cache = Words(p.cache);
    source_row = token * p.row_elements;
    const uint column = uint(StepValues(p.step).position) + token;
    const uint row_start = p.cache_offset + column * p.row_bytes;
    store_range(row_start, row_start, row_start + p.row_bytes);
}

#elif defined(TYPE_Q8_0)

// Blocks go in chunks of one per thread: their scales first (shared), then the chunk's bytes.
shared uint chunk_scales[WORKGROUP_SIZE];      // the half of each block's d
shared float chunk_inverses[WORKGROUP_SIZE];   // 1 / d, as the quantizer multiplies by it

void main() {
    const uint token = group_number();
    if (token >= p.n_tokens) return;
    src = Floats(p.src);
    cache = Words(p.cache);
    source_row = token * p.row_elements;
    const uint column = uint(StepValues(p.step).position) + token;
    const uint row_start = p.cache_offset + column * p.row_bytes;
    const uint n_blocks = p.row_elements / 32u;
    const uint t = gl_LocalInvocationID.x;
    for (uint chunk = 0; chunk < n_blocks; chunk += WORKGROUP_SIZE) {
        if (chunk + t < n_blocks) {
            const uint first = source_row + (chunk + t) * 32u;
            float amax = 0.0;
            for (uint i = 0; i < 32u; ++i) {
                const float a = abs(src.value[first + i]);
                amax = amax > a ? amax : a;
            }
            const float d = divide_rn(amax, 127.0);
            chunk_scales[t] = float_to_half(d);
            chunk_inverses[t] = d != 0.0 ? divide_rn(1.0, d) : 0.0;
        }
        barrier();
        const uint chunk_end = min(n_blocks, chunk + WORKGROUP_SIZE);
        const uint begin = row_start + chunk * 34u;
        const uint end = row_start + chunk_end * 34u;
        for (uint w = begin / 4u + t; w * 4u < end; w += WORKGROUP_SIZE) {
            uint value = 0u;
            uint mask = 0u;
            for (uint b = 0; b < 4u; ++b) {
                const uint byte_index = 4u * w + b;
                if (byte_index < begin || byte_index >= end) continue;
                const uint offset = byte_index - row_start;
                const uint block = offset / 34u;
                const uint within = offset % 34u;
                uint byte_value;
                if (within < 2u) {
                    byte_value = (chunk_scales[block - chunk] >> (8u * within)) & 0xffu;
                } else {
                    const float x = src.value[source_row + block * 32u + within - 2u];
                    byte_value = uint(to_int8_like_x86(round_half_away(x * chunk_inverses[block - chunk]))) & 0xffu;
                }
                value |= byte_value << (8u * b);
                mask |= 0xffu << (8u * b);
            }
            store_bytes(w, value, mask);
        }
        barrier();  // before the next chunk's scales
    }
}

#else
#error "kv_store.comp needs TYPE_F16 or TYPE_Q8_0"
#endif

// Shared by every shader. Tensors are reached through buffer device addresses carried in push
// constants as uvec2 (low and high 32 bits), and read and written as 32-bit words: the bytes
// and halves of quantized blocks are cut out of words, so that no 8- or 16-bit storage feature
// is needed. A tensor read by words comes as its address rounded down to 4 bytes plus the
// bytes past that ("byte offset"); the allocator keeps at least 16 bytes after every tensor, so
// reading the word after an unaligned last byte stays inside the buffer.
//
// Workgroups are one-dimensional, sized by specialization constant 0 (per device); grids are
// two-dimensional when one dimension would exceed the device's limit, and a workgroup's number
// is x + y * (groups in x).
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
const uint WORKGROUP_SIZE = gl_WorkGroupSize.x;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer Words {
    uint word[];
};
layout(buffer_reference, std430, buffer_reference_align = 4) buffer Floats {
    float value[];
};
layout(buffer_reference, std430, buffer_reference_align = 4) buffer Ints {
    int value[];
};
// The executable's step buffer: StepValues.
layout(buffer_reference, std430, buffer_reference_align = 4) buffer StepValues {
    int position;
    int n_kv;
    uvec2 seed;  // low, high 32 bits
};
// A node's error slot: flagged, then the lowest failing index.
layout(buffer_reference, std430, buffer_reference_align = 4) buffer ErrorSlot {
    uint flagged;
    uint first_index;
};

uint group_number() {
    return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
}

uint byte_at(Words data, uint offset) {
    return (data.word[offset >> 2] >> ((offset & 3u) * 8u)) & 0xffu;
}

// A 16-bit field at an even offset.
uint u16_at(Words data, uint offset) {
    return (data.word[offset >> 2] >> ((offset & 2u) * 8u)) & 0xffffu;
}

// Four bytes at any offset (little-endian).
uint u32_at(Words data, uint offset) {
    const uint index = offset >> 2;
    const uint shift = (offset & 3u) * 8u;
    const uint low = data.word[index];
    if (shift == 0u) return low;
    return (low >> shift) | (data.word[index + 1u] << (32u - shift));
}

// The dot products of four packed bytes: unsigned by signed, and signed by signed.
int dot4_unsigned_signed(uint u, uint s) {
    int sum = 0;
    [[unroll]] for (int i = 0; i < 4; ++i) {
        sum += int((u >> (8 * i)) & 0xffu) * bitfieldExtract(int(s), 8 * i, 8);
    }
    return sum;
}
int dot4_signed_signed(uint a, uint b) {
    int sum = 0;
    [[unroll]] for (int i = 0; i < 4; ++i) {
        sum += bitfieldExtract(int(a), 8 * i, 8) * bitfieldExtract(int(b), 8 * i, 8);
    }
    return sum;
}

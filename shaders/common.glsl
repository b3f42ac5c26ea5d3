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
#if defined(INTEGER_DOT)
#extension GL_EXT_spirv_intrinsics : require
#endif

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
#if defined(INTEGER_DOT)
// With INTEGER_DOT (devices with VK_KHR_shader_integer_dot_product), one instruction each:
// OpSUDot and OpSDot (opcodes 4452 and 4450) on 32-bit operands in the packed 4x8-bit format
// (PackedVectorFormat4x8Bit, 0), under the capabilities DotProduct (6019) and
// DotProductInput4x8BitPacked (6018). glslc 2023.2 has no GLSL name for them.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4452) int signed_unsigned_dot(uint s, uint u, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450) int signed_signed_dot(uint a, uint b, spirv_literal int format);
int dot4_unsigned_signed(uint u, uint s) {
    return signed_unsigned_dot(s, u, 0);
}
int dot4_signed_signed(uint a, uint b) {
    return signed_signed_dot(a, b, 0);
}
#else
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
#endif

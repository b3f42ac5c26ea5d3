// ADD and MUL (constant 1) with broadcasting: each dimension of b is a's or 1, and b repeats
// along the dimensions where it is 1. One thread per element of a (and dst); in place allowed.
#version 450
#include "common.glsl"

const uint OP_ADD = 0;
const uint OP_MUL = 1;
layout(constant_id = 1) const uint OP = OP_ADD;

layout(push_constant, std430) uniform Parameters {
    uvec2 a;
    uvec2 b;
    uvec2 dst;
    uint n;
    uint a0, a1, a2;  // a's first three extents (the fourth follows from n)
    uint b0, b1, b2, b3;
} p;

void main() {
    const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= p.n) return;
    const uint i0 = index % p.a0;
    const uint row = index / p.a0;
    const uint i1 = row % p.a1;
    const uint i2 = (row / p.a1) % p.a2;
    const uint i3 = row / (p.a1 * p.a2);
    const uint b_index = i0 % p.b0 + p.b0 * (i1 % p.b1 + p.b1 * (i2 % p.b2 + p.b2 * (i3 % p.b3)));
    const float x = Floats(p.a).value[index];
    const float y = Floats(p.b).value[b_index];
    Floats(p.dst).value[index] = OP == OP_ADD ? x + y : x * y;
}

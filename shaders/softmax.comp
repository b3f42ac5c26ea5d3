// SOFTMAX per row (one workgroup each): s = x * scale, the row's maximum subtracted before the
// exponential, the exponentials' sum (compensated per thread, then a tree), and one product by
// its reciprocal. In place allowed: a thread reads and writes only its own elements, and the
// maximum is known (a barrier) before anything is written.
#version 450
#include "common.glsl"
#include "numerics.glsl"
#include "reduce.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint row_length;
    uint n_rows;
    float scale;
} p;

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    Floats src = Floats(p.src);
    Floats dst = Floats(p.dst);
    const uint first = row * p.row_length;
    float largest = uintBitsToFloat(0xff800000u);
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        largest = max(largest, src.value[first + i] * p.scale);
    }
    const float row_max = workgroup_max(largest);
    float sum = 0.0;
    float compensation = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        const float e = exp_accurate(src.value[first + i] * p.scale - row_max);
        dst.value[first + i] = e;
        compensated_add(sum, compensation, e);
    }
    const float inverse = 1.0 / workgroup_sum(sum);
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        dst.value[first + i] *= inverse;
    }
}

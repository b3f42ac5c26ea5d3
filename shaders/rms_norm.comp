// RMS_NORM per row (one workgroup each): dst = x / sqrt(mean(x^2) + eps). The sum of squares is
// compensated per thread and added in a tree; then the CPU's float operations: the mean, plus
// eps, the square root, its reciprocal, and one product per element. In place allowed.
#version 450
#include "common.glsl"
#include "reduce.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint row_length;
    uint n_rows;
    float eps;
} p;

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    Floats src = Floats(p.src);
    Floats dst = Floats(p.dst);
    const uint first = row * p.row_length;
    float sum = 0.0;
    float compensation = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        const float x = src.value[first + i];
        compensated_add(sum, compensation, x * x);
    }
    const float total = workgroup_sum(sum);
    const float mean = total / float(p.row_length);
    const float scale = 1.0 / sqrt(mean + p.eps);
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        dst.value[first + i] = src.value[first + i] * scale;
    }
}

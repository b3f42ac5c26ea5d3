// MTP_HEAD, the fused input stage of a draft head, by constant 1:
//   STYLE_NEXT_N: one workgroup per column j. dst[:, j] = [rmsnorm(e_j) * enorm ; rmsnorm(h_j) *
//     hnorm], each half normalised as rms_norm.comp does (compensated per-thread sums of squares
//     added in a tree, then the CPU's float operations), times its weight.
//   STYLE_MEDUSA: one thread per element. dst = h + silu(z + b), b optional (has_bias).
#version 450
#include "common.glsl"
#include "numerics.glsl"
#include "reduce.glsl"

const uint STYLE_NEXT_N = 0;
const uint STYLE_MEDUSA = 1;
layout(constant_id = 1) const uint STYLE = STYLE_NEXT_N;

layout(push_constant, std430) uniform Parameters {
    uvec2 first;   // NextN: e; Medusa: h
    uvec2 second;  // NextN: h; Medusa: z
    uvec2 third;   // NextN: enorm; Medusa: b (when has_bias)
    uvec2 fourth;  // NextN: hnorm
    uvec2 dst;
    uint n_embd;
    uint count;  // NextN: columns; Medusa: elements
    float eps;
    uint has_bias;
} p;

void normalise_half(Floats x, Floats weight, uint column, uint dst_first) {
    const uint first = column * p.n_embd;
    float sum = 0.0;
    float compensation = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n_embd; i += WORKGROUP_SIZE) {
        const float value = x.value[first + i];
        compensated_add(sum, compensation, value * value);
    }
    const float total = workgroup_sum(sum);
    const float mean = total / float(p.n_embd);
    const float scale = 1.0 / sqrt(mean + p.eps);
    Floats dst = Floats(p.dst);
    for (uint i = gl_LocalInvocationID.x; i < p.n_embd; i += WORKGROUP_SIZE) {
        dst.value[dst_first + i] = (x.value[first + i] * scale) * weight.value[i];
    }
}

void main() {
    if (STYLE == STYLE_NEXT_N) {
        const uint column = group_number();
        if (column >= p.count) return;
        const uint dst_first = column * 2u * p.n_embd;
        normalise_half(Floats(p.first), Floats(p.third), column, dst_first);
        normalise_half(Floats(p.second), Floats(p.fourth), column, dst_first + p.n_embd);
    } else {
        const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
        if (index >= p.count) return;
        float pre = Floats(p.second).value[index];
        if (p.has_bias != 0u) pre += Floats(p.third).value[index % p.n_embd];
        Floats(p.dst).value[index] = Floats(p.first).value[index] + pre / (1.0 + exp_accurate(-pre));
    }
}

// ROPE: one workgroup per (token, head) row, one thread per rotated pair. The angle is ggml's:
// theta starts at the position as a float and is multiplied by theta_scale (freq_base^(-2/n_rot),
// computed on the host as the CPU computes it) once per pair, in float, then scaled by
// freq_scale; sin and cos are numerics.glsl's. Normal pairs (2i, 2i+1), NeoX pairs
// (i, i + n_rot/2); dimensions past n_rot are copied. In place allowed: a thread reads a pair
// before writing it.
#version 450
#include "common.glsl"
#include "numerics.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 positions;
    uvec2 dst;
    uint head_dim;
    uint n_heads;
    uint n_rows;  // heads times tokens
    uint n_rot;
    uint neox;
    float freq_scale;
    float theta_scale;
} p;

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    Floats src = Floats(p.src);
    Floats dst = Floats(p.dst);
    const uint first = row * p.head_dim;
    const int position = Ints(p.positions).value[row / p.n_heads];
    const uint n_pairs = p.n_rot / 2u;
    for (uint pair = gl_LocalInvocationID.x; pair < n_pairs; pair += WORKGROUP_SIZE) {
        float theta = float(position);
        for (uint i = 0; i < pair; ++i) theta *= p.theta_scale;
        float sin_angle, cos_angle;
        sin_cos(p.freq_scale * theta, sin_angle, cos_angle);
        const uint a = first + (p.neox != 0u ? pair : 2u * pair);
        const uint b = a + (p.neox != 0u ? n_pairs : 1u);
        const float x0 = src.value[a];
        const float x1 = src.value[b];
        precise float y0 = x0 * cos_angle - x1 * sin_angle;
        precise float y1 = x0 * sin_angle + x1 * cos_angle;
        dst.value[a] = y0;
        dst.value[b] = y1;
    }
    for (uint d = p.n_rot + gl_LocalInvocationID.x; d < p.head_dim; d += WORKGROUP_SIZE) {
        dst.value[first + d] = src.value[first + d];
    }
}

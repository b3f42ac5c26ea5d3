// ARGMAX per row (one workgroup each): each thread keeps the first strictly larger value of its
// share, then a tree keeps the larger value, the lower index on ties: the first index of the
// maximum. A row where nothing beats -infinity (all -inf or NaN) gives 0, as on the CPU.
#version 450
#include "common.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint row_length;
    uint n_rows;
} p;

shared float best_values[WORKGROUP_SIZE];
shared int best_indices[WORKGROUP_SIZE];

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    Floats src = Floats(p.src);
    const uint first = row * p.row_length;
    float best_value = uintBitsToFloat(0xff800000u);
    int best_index = -1;
    for (uint i = gl_LocalInvocationID.x; i < p.row_length; i += WORKGROUP_SIZE) {
        const float x = src.value[first + i];
        if (x > best_value) {
            best_value = x;
            best_index = int(i);
        }
    }
    const uint t = gl_LocalInvocationID.x;
    best_values[t] = best_value;
    best_indices[t] = best_index;
    for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        barrier();
        if (t < stride) {
            const int other = best_indices[t + stride];
            const float other_value = best_values[t + stride];
            const int mine = best_indices[t];
            if (other >= 0 && (mine < 0 || other_value > best_values[t] ||
                               (other_value == best_values[t] && other < mine))) {
                best_values[t] = other_value;
                best_indices[t] = other;
            }
        }
    }
    barrier();
    if (t == 0u) Ints(p.dst).value[row] = max(best_indices[0], 0);
}

// TOP_K per row (one workgroup each): k passes, each finding the best element that ranks after
// the previous pass's pick, in the order "larger value, then lower index" (NaN ranks as
// -infinity). A pass is a scan of the row and a tree, so the result is exact and the same on
// every run; the cost is k scans, fine for the small k of sampling.
#version 450
#include "common.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint row_length;
    uint n_rows;
    uint k;
} p;

shared float best_values[WORKGROUP_SIZE];
shared int best_indices[WORKGROUP_SIZE];

// Whether (a, ia) ranks before (b, ib).
bool ranks_before(float a, int ia, float b, int ib) {
    return a > b || (a == b && ia < ib);
}

void main() {
    const uint row = group_number();
    if (row >= p.n_rows) return;
    Floats src = Floats(p.src);
    Ints dst = Ints(p.dst);
    const uint first = row * p.row_length;
    const uint t = gl_LocalInvocationID.x;
    const float negative_infinity = uintBitsToFloat(0xff800000u);
    float previous_value = uintBitsToFloat(0x7f800000u);
    int previous_index = -1;
    for (uint pick = 0; pick < p.k; ++pick) {
        float best_value = negative_infinity;
        int best_index = -1;
        for (uint i = t; i < p.row_length; i += WORKGROUP_SIZE) {
            float x = src.value[first + i];
            if (isnan(x)) x = negative_infinity;
            const int index = int(i);
            if (!ranks_before(previous_value, previous_index, x, index)) continue;
            if (best_index < 0 || ranks_before(x, index, best_value, best_index)) {
                best_value = x;
                best_index = index;
            }
        }
        best_values[t] = best_value;
        best_indices[t] = best_index;
        for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
            barrier();
            if (t < stride) {
                const int other = best_indices[t + stride];
                if (other >= 0 && (best_indices[t] < 0 ||
                                   ranks_before(best_values[t + stride], other, best_values[t],
                                                best_indices[t]))) {
                    best_values[t] = best_values[t + stride];
                    best_indices[t] = other;
                }
            }
        }
        barrier();
        previous_value = best_values[0];
        previous_index = best_indices[0];
        if (t == 0u) dst.value[row * p.k + pick] = previous_index;
        barrier();  // before the next pass overwrites the tree
    }
}

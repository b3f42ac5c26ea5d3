// Sums and maxima over a workgroup, through shared memory in a fixed tree, so that every run
// gives the same bits. Every thread must call them (they contain barriers) and gets the result.
// WORKGROUP_SIZE is a power of two. Requires common.glsl.

shared float reduction[WORKGROUP_SIZE];

float workgroup_sum(float value) {
    const uint i = gl_LocalInvocationID.x;
    reduction[i] = value;
    for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        barrier();
        if (i < stride) reduction[i] += reduction[i + stride];
    }
    barrier();
    const float total = reduction[0];
    barrier();  // before the next reduction overwrites it
    return total;
}

float workgroup_max(float value) {
    const uint i = gl_LocalInvocationID.x;
    reduction[i] = value;
    for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        barrier();
        if (i < stride) reduction[i] = max(reduction[i], reduction[i + stride]);
    }
    barrier();
    const float largest = reduction[0];
    barrier();
    return largest;
}

// Kahan's compensated sum, for a thread's share of a long row: its error stays near one
// rounding whatever the share's length, so that the row's sum errs little more than the tree.
void compensated_add(inout float sum, inout float compensation, float value) {
    precise float corrected = value - compensation;
    precise float total = sum + corrected;
    precise float lost = (total - sum) - corrected;
    compensation = lost;
    sum = total;
}

// Gated units: dst = act(gate) * up, SWIGLU (act = SILU) or GEGLU (act = the tanh GELU), by
// constant 1. In place on either source is allowed.
#version 450
#include "common.glsl"
#include "numerics.glsl"

const uint OP_SWIGLU = 0;
const uint OP_GEGLU = 1;
layout(constant_id = 1) const uint OP = OP_SWIGLU;

layout(push_constant, std430) uniform Parameters {
    uvec2 gate;
    uvec2 up;
    uvec2 dst;
    uint n;
} p;

const float GELU_CUBIC = 0.044715;
const float SQRT_TWO_OVER_PI = 0.79788456080286535587989211986876;

void main() {
    const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= p.n) return;
    const float x = Floats(p.gate).value[index];
    const float up = Floats(p.up).value[index];
    float activated;
    if (OP == OP_SWIGLU) {
        activated = x / (1.0 + exp_accurate(-x));
    } else {
        activated = 0.5 * x * (1.0 + tanh_accurate(SQRT_TWO_OVER_PI * x * (1.0 + GELU_CUBIC * x * x)));
    }
    Floats(p.dst).value[index] = activated * up;
}

// Element-wise ops on one source, chosen by constant 1: SCALE (x * parameter), SILU, GELU (with
// erf), GELU_TANH and SOFTCAP (parameter * tanh(x * inverse)), in ggml's forms (ggml-cpu vec.h)
// as the CPU backend evaluates them. In place (dst = src) is allowed: each thread reads its
// element before writing it.
#version 450
#include "common.glsl"
#include "numerics.glsl"

const uint OP_SCALE = 0;
const uint OP_SILU = 1;
const uint OP_GELU = 2;
const uint OP_GELU_TANH = 3;
const uint OP_SOFTCAP = 4;
layout(constant_id = 1) const uint OP = OP_SCALE;

layout(push_constant, std430) uniform Parameters {
    uvec2 src;
    uvec2 dst;
    uint n;
    float parameter;  // SCALE: the scale; SOFTCAP: the cap
    float inverse;    // SOFTCAP: 1 / cap, rounded as the CPU rounds it
} p;

const float GELU_CUBIC = 0.044715;
const float SQRT_TWO_OVER_PI = 0.79788456080286535587989211986876;
const float INVERSE_SQRT_TWO = 0.70710678118654752440084436210484;

void main() {
    const uint index = group_number() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= p.n) return;
    const float x = Floats(p.src).value[index];
    float y;
    if (OP == OP_SCALE) {
        y = x * p.parameter;
    } else if (OP == OP_SILU) {
        y = x / (1.0 + exp_accurate(-x));
    } else if (OP == OP_GELU) {
        y = 0.5 * x * (1.0 + erf_accurate(x * INVERSE_SQRT_TWO));
    } else if (OP == OP_GELU_TANH) {
        y = 0.5 * x * (1.0 + tanh_accurate(SQRT_TWO_OVER_PI * x * (1.0 + GELU_CUBIC * x * x)));
    } else {
        y = tanh_accurate(x * p.inverse) * p.parameter;
    }
    Floats(p.dst).value[index] = y;
}

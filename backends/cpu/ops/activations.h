// The scalar activation functions shared by the element-wise and gated ops, in ggml's form
// (ggml-cpu vec.h): float arithmetic, erf for the exact GELU and the 0.044715 cubic inside tanh
// for the approximation.
#pragma once

#include <cmath>

namespace tessera::backend::cpu {

inline constexpr float kGeluCubicCoefficient = 0.044715f;
inline constexpr float kSqrtTwoOverPi = 0.79788456080286535587989211986876f;
inline constexpr float kInverseSqrtTwo = 0.70710678118654752440084436210484f;

inline float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

inline float gelu_erf(float x) {
    return 0.5f * x * (1.0f + std::erf(x * kInverseSqrtTwo));
}

inline float gelu_tanh(float x) {
    return 0.5f * x *
           (1.0f + std::tanh(kSqrtTwoOverPi * x * (1.0f + kGeluCubicCoefficient * x * x)));
}

}  // namespace tessera::backend::cpu

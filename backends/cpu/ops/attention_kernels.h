// The vector loops of the attention kernel, in a portable version and an AVX2 (FMA, F16C) one
// chosen from the CPU's features when a graph is compiled: decoding cache rows to F32 and adding
// weighted V rows to the accumulators. The dot products of Q with K are quant_dot.h's.
//
// The AVX2 loops fuse each multiply-add (one rounding instead of two), so their results differ
// from the portable ones in the last bits; a given CPU always runs the same loops, whatever the
// number of threads.
#pragma once

#include <cstdint>

#include "backends/cpu/cpu_features.h"

namespace tessera::backend::cpu {

struct AttentionKernels {
    // n elements of an F16 cache row (bit-exact with quant::fp16_to_fp32).
    void (*decode_f16)(const uint8_t* row, float* out, int64_t n);
    // n elements (whole blocks) of a Q8_0 cache row (bit-exact with the reference codec).
    void (*decode_q8_0)(const uint8_t* row, float* out, int64_t n);
    // out[d] += weights[c] * values[c * dim + d] for c = 0, 1, ... n_columns - 1 in that order,
    // for every d < dim.
    void (*accumulate)(float* out, const float* weights, const float* values, int64_t n_columns,
                       int64_t dim);
};

const AttentionKernels& attention_kernels(const CpuFeatures& features);

// The portable loops and the AVX2 ones (defined only in builds for x86-64).
const AttentionKernels& portable_attention_kernels();
const AttentionKernels* avx2_attention_kernels();

}  // namespace tessera::backend::cpu

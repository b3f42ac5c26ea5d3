// What this CPU can run: the x86 vector extensions tessera's kernels use, checked with CPUID and
// with the OS's permission (XGETBV for AVX and AVX-512 state; arch_prctl for AMX tiles, which
// Linux grants only on request).
#pragma once

#include <string>

namespace tessera::backend::cpu {

struct CpuFeatures {
    bool avx2 = false;    // with FMA and F16C
    bool avx512 = false;  // F, BW, VL, DQ
    bool avx512_vnni = false;
    bool avx_vnni = false;
    bool amx_int8 = false;  // listed by CPUID *and* tile state granted by the kernel
    // Forces the portable scalar kernels (TESSERA_CPU_SCALAR=1, and the tests).
    bool scalar_only = false;

    // "avx512 avx512_vnni amx_int8" or "scalar".
    std::string describe() const;
};

// Detects the features (each call asks the CPU again: the device keeps the result); asks the
// kernel for AMX tile state and reports amx_int8 only when granted. Never executes an
// instruction the CPU or OS does not allow. TESSERA_CPU_SCALAR set to anything but "" or "0"
// returns scalar_cpu_features() instead. Each flag implies those before it: avx512 implies
// avx2, avx512_vnni implies avx512, avx_vnni implies avx2.
CpuFeatures detect_cpu_features();

// The portable scalar set (no vector extensions).
CpuFeatures scalar_cpu_features();

}  // namespace tessera::backend::cpu

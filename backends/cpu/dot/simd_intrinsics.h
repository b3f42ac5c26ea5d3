// <immintrin.h> for the SIMD kernel files, without GCC 12's false -W(maybe-)uninitialized
// warnings: its AVX-512 intrinsics start from deliberately undefined pass-through vectors (GCC
// bug 105593), which the warning flags wherever they are inlined. The suppression covers the
// header's own lines only.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

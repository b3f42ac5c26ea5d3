// Reading and writing one block of a row by index, whatever the row's alignment.
//
// For portable translation units only: an inline function compiled into an *_avx2.cpp or
// *_avx512.cpp file may be emitted there with vector instructions and picked by the linker for
// every caller, which would then fault on CPUs without them. SIMD files use intrinsics and
// functions of their own anonymous namespace instead.
#pragma once

#include <cstdint>
#include <cstring>

namespace tessera::backend::cpu {

template <typename Block>
inline Block load_block(const void* blocks, int64_t index) {
    Block block;
    std::memcpy(&block, static_cast<const uint8_t*>(blocks) + index * int64_t{sizeof(Block)},
                sizeof(Block));
    return block;
}

}  // namespace tessera::backend::cpu

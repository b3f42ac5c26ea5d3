// On-disk block layouts of the quantized types, byte for byte as ggml stores them.
// Scales are IEEE half floats stored as raw uint16_t bits (see formats/quant/half.h).
#pragma once

#include <cstdint>

namespace tessera::quant {

inline constexpr int kLegacyBlock = 32;  // elements per block of Q4_0 ... Q8_1
inline constexpr int kSuperBlock = 256;  // elements per block of the K-quants
inline constexpr int kScaleBytesK = 12;  // packed 6-bit scales and mins of Q4_K and Q5_K

struct BlockQ4_0 {
    uint16_t d;                    // scale
    uint8_t qs[kLegacyBlock / 2];  // nibbles: element j in the low half of byte j, j+16 in the high
};
struct BlockQ4_1 {
    uint16_t d, m;  // scale and minimum
    uint8_t qs[kLegacyBlock / 2];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];  // fifth bits, element j at bit j
    uint8_t qs[kLegacyBlock / 2];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[kLegacyBlock / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kLegacyBlock];
};
struct BlockQ8_1 {
    uint16_t d, s;  // scale, and scale times the sum of the quants
    int8_t qs[kLegacyBlock];
};

struct BlockQ2_K {
    uint8_t scales[kSuperBlock / 16];  // 4-bit scale (low) and 4-bit min (high) per 16 elements
    uint8_t qs[kSuperBlock / 4];       // 2-bit quants
    uint16_t d, dmin;                  // super-block scale for the scales and for the mins
};
struct BlockQ3_K {
    uint8_t hmask[kSuperBlock / 8];  // high bits of the quants
    uint8_t qs[kSuperBlock / 4];     // low 2 bits
    uint8_t scales[12];              // 16 6-bit scales, packed
    uint16_t d;
};
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];  // 8 6-bit scales and 8 6-bit mins, packed
    uint8_t qs[kSuperBlock / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];
    uint8_t qh[kSuperBlock / 8];
    uint8_t qs[kSuperBlock / 2];
};
struct BlockQ6_K {
    uint8_t ql[kSuperBlock / 2];      // low 4 bits
    uint8_t qh[kSuperBlock / 4];      // high 2 bits
    int8_t scales[kSuperBlock / 16];  // 8-bit scales
    uint16_t d;
};
struct BlockQ8_K {
    float d;
    int8_t qs[kSuperBlock];
    int16_t bsums[kSuperBlock / 16];  // sums of the quants in groups of 16
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

}  // namespace tessera::quant

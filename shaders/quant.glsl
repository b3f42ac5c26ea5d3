// The block layouts of the weight and table types (formats/quant/blocks.h), selected by one
// TYPE_* define: BLOCK_ELEMENTS and BLOCK_BYTES, and dequantize(), which decodes one element
// with the float operations of the reference codecs (formats/quant), in their order.
// Requires common.glsl and numerics.glsl.

#if defined(TYPE_F32)
const uint BLOCK_ELEMENTS = 1;
const uint BLOCK_BYTES = 4;
#elif defined(TYPE_F16) || defined(TYPE_BF16)
const uint BLOCK_ELEMENTS = 1;
const uint BLOCK_BYTES = 2;
#elif defined(TYPE_Q4_0)
const uint BLOCK_ELEMENTS = 32;
const uint BLOCK_BYTES = 18;
#elif defined(TYPE_Q4_1)
const uint BLOCK_ELEMENTS = 32;
const uint BLOCK_BYTES = 20;
#elif defined(TYPE_Q5_0)
const uint BLOCK_ELEMENTS = 32;
const uint BLOCK_BYTES = 22;
#elif defined(TYPE_Q5_1)
const uint BLOCK_ELEMENTS = 32;
const uint BLOCK_BYTES = 24;
#elif defined(TYPE_Q8_0)
const uint BLOCK_ELEMENTS = 32;
const uint BLOCK_BYTES = 34;
#elif defined(TYPE_Q2_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 84;
#elif defined(TYPE_Q3_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 110;
#elif defined(TYPE_Q4_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 144;
#elif defined(TYPE_Q5_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 176;
#elif defined(TYPE_Q6_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 210;
#elif defined(TYPE_Q8_K)
const uint BLOCK_ELEMENTS = 256;
const uint BLOCK_BYTES = 292;
#else
#error "quant.glsl needs one TYPE_* define"
#endif

int signed_byte_at(Words data, uint offset) {
    return bitfieldExtract(int(byte_at(data, offset)), 0, 8);
}

// Q3_K's 16 6-bit scales in 12 bytes at `scales`, stored offset by 32.
int q3_k_scale(Words data, uint scales, uint j) {
    const uint low = j < 8u ? byte_at(data, scales + j) & 0xfu : byte_at(data, scales + j - 8u) >> 4;
    const uint high = (byte_at(data, scales + 8u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return int(low | (high << 4)) - 32;
}

// Q4_K's and Q5_K's 6-bit scale and min of 32-element group j, from the 12 bytes at `scales`.
void k4_scale_min(Words data, uint scales, uint j, out uint scale, out uint minimum) {
    if (j < 4u) {
        scale = byte_at(data, scales + j) & 63u;
        minimum = byte_at(data, scales + j + 4u) & 63u;
    } else {
        scale = (byte_at(data, scales + j + 4u) & 0xfu) | ((byte_at(data, scales + j - 4u) >> 6) << 4);
        minimum = (byte_at(data, scales + j + 4u) >> 4) | ((byte_at(data, scales + j) >> 6) << 4);
    }
}

// Element j of the block at byte `block`.
float dequantize(Words data, uint block, uint j) {
#if defined(TYPE_F32)
    return uintBitsToFloat(u32_at(data, block));
#elif defined(TYPE_F16)
    return half_to_float(u16_at(data, block));
#elif defined(TYPE_BF16)
    return bfloat_to_float(u16_at(data, block));
#elif defined(TYPE_Q4_0)
    const float d = half_to_float(u16_at(data, block));
    const uint packed = byte_at(data, block + 2u + j % 16u);
    const int q = int(j < 16u ? packed & 0xfu : packed >> 4) - 8;
    return float(q) * d;
#elif defined(TYPE_Q4_1)
    const float d = half_to_float(u16_at(data, block));
    const float m = half_to_float(u16_at(data, block + 2u));
    const uint packed = byte_at(data, block + 4u + j % 16u);
    precise float scaled = float(j < 16u ? packed & 0xfu : packed >> 4) * d;
    precise float value = scaled + m;
    return value;
#elif defined(TYPE_Q5_0)
    const float d = half_to_float(u16_at(data, block));
    const uint high = (u32_at(data, block + 2u) >> j) & 1u;
    const uint packed = byte_at(data, block + 6u + j % 16u);
    const int q = int((j < 16u ? packed & 0xfu : packed >> 4) | (high << 4)) - 16;
    return float(q) * d;
#elif defined(TYPE_Q5_1)
    const float d = half_to_float(u16_at(data, block));
    const float m = half_to_float(u16_at(data, block + 2u));
    const uint high = (u32_at(data, block + 4u) >> j) & 1u;
    const uint packed = byte_at(data, block + 8u + j % 16u);
    precise float scaled = float((j < 16u ? packed & 0xfu : packed >> 4) | (high << 4)) * d;
    precise float value = scaled + m;
    return value;
#elif defined(TYPE_Q8_0)
    const float d = half_to_float(u16_at(data, block));
    return float(signed_byte_at(data, block + 2u + j)) * d;
#elif defined(TYPE_Q2_K)
    const float d = half_to_float(u16_at(data, block + 80u));
    const float dmin = half_to_float(u16_at(data, block + 82u));
    const uint scales = byte_at(data, block + j / 16u);
    const float group_d = d * float(scales & 0xfu);
    const float group_min = dmin * float(scales >> 4);
    const uint q = (byte_at(data, block + 16u + (j / 128u) * 32u + j % 32u) >> (2u * ((j % 128u) / 32u))) & 3u;
    precise float scaled = group_d * float(q);
    precise float value = scaled - group_min;
    return value;
#elif defined(TYPE_Q3_K)
    const float d = half_to_float(u16_at(data, block + 108u));
    const float group_d = d * float(q3_k_scale(data, block + 96u, j / 16u));
    const uint low = (byte_at(data, block + 32u + (j / 128u) * 32u + j % 32u) >> (2u * ((j % 128u) / 32u))) & 3u;
    const uint high = (byte_at(data, block + j % 32u) >> (j / 32u)) & 1u;
    return group_d * float(int(low) - (high != 0u ? 0 : 4));
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    const float d = half_to_float(u16_at(data, block));
    const float dmin = half_to_float(u16_at(data, block + 2u));
    const uint group = j / 32u;
    uint scale, minimum;
    k4_scale_min(data, block + 4u, group, scale, minimum);
    const float group_d = d * float(scale);
    const float group_min = dmin * float(minimum);
#if defined(TYPE_Q4_K)
    const uint q = (byte_at(data, block + 16u + (group / 2u) * 32u + j % 32u) >> (4u * (group % 2u))) & 0xfu;
#else
    const uint q = ((byte_at(data, block + 48u + (group / 2u) * 32u + j % 32u) >> (4u * (group % 2u))) & 0xfu) |
                   (((byte_at(data, block + 16u + j % 32u) >> group) & 1u) << 4);
#endif
    precise float scaled = group_d * float(q);
    precise float value = scaled - group_min;
    return value;
#elif defined(TYPE_Q6_K)
    const float d = half_to_float(u16_at(data, block + 208u));
    const uint base = (j / 128u) * 128u;
    const uint l = j % 32u;
    const uint k = (j % 128u) / 32u;
    const uint low = (byte_at(data, block + base / 2u + l + 32u * (k % 2u)) >> (4u * (k / 2u))) & 0xfu;
    const uint high = (byte_at(data, block + 128u + base / 4u + l) >> (2u * k)) & 3u;
    const int q = int(low | (high << 4)) - 32;
    const float scaled_d = d * float(signed_byte_at(data, block + 192u + j / 16u));
    return scaled_d * float(q);
#elif defined(TYPE_Q8_K)
    const float d = uintBitsToFloat(u32_at(data, block));
    return d * float(signed_byte_at(data, block + 4u + j));
#endif
}

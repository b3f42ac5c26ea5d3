// Float arithmetic that must agree with the CPU backend (and ggml) bit for bit, and the
// transcendental functions the ops need, with known accuracy on every device.
//
// Vulkan guarantees correctly rounded addition, subtraction and multiplication but allows
// division 2.5 ulp and leaves exp, tanh, sin and cos loose (sin and cos to 2^-11 absolute), and
// GLSL has no erf. So:
//   - the conversions to half and bfloat16 work on the bits, as formats/quant/half.h does;
//   - divide_rn is IEEE division (round to nearest even) by integer long division, for the
//     block scales of the Q8 quantizers, which must match the CPU's quants exactly;
//   - exp, tanh, sin/cos and erf are evaluated here from their Cephes single-precision forms
//     (about 1 to 2 ulp), and erf from its Maclaurin series near 0 and the Numerical Recipes
//     erfc fit (relative error below 1.2e-7) elsewhere.
// `precise` keeps the compiler from fusing or reordering where the rounding matters.

float half_to_float(uint half_bits) {
    const uint sign = (half_bits & 0x8000u) << 16;
    const uint magnitude = half_bits & 0x7fffu;
    uint bits;
    if (magnitude >= 0x0400u && magnitude < 0x7c00u) {
        bits = (magnitude << 13) + (112u << 23);
    } else if (magnitude < 0x0400u) {
        // Zero or subnormal: magnitude * 2^-24 is exact and a normal float.
        bits = floatBitsToUint(float(magnitude) * 5.9604644775390625e-8);
    } else {
        bits = 0x7f800000u | (magnitude << 13) | (magnitude > 0x7c00u ? 0x00400000u : 0u);
    }
    return uintBitsToFloat(sign | bits);
}

// Round to nearest even; NaN becomes sign | 0x7e00.
uint float_to_half(float value) {
    const uint bits = floatBitsToUint(value);
    const uint sign = (bits >> 16) & 0x8000u;
    const uint magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x38800000u) {
        if (magnitude > 0x7f800000u) return sign | 0x7e00u;
        if (magnitude >= 0x47800000u) return sign | 0x7c00u;
        const uint rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
        return sign | ((rounded >> 13) - (112u << 10));
    }
    const uint exponent = magnitude >> 23;
    if (exponent < 102u) return sign;
    const uint significand = (magnitude & 0x007fffffu) | 0x00800000u;
    const uint shift = 126u - exponent;
    const uint half_ulp = 1u << (shift - 1u);
    const uint rounded = significand + (half_ulp - 1u) + ((significand >> shift) & 1u);
    return sign | (rounded >> shift);
}

float round_to_half(float value) {
    return half_to_float(float_to_half(value));
}

float bfloat_to_float(uint bits) {
    return uintBitsToFloat(bits << 16);
}

uint float_to_bfloat(float value) {
    const uint bits = floatBitsToUint(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits >> 16) | 0x0040u;
    return (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
}

// a / b rounded to nearest even, for normal a and b with a normal quotient; the device's
// division for zeros, subnormals, infinities and NaN (which the quantizers meet only on
// degenerate blocks).
float divide_rn(float a, float b) {
    const uint ua = floatBitsToUint(a);
    const uint ub = floatBitsToUint(b);
    const uint ea = (ua >> 23) & 0xffu;
    const uint eb = (ub >> 23) & 0xffu;
    if (ea == 0u || eb == 0u || ea == 0xffu || eb == 0xffu) return a / b;
    uint ma = (ua & 0x7fffffu) | 0x800000u;
    const uint mb = (ub & 0x7fffffu) | 0x800000u;
    int exponent = int(ea) - int(eb) + 127;
    if (ma < mb) {
        ma <<= 1;
        exponent -= 1;
    }
    // ma / mb is in [1, 2): 25 quotient bits, 24 significant and one to round with; the
    // remainder says whether anything lies below.
    uint quotient = 0u;
    uint remainder = ma;
    for (int i = 0; i < 25; ++i) {
        quotient <<= 1;
        if (remainder >= mb) {
            remainder -= mb;
            quotient |= 1u;
        }
        remainder <<= 1;
    }
    uint significand = quotient >> 1;
    if ((quotient & 1u) != 0u && (remainder != 0u || (significand & 1u) != 0u)) {
        significand += 1u;
    }
    if (significand == 0x1000000u) {
        significand >>= 1;
        exponent += 1;
    }
    if (exponent <= 0 || exponent >= 255) return a / b;
    return uintBitsToFloat(((ua ^ ub) & 0x80000000u) | (uint(exponent) << 23) |
                           (significand & 0x7fffffu));
}

// C's roundf: halves away from zero. x - trunc(x) is exact.
float round_half_away(float x) {
    const float whole = trunc(x);
    return abs(x - whole) >= 0.5 ? whole + sign(x) : whole;
}

// ggml's (int8_t) cast of a float as x86 builds it: truncation, and 0 for values outside the
// int32 range or NaN (cvttss2si gives INT32_MIN, whose low byte is 0).
int to_int8_like_x86(float value) {
    const int whole = (value >= -2147483648.0 && value < 2147483648.0) ? int(value) : 0;
    return bitfieldExtract(whole, 0, 8);
}

// ggml's nearest_int: adding 1.5 * 2^23 lets the adder round to an integer (ties to even).
int nearest_int(float value) {
    precise float shifted = value + 12582912.0;
    return int(floatBitsToUint(shifted) & 0x7fffffu) - 0x400000;
}

float exp_accurate(float x) {
    if (isnan(x)) return x;
    if (x > 88.72283935546875) return uintBitsToFloat(0x7f800000u);
    if (x < -103.972084045410156) return 0.0;
    // x = n ln 2 + r with |r| <= ln 2 / 2; ln 2 in two parts, the first exact in n * C1.
    const float n = floor(x * 1.44269504088896341 + 0.5);
    precise float r = (x - n * 0.693359375) - n * -2.12194440e-4;
    const float z = r * r;
    const float p =
        (((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r +
           4.1665795894e-2) * r + 1.6666665459e-1) * r + 5.0000001201e-1) * z + r + 1.0;
    // 2^n in two steps: n may be 128 (a finite result near the largest float) or below -126.
    const int half_n = int(n) / 2;
    return ldexp(ldexp(p, half_n), int(n) - half_n);
}

float tanh_accurate(float x) {
    const float magnitude = abs(x);
    if (isnan(x)) return x;
    if (magnitude >= 9.01091333) return sign(x);
    if (magnitude > 0.625) {
        const float e = exp_accurate(2.0 * magnitude);
        const float t = 1.0 - 2.0 / (e + 1.0);
        return x < 0.0 ? -t : t;
    }
    const float z = x * x;
    return ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z +
             1.33314422036e-1) * z - 3.33332819422e-1) * z * x + x;
}

// sin and cos of x: reduction by multiples of pi/4 with pi/4 in three parts (the first exact
// times the octant for |x| below 2^16), then the Cephes polynomials on [-pi/4, pi/4].
void sin_cos(float x, out float sin_x, out float cos_x) {
    const float magnitude = abs(x);
    uint octant = uint(magnitude * 1.27323954473516);
    octant += octant & 1u;
    const float y = float(octant);
    precise float r =
        ((magnitude - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
    const float z = r * r;
    const float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    const float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z +
                     4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    const uint quadrant = (octant >> 1) & 3u;
    const float sin_value = quadrant == 0u ? s : quadrant == 1u ? c : quadrant == 2u ? -s : -c;
    cos_x = quadrant == 0u ? c : quadrant == 1u ? -s : quadrant == 2u ? -c : s;
    sin_x = x < 0.0 ? -sin_value : sin_value;
}

float erf_accurate(float x) {
    const float magnitude = abs(x);
    if (magnitude < 0.5) {
        // 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320): the next term is
        // below 2e-8 of the value.
        const float z = x * x;
        return x * (1.1283791670955126 +
                    z * (-0.37612638903183754 +
                         z * (0.11283791670955126 +
                              z * (-0.026866170645131252 +
                                   z * (0.005223977625442188 - z * 0.0008548327023450853)))));
    }
    if (magnitude >= 10.0) return sign(x);
    const float t = 1.0 / (1.0 + 0.5 * magnitude);
    const float polynomial =
        -1.26551223 +
        t * (1.00002368 +
             t * (0.37409196 +
                  t * (0.09678418 +
                       t * (-0.18628806 +
                            t * (0.27886807 +
                                 t * (-1.13520398 +
                                      t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    const float erfc = t * exp_accurate(-magnitude * magnitude + polynomial);
    const float value = 1.0 - erfc;
    return x < 0.0 ? -value : value;
}

#include "formats/quant/kquant_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "formats/quant/blocks.h"
#include "formats/quant/half.h"

// Bit-exactness with ggml needs every float operation rounded on its own, in ggml's order: a
// fused multiply-add rounds once and changes the chosen scales. GCC fuses only in GNU modes and
// clang fuses within an expression by default, so both are told not to, whatever the flags.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tessera::quant {

namespace {

// Below this absolute maximum a group counts as all zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

constexpr int kGroup16 = 16;  // elements per scale in Q2_K, Q3_K and Q6_K
constexpr int kGroup32 = 32;  // elements per scale and min in Q4_K and Q5_K
constexpr int kGroups16 = kSuperBlock / kGroup16;
constexpr int kGroups32 = kSuperBlock / kGroup32;

// ggml's nearest_int: adding 1.5 * 2^23 makes the float adder round to an integer in the
// mantissa. For |value| > 2^22 the result is meaningless, but deterministic, and ggml's choices
// depend on it (such values are clamped afterwards), so it is kept rather than lrintf.
int nearest_int(float value) {
    const float shifted = value + 12582912.0f;
    return (std::bit_cast<int32_t>(shifted) & 0x007fffff) - 0x00400000;
}

float to_float(int value) {
    return static_cast<float>(value);
}

// Blocks are copied in and out so that rows need no alignment beyond a byte.
template <typename Block>
Block load_block(const void* blocks, int64_t index) {
    Block block;
    std::memcpy(&block, static_cast<const unsigned char*>(blocks) + index * int64_t{sizeof(Block)},
                sizeof(Block));
    return block;
}

template <typename Block>
void store_block(void* blocks, int64_t index, const Block& block) {
    std::memcpy(static_cast<unsigned char*>(blocks) + index * int64_t{sizeof(Block)}, &block,
                sizeof(Block));
}

// The element of largest magnitude, the first one on ties; its magnitude goes to `abs_max`.
float signed_abs_max(const float* x, int n, float* abs_max) {
    float max = 0.0f;
    float amax = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *abs_max = amax;
    return max;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights (as Q6_K uses it): symmetric
// levels in [-nmax, nmax - 1], weights x^2, and a scale chosen by least squares over 19 trial
// inverse scales around -nmax / max. Writes the levels offset by nmax; returns the scale.
float fit_symmetric_scale(const float* x, int n, int nmax, int8_t* levels) {
    float amax = 0.0f;
    const float max = signed_abs_max(x, n, &amax);
    if (amax < kGroupMaxEps) {
        std::fill(levels, levels + n, int8_t{0});
        return 0.0f;
    }
    float iscale = to_float(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        levels[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * to_float(l);
        suml2 += w * to_float(l) * to_float(l);
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(to_float(nmax) + 0.1f * to_float(step)) / max;
        sumlx = 0.0f;
        suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * to_float(l);
            suml2 += w * to_float(l) * to_float(l);
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
                levels[i] = static_cast<int8_t>(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// ggml's make_q3_quants with do_rmse (as Q3_K uses it): symmetric levels in [-nmax, nmax - 1]
// from -nmax / max, then up to 5 passes that move single levels while the x^2-weighted least
// squares fit improves. Writes the levels offset by nmax; returns the scale.
float fit_symmetric_scale_iterated(const float* x, int n, int nmax, int8_t* levels) {
    float amax = 0.0f;
    const float max = signed_abs_max(x, n, &amax);
    if (amax < kGroupMaxEps) {
        std::fill(levels, levels + n, int8_t{0});
        return 0.0f;
    }
    const float iscale = to_float(-nmax) / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        levels[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * to_float(l);
        suml2 += w * to_float(l) * to_float(l);
    }
    for (int pass = 0; pass < 5; ++pass) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            const float level = to_float(levels[i]);
            float slx = sumlx - w * x[i] * level;
            if (slx > 0.0f) {
                float sl2 = suml2 - w * level * level;
                const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != levels[i]) {
                    slx += w * x[i] * to_float(new_l);
                    sl2 += w * to_float(new_l) * to_float(new_l);
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        levels[i] = static_cast<int8_t>(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (n_changed == 0) break;
    }
    for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(levels[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// How fit_scale_and_min searches: nstep + 1 trial inverse scales
// (rmin + rdelta * step + nmax) / (max - min), errors summed as |diff| or diff^2.
struct ScaleMinSearch {
    float rmin;
    float rdelta;
    int nstep;
    bool use_mad;
};

// ggml's make_qkx2_quants: levels in [0, nmax] for x ~ scale * level - the_min, with
// the_min >= 0, fitted by weighted least squares over the trial inverse scales of `search`
// and kept where the weighted error drops. Writes the levels; returns the scale.
float fit_scale_and_min(const float* x, int n, int nmax, const float* weights, uint8_t* levels,
                        float* the_min, const ScaleMinSearch& search) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        std::fill(levels, levels + n, uint8_t{0});
        *the_min = -min;
        return 0.0f;
    }
    float iscale = to_float(nmax) / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
        levels[i] = static_cast<uint8_t>(l);
        float diff = scale * to_float(l) + min - x[i];
        diff = search.use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (search.nstep < 1) {
        *the_min = -min;
        return scale;
    }
    uint8_t trial[kGroup32];
    for (int step = 0; step <= search.nstep; ++step) {
        iscale = (search.rmin + search.rdelta * to_float(step) + to_float(nmax)) / (max - min);
        float sum_l = 0.0f;
        float sum_l2 = 0.0f;
        float sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            trial[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * to_float(l);
            sum_l2 += w * to_float(l) * to_float(l);
            sum_xl += w * to_float(l) * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float error = 0.0f;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * to_float(trial[i]) + this_min - x[i];
                diff = search.use_mad ? std::fabs(diff) : diff * diff;
                error += weights[i] * diff;
            }
            if (error < best_error) {
                std::copy(trial, trial + n, levels);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Packs 256 2-bit levels: byte l of each 32-byte run holds elements l, l+32, l+64 and l+96 of
// its 128 elements, from the low bits up. Q2_K's and Q3_K's low bits share this layout.
void pack_2bit(const uint8_t* levels, uint8_t* qs) {
    for (int base = 0; base < kSuperBlock; base += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[base / 4 + l] =
                static_cast<uint8_t>(levels[base + l] | (levels[base + l + 32] << 2) |
                                     (levels[base + l + 64] << 4) | (levels[base + l + 96] << 6));
        }
    }
}

// Q3_K's 16 6-bit scales (stored offset by 32) in 12 bytes: the low nibbles of scales 0-7 and
// 8-15 share bytes 0-7, and byte 8 + j % 4 holds the high 2 bits at bit 2 * (j / 4).
int q3_k_scale(const uint8_t* packed, int j) {
    const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return static_cast<int8_t>(low | (high << 4)) - 32;
}

// Q4_K's and Q5_K's 8 6-bit scales and mins in 12 bytes (ggml's get_scale_min_k4): scales and
// mins 0-3 in the low 6 bits of bytes 0-3 and 4-7; those of 4-7 have their low nibbles in bytes
// 8-11 and their high 2 bits in the top bits of bytes 0-3 (scales) and 4-7 (mins).
void k4_scale_min(const uint8_t* packed, int j, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
        *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

void pack_k4_scale_min(uint8_t* packed, int j, uint8_t scale, uint8_t min) {
    if (j < 4) {
        packed[j] = scale;
        packed[j + 4] = min;
    } else {
        packed[j + 4] = static_cast<uint8_t>((scale & 0xF) | ((min & 0xF) << 4));
        packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((scale >> 4) << 6));
        packed[j] = static_cast<uint8_t>(packed[j] | ((min >> 4) << 6));
    }
}

// Q4_K's and Q5_K's quantizer up to the packing of the levels: per group of 32 a scale and min
// fitted with weights rms + |x|, both sets quantized to 6 bits against their maxima, then the
// levels recomputed from the rounded scales, as ggml does; groups whose scale rounds to zero
// keep the levels of the fit.
void quantize_scale_min_k4(const float* x, int nmax, const ScaleMinSearch& search, uint16_t* d,
                           uint16_t* dmin, uint8_t* packed, uint8_t* levels) {
    float scales[kGroups32];
    float mins[kGroups32];
    float weights[kGroup32];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < kGroups32; ++j) {
        const float* group = x + kGroup32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < kGroup32; ++l) sum_x2 += group[l] * group[l];
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < kGroup32; ++l) weights[l] = av_x + std::fabs(group[l]);
        scales[j] = fit_scale_and_min(group, kGroup32, nmax, weights, levels + kGroup32 * j,
                                      &mins[j], search);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::memset(packed, 0, kScaleBytesK);
    for (int j = 0; j < kGroups32; ++j) {
        // ggml narrows to uint8_t before clamping to 63; the order matters for wild values.
        const auto ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
        const auto lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
        pack_k4_scale_min(packed, j, std::min<uint8_t>(63, ls), std::min<uint8_t>(63, lm));
    }
    *d = fp32_to_fp16(max_scale / 63.0f);
    *dmin = fp32_to_fp16(max_min / 63.0f);

    const float d_value = fp16_to_fp32(*d);
    const float dmin_value = fp16_to_fp32(*dmin);
    for (int j = 0; j < kGroups32; ++j) {
        uint8_t scale = 0;
        uint8_t min = 0;
        k4_scale_min(packed, j, &scale, &min);
        const float group_d = d_value * to_float(scale);
        if (group_d == 0.0f) continue;
        const float group_min = dmin_value * to_float(min);
        for (int l = 0; l < kGroup32; ++l) {
            const int q = nearest_int((x[kGroup32 * j + l] + group_min) / group_d);
            levels[kGroup32 * j + l] = static_cast<uint8_t>(std::clamp(q, 0, nmax));
        }
    }
}

}  // namespace

void quantize_row_q2_k(const float* x, void* y, int64_t n) {
    constexpr float kScaleLevels = 15.0f;  // 4-bit scales and mins
    constexpr ScaleMinSearch kSearch{-0.5f, 0.1f, 15, true};
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ2_K block{};
        uint8_t levels[kSuperBlock];
        float scales[kGroups16];
        float mins[kGroups16];
        float weights[kGroup16];
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int j = 0; j < kGroups16; ++j) {
            const float* group = x + kGroup16 * j;
            for (int l = 0; l < kGroup16; ++l) weights[l] = std::fabs(group[l]);
            scales[j] = fit_scale_and_min(group, kGroup16, 3, weights, levels + kGroup16 * j,
                                          &mins[j], kSearch);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }

        // The 4-bit codes are stored unclamped, truncated to their byte, as ggml does.
        if (max_scale > 0.0f) {
            const float iscale = kScaleLevels / max_scale;
            for (int j = 0; j < kGroups16; ++j) {
                block.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
            }
            block.d = fp32_to_fp16(max_scale / kScaleLevels);
        } else {
            block.d = fp32_to_fp16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = kScaleLevels / max_min;
            for (int j = 0; j < kGroups16; ++j) {
                const int l = nearest_int(iscale * mins[j]);
                block.scales[j] = static_cast<uint8_t>(block.scales[j] | (l << 4));
            }
            block.dmin = fp32_to_fp16(max_min / kScaleLevels);
        } else {
            block.dmin = fp32_to_fp16(0.0f);
        }

        // Requantize against the rounded scales; a group whose scale is zero keeps its fit.
        const float d = fp16_to_fp32(block.d);
        const float dmin = fp16_to_fp32(block.dmin);
        for (int j = 0; j < kGroups16; ++j) {
            const float group_d = d * to_float(block.scales[j] & 0xF);
            if (group_d == 0.0f) continue;
            const float group_min = dmin * to_float(block.scales[j] >> 4);
            for (int l = 0; l < kGroup16; ++l) {
                const int q = nearest_int((x[kGroup16 * j + l] + group_min) / group_d);
                levels[kGroup16 * j + l] = static_cast<uint8_t>(std::clamp(q, 0, 3));
            }
        }
        pack_2bit(levels, block.qs);
        store_block(y, i, block);
    }
}

void quantize_row_q3_k(const float* x, void* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ3_K block{};
        int8_t levels[kSuperBlock];
        float scales[kGroups16];
        float max_scale = 0.0f;
        float max_abs_scale = 0.0f;
        for (int j = 0; j < kGroups16; ++j) {
            scales[j] =
                fit_symmetric_scale_iterated(x + kGroup16 * j, kGroup16, 4, levels + kGroup16 * j);
            const float abs_scale = std::fabs(scales[j]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[j];
            }
        }

        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < kGroups16; ++j) {
                // ggml narrows to int8_t before clamping; the order matters for wild values.
                const auto code = static_cast<int8_t>(nearest_int(iscale * scales[j]));
                const int stored = std::clamp<int>(code, -32, 31) + 32;
                if (j < 8) {
                    block.scales[j] = static_cast<uint8_t>(stored & 0xF);
                } else {
                    block.scales[j - 8] =
                        static_cast<uint8_t>(block.scales[j - 8] | ((stored & 0xF) << 4));
                }
                block.scales[8 + j % 4] = static_cast<uint8_t>(block.scales[8 + j % 4] |
                                                               ((stored >> 4) << (2 * (j / 4))));
            }
            block.d = fp32_to_fp16(1.0f / iscale);
        } else {
            block.d = fp32_to_fp16(0.0f);
        }

        // Requantize against the rounded scales; a group whose scale is zero keeps its fit.
        const float d = fp16_to_fp32(block.d);
        for (int j = 0; j < kGroups16; ++j) {
            const float group_d = d * to_float(q3_k_scale(block.scales, j));
            if (group_d == 0.0f) continue;
            for (int l = 0; l < kGroup16; ++l) {
                const int q = nearest_int(x[kGroup16 * j + l] / group_d);
                levels[kGroup16 * j + l] = static_cast<int8_t>(std::clamp(q, -4, 3) + 4);
            }
        }

        // Bit 2 of element e goes to bit e / 32 of hmask byte e % 32; the low 2 bits to qs.
        uint8_t low_bits[kSuperBlock];
        for (int e = 0; e < kSuperBlock; ++e) {
            int level = levels[e];
            if (level > 3) {
                block.hmask[e % 32] = static_cast<uint8_t>(block.hmask[e % 32] | (1 << (e / 32)));
                level -= 4;
            }
            low_bits[e] = static_cast<uint8_t>(level);
        }
        pack_2bit(low_bits, block.qs);
        store_block(y, i, block);
    }
}

void quantize_row_q4_k(const float* x, void* y, int64_t n) {
    constexpr ScaleMinSearch kSearch{-1.0f, 0.1f, 20, false};
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ4_K block{};
        uint8_t levels[kSuperBlock];
        quantize_scale_min_k4(x, 15, kSearch, &block.d, &block.dmin, block.scales, levels);
        // Each 32-byte run holds 64 elements: the first 32 in the low nibbles.
        for (int base = 0; base < kSuperBlock; base += 64) {
            for (int l = 0; l < 32; ++l) {
                block.qs[base / 2 + l] =
                    static_cast<uint8_t>(levels[base + l] | (levels[base + l + 32] << 4));
            }
        }
        store_block(y, i, block);
    }
}

void quantize_row_q5_k(const float* x, void* y, int64_t n) {
    constexpr ScaleMinSearch kSearch{-0.5f, 0.1f, 15, false};
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ5_K block{};
        uint8_t levels[kSuperBlock];
        quantize_scale_min_k4(x, 31, kSearch, &block.d, &block.dmin, block.scales, levels);
        // Low nibbles as in Q4_K; bit 4 of element e goes to bit e / 32 of qh byte e % 32.
        for (int base = 0; base < kSuperBlock; base += 64) {
            for (int l = 0; l < 32; ++l) {
                const int first = levels[base + l];
                const int second = levels[base + l + 32];
                block.qs[base / 2 + l] =
                    static_cast<uint8_t>((first & 0xF) | ((second & 0xF) << 4));
                block.qh[l] = static_cast<uint8_t>(block.qh[l] | ((first >> 4) << (base / 32)) |
                                                   ((second >> 4) << (base / 32 + 1)));
            }
        }
        store_block(y, i, block);
    }
}

void quantize_row_q6_k(const float* x, void* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ6_K block{};
        int8_t levels[kSuperBlock];
        float scales[kGroups16];
        float max_scale = 0.0f;
        float max_abs_scale = 0.0f;
        for (int j = 0; j < kGroups16; ++j) {
            scales[j] = fit_symmetric_scale(x + kGroup16 * j, kGroup16, 32, levels + kGroup16 * j);
            const float abs_scale = std::fabs(scales[j]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            block.d = fp32_to_fp16(0.0f);  // and all else zero
            store_block(y, i, block);
            continue;
        }

        // The scale of largest magnitude maps to -128; the others are clamped at 127 only.
        const float iscale = -128.0f / max_scale;
        block.d = fp32_to_fp16(1.0f / iscale);
        for (int j = 0; j < kGroups16; ++j) {
            block.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
        }

        // Requantize against the rounded scales; a group whose scale is zero keeps its fit.
        const float d = fp16_to_fp32(block.d);
        for (int j = 0; j < kGroups16; ++j) {
            const float group_d = d * to_float(block.scales[j]);
            if (group_d == 0.0f) continue;
            for (int l = 0; l < kGroup16; ++l) {
                const int q = nearest_int(x[kGroup16 * j + l] / group_d);
                levels[kGroup16 * j + l] = static_cast<int8_t>(std::clamp(q, -32, 31) + 32);
            }
        }

        // Per 128 elements: 64 bytes of low nibbles (elements l and l+64 share byte l, l+32
        // and l+96 byte l+32) and 32 bytes of high 2-bit pairs (l, l+32, l+64, l+96).
        for (int base = 0; base < kSuperBlock; base += 128) {
            uint8_t* ql = block.ql + base / 2;
            uint8_t* qh = block.qh + base / 4;
            for (int l = 0; l < 32; ++l) {
                const int q1 = levels[base + l];
                const int q2 = levels[base + l + 32];
                const int q3 = levels[base + l + 64];
                const int q4 = levels[base + l + 96];
                ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                             ((q4 >> 4) << 6));
            }
        }
        store_block(y, i, block);
    }
}

void quantize_row_q8_k(const float* x, void* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, x += kSuperBlock) {
        BlockQ8_K block{};
        float amax = 0.0f;
        const float max = signed_abs_max(x, kSuperBlock, &amax);
        // ggml leaves bsums of an all-zero block unwritten; here they are zero like the rest.
        if (amax == 0.0f) {
            store_block(y, i, block);
            continue;
        }
        // -127, not -128, so that the largest magnitude maps to ±127 whatever its sign.
        const float iscale = -127.0f / max;
        for (int j = 0; j < kSuperBlock; ++j) {
            block.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
        }
        for (int j = 0; j < kGroups16; ++j) {
            int sum = 0;
            for (int l = 0; l < kGroup16; ++l) sum += block.qs[kGroup16 * j + l];
            block.bsums[j] = static_cast<int16_t>(sum);
        }
        block.d = 1.0f / iscale;
        store_block(y, i, block);
    }
}

void dequantize_row_q2_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto block = load_block<BlockQ2_K>(x, i);
        const float d = fp16_to_fp32(block.d);
        const float dmin = fp16_to_fp32(block.dmin);
        for (int j = 0; j < kGroups16; ++j) {
            const int first = kGroup16 * j;  // the layout of pack_2bit
            const uint8_t* qs = block.qs + (first / 128) * 32 + first % 32;
            const int shift = 2 * ((first % 128) / 32);
            const float group_d = d * to_float(block.scales[j] & 0xF);
            const float group_min = dmin * to_float(block.scales[j] >> 4);
            for (int l = 0; l < kGroup16; ++l) {
                *y++ = group_d * to_float((qs[l] >> shift) & 3) - group_min;
            }
        }
    }
}

void dequantize_row_q3_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto block = load_block<BlockQ3_K>(x, i);
        const float d = fp16_to_fp32(block.d);
        for (int j = 0; j < kGroups16; ++j) {
            const int first = kGroup16 * j;
            const uint8_t* qs = block.qs + (first / 128) * 32 + first % 32;
            const int shift = 2 * ((first % 128) / 32);
            const uint8_t* hmask = block.hmask + first % 32;
            const int high_bit = first / 32;
            const float group_d = d * to_float(q3_k_scale(block.scales, j));
            for (int l = 0; l < kGroup16; ++l) {
                // A clear high bit means the level is negative (low - 4).
                const int low = (qs[l] >> shift) & 3;
                const int offset = ((hmask[l] >> high_bit) & 1) != 0 ? 0 : 4;
                *y++ = group_d * to_float(low - offset);
            }
        }
    }
}

void dequantize_row_q4_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto block = load_block<BlockQ4_K>(x, i);
        const float d = fp16_to_fp32(block.d);
        const float dmin = fp16_to_fp32(block.dmin);
        for (int j = 0; j < kGroups32; ++j) {
            uint8_t scale = 0;
            uint8_t min = 0;
            k4_scale_min(block.scales, j, &scale, &min);
            const float group_d = d * to_float(scale);
            const float group_min = dmin * to_float(min);
            const uint8_t* qs = block.qs + (j / 2) * 32;
            const int shift = 4 * (j % 2);
            for (int l = 0; l < kGroup32; ++l) {
                *y++ = group_d * to_float((qs[l] >> shift) & 0xF) - group_min;
            }
        }
    }
}

void dequantize_row_q5_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto block = load_block<BlockQ5_K>(x, i);
        const float d = fp16_to_fp32(block.d);
        const float dmin = fp16_to_fp32(block.dmin);
        for (int j = 0; j < kGroups32; ++j) {
            uint8_t scale = 0;
            uint8_t min = 0;
            k4_scale_min(block.scales, j, &scale, &min);
            const float group_d = d * to_float(scale);
            const float group_min = dmin * to_float(min);
            const uint8_t* qs = block.qs + (j / 2) * 32;
            const int shift = 4 * (j % 2);
            for (int l = 0; l < kGroup32; ++l) {
                const int q = ((qs[l] >> shift) & 0xF) | (((block.qh[l] >> j) & 1) << 4);
                *y++ = group_d * to_float(q) - group_min;
            }
        }
    }
}

void dequantize_row_q6_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i, y += kSuperBlock) {
        const auto block = load_block<BlockQ6_K>(x, i);
        const float d = fp16_to_fp32(block.d);
        // The layout of quantize_row_q6_k: per 128 elements, 64 bytes of low nibbles and 32 of
        // high bit pairs, element l + 32 * k for k = 0 ... 3 at nibble k / 2 of ql[l + 32 * (k %
        // 2)] and bit pair k of qh[l].
        for (int base = 0; base < kSuperBlock; base += 128) {
            const uint8_t* ql = block.ql + base / 2;
            const uint8_t* qh = block.qh + base / 4;
            const int8_t* scales = block.scales + base / kGroup16;
            for (int l = 0; l < 32; ++l) {
                const int group = l / kGroup16;
                for (int k = 0; k < 4; ++k) {
                    const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF;
                    const int high = (qh[l] >> (2 * k)) & 3;
                    const int q = (low | (high << 4)) - 32;
                    y[base + l + 32 * k] = d * to_float(scales[group + 2 * k]) * to_float(q);
                }
            }
        }
    }
}

void dequantize_row_q8_k(const void* x, float* y, int64_t n) {
    const int64_t n_blocks = n / kSuperBlock;
    for (int64_t i = 0; i < n_blocks; ++i) {
        const auto block = load_block<BlockQ8_K>(x, i);
        for (int j = 0; j < kSuperBlock; ++j) *y++ = block.d * to_float(block.qs[j]);
    }
}

}  // namespace tessera::quant

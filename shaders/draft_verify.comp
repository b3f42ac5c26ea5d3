// DRAFT_VERIFY (backends/backend.h) in one workgroup. The walk goes down the draft tree one row
// at a time; every thread follows it, and the decisions made by thread 0 reach the others
// through shared memory.
//   Greedy rows: a workgroup argmax (the first index of the maximum), as shaders/argmax.comp.
//   Sampled rows: the row's best candidates, at most MAX_CANDIDATES, are picked in rank order
//   (larger value, then lower index; NaN as -infinity) by repeated scans, as shaders/top_k.comp;
//   thread 0 then applies top-p, min-p and the temperature to them, sorts them by token index
//   and runs the acceptance tests and the draws over them. A token outside that set has
//   probability 0, so nothing outside it is ever needed (a residual max(0, p - q) is 0 there).
// Probabilities are floats here where the CPU uses doubles, and the uniforms keep 24 of their 53
// bits: results agree with the CPU up to that rounding.
#version 450
#include "common.glsl"

layout(push_constant, std430) uniform Parameters {
    uvec2 logits;   // F32 [n_vocab, k+1]
    uvec2 drafts;   // I32 [k]
    uvec2 q;        // F32 [n_vocab, k], or 0
    uvec2 parents;  // I32 [k], or 0
    uvec2 dst;      // I32 [k+2]
    uvec2 step;
    uint n_vocab;
    uint k;
    float temperature;
    int top_k;
    float top_p;
    float min_p;
    uint typical;
    float typical_epsilon;
    float typical_delta;
} p;

const uint MAX_CANDIDATES = 256;

shared float reduce_values[WORKGROUP_SIZE];
shared int reduce_indices[WORKGROUP_SIZE];
shared int candidate_ids[MAX_CANDIDATES];
shared float candidate_logits[MAX_CANDIDATES];
shared float candidate_probs[MAX_CANDIDATES];
shared int decided_node;   // the accepted child, or -1
shared int decided_token;  // the next token when no child was accepted

bool present(uvec2 address) {
    return address.x != 0u || address.y != 0u;
}

// 64-bit arithmetic on (low, high) pairs.
uvec2 add64(uvec2 a, uvec2 b) {
    uint carry;
    const uint low = uaddCarry(a.x, b.x, carry);
    return uvec2(low, a.y + b.y + carry);
}
uvec2 mul64(uvec2 a, uvec2 b) {
    uint high, low;
    umulExtended(a.x, b.x, high, low);
    return uvec2(low, high + a.x * b.y + a.y * b.x);
}
uvec2 xor_shift_right(uvec2 a, uint n) {  // a ^ (a >> n), 0 < n < 32
    return a ^ uvec2((a.x >> n) | (a.y << (32u - n)), a.y >> n);
}

// u(seed, index): splitmix64's (index + 1)-th output from the step's seed, its top 24 bits.
float uniform_at(uvec2 seed, uint index) {
    uvec2 z = add64(seed, mul64(uvec2(index + 1u, 0u), uvec2(0x7f4a7c15u, 0x9e3779b9u)));
    z = mul64(xor_shift_right(z, 30u), uvec2(0x1ce4e5b9u, 0xbf58476du));
    z = mul64(xor_shift_right(z, 27u), uvec2(0x133111ebu, 0x94d049bbu));
    z = xor_shift_right(z, 31u);
    return float(z.y >> 8u) * (1.0 / 16777216.0);
}

bool ranks_before(float a, int ia, float b, int ib) {
    return a > b || (a == b && ia < ib);
}

float logit_at(Floats logits, uint first, uint i) {
    const float x = logits.value[first + i];
    return isnan(x) ? uintBitsToFloat(0xff800000u) : x;
}

// The first index of the row's maximum, in every thread.
int row_argmax(Floats logits, uint first) {
    const uint t = gl_LocalInvocationID.x;
    float best_value = uintBitsToFloat(0xff800000u);
    int best_index = -1;
    for (uint i = t; i < p.n_vocab; i += WORKGROUP_SIZE) {
        const float x = logits.value[first + i];
        if (x > best_value) {
            best_value = x;
            best_index = int(i);
        }
    }
    reduce_values[t] = best_value;
    reduce_indices[t] = best_index;
    for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        barrier();
        if (t < stride) {
            const int other = reduce_indices[t + stride];
            const float other_value = reduce_values[t + stride];
            const int mine = reduce_indices[t];
            if (other >= 0 && (mine < 0 || other_value > reduce_values[t] ||
                               (other_value == reduce_values[t] && other < mine))) {
                reduce_values[t] = other_value;
                reduce_indices[t] = other;
            }
        }
    }
    barrier();
    const int result = max(reduce_indices[0], 0);
    barrier();
    return result;
}

// The row's n best candidates in rank order, into candidate_ids and candidate_logits.
void select_candidates(Floats logits, uint first, uint n) {
    const uint t = gl_LocalInvocationID.x;
    float previous_value = uintBitsToFloat(0x7f800000u);
    int previous_index = -1;
    for (uint pick = 0u; pick < n; ++pick) {
        float best_value = uintBitsToFloat(0xff800000u);
        int best_index = -1;
        for (uint i = t; i < p.n_vocab; i += WORKGROUP_SIZE) {
            const float x = logit_at(logits, first, i);
            const int index = int(i);
            if (!ranks_before(previous_value, previous_index, x, index)) continue;
            if (best_index < 0 || ranks_before(x, index, best_value, best_index)) {
                best_value = x;
                best_index = index;
            }
        }
        reduce_values[t] = best_value;
        reduce_indices[t] = best_index;
        for (uint stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
            barrier();
            if (t < stride) {
                const int other = reduce_indices[t + stride];
                if (other >= 0 && (reduce_indices[t] < 0 ||
                                   ranks_before(reduce_values[t + stride], other, reduce_values[t],
                                                reduce_indices[t]))) {
                    reduce_values[t] = reduce_values[t + stride];
                    reduce_indices[t] = other;
                }
            }
        }
        barrier();
        previous_value = reduce_values[0];
        previous_index = reduce_indices[0];
        if (t == 0u) {
            candidate_ids[pick] = previous_index;
            candidate_logits[pick] = previous_value;
        }
        barrier();
    }
}

// Thread 0: top-p, min-p and the temperature over the n ranked candidates, then sorted by
// token index with their probabilities. Returns how many are kept.
uint transform_candidates(uint n) {
    if (p.top_p < 1.0 && n > 1u) {
        const float top = candidate_logits[0];
        float total = 0.0;
        for (uint i = 0u; i < n; ++i) total += exp(candidate_logits[i] - top);
        float cumulative = 0.0;
        for (uint i = 0u; i < n; ++i) {
            cumulative += exp(candidate_logits[i] - top) / total;
            if (cumulative >= p.top_p) {
                n = i + 1u;
                break;
            }
        }
    }
    if (p.min_p > 0.0 && n > 1u) {
        const float floor_logit = candidate_logits[0] + log(p.min_p);
        uint kept = 0u;
        for (uint i = 0u; i < n; ++i) {
            if (candidate_logits[i] >= floor_logit) kept = i + 1u;  // a prefix: they are ranked
        }
        n = kept;
    }
    float top = uintBitsToFloat(0xff800000u);
    for (uint i = 0u; i < n; ++i) {
        candidate_logits[i] = candidate_logits[i] / p.temperature;
        top = max(top, candidate_logits[i]);
    }
    float total = 0.0;
    for (uint i = 0u; i < n; ++i) {
        candidate_probs[i] = exp(candidate_logits[i] - top);
        total += candidate_probs[i];
    }
    for (uint i = 0u; i < n; ++i) candidate_probs[i] /= total;
    // Insertion sort by token index: n is small.
    for (uint i = 1u; i < n; ++i) {
        const int id = candidate_ids[i];
        const float prob = candidate_probs[i];
        uint j = i;
        while (j > 0u && candidate_ids[j - 1u] > id) {
            candidate_ids[j] = candidate_ids[j - 1u];
            candidate_probs[j] = candidate_probs[j - 1u];
            --j;
        }
        candidate_ids[j] = id;
        candidate_probs[j] = prob;
    }
    return n;
}

float probability_of(int token, uint n) {
    for (uint i = 0u; i < n; ++i) {
        if (candidate_ids[i] == token) return candidate_probs[i];
    }
    return 0.0;
}

int draw(float u, uint n) {
    float total = 0.0;
    for (uint i = 0u; i < n; ++i) total += candidate_probs[i];
    const float target = u * total;
    float cumulative = 0.0;
    for (uint i = 0u; i < n; ++i) {
        cumulative += candidate_probs[i];
        if (target < cumulative) return candidate_ids[i];
    }
    for (uint i = n; i > 0u; --i) {
        if (candidate_probs[i - 1u] > 0.0) return candidate_ids[i - 1u];
    }
    return candidate_ids[max(int(n) - 1, 0)];
}

// p <- norm(max(0, p - q_node)), q_node a column of p.q or one-hot at `token`.
void subtract_rejected(int node, int token, uint n) {
    const bool has_q = present(p.q);
    Floats q = Floats(p.q);
    float total = 0.0;
    for (uint i = 0u; i < n; ++i) {
        const int id = candidate_ids[i];
        const float q_of = has_q ? q.value[uint(node) * p.n_vocab + uint(id)]
                                 : (id == token ? 1.0 : 0.0);
        total += max(0.0, candidate_probs[i] - q_of);
    }
    if (!(total > 0.0)) return;
    for (uint i = 0u; i < n; ++i) {
        const int id = candidate_ids[i];
        const float q_of = has_q ? q.value[uint(node) * p.n_vocab + uint(id)]
                                 : (id == token ? 1.0 : 0.0);
        candidate_probs[i] = max(0.0, candidate_probs[i] - q_of) / total;
    }
}

int parent_of(int node) {
    const int parent = present(p.parents) ? Ints(p.parents).value[node] : node - 1;
    return parent >= -1 && parent < node ? parent : -2;
}

void main() {
    const uint t = gl_LocalInvocationID.x;
    Floats logits = Floats(p.logits);
    Ints drafts = Ints(p.drafts);
    Ints dst = Ints(p.dst);
    const uvec2 seed = StepValues(p.step).seed;
    const bool greedy = !(p.temperature > 0.0);
    const uint n_select = p.top_k > 0 ? min(uint(p.top_k), p.n_vocab) : p.n_vocab;

    int current = -1;
    uint depth = 0u;
    for (uint guard = 0u; guard <= p.k; ++guard) {
        const uint first = uint(current + 1) * p.n_vocab;
        if (greedy) {
            const int best = row_argmax(logits, first);
            if (t == 0u) {
                decided_node = -1;
                decided_token = best;
                for (int j = current + 1; j < int(p.k); ++j) {
                    if (parent_of(j) == current && drafts.value[j] == best) {
                        decided_node = j;
                        break;
                    }
                }
            }
        } else {
            select_candidates(logits, first, n_select);
            if (t == 0u) {
                const uint n = transform_candidates(n_select);
                float threshold = 0.0;
                if (p.typical != 0u) {
                    float entropy = 0.0;
                    for (uint i = 0u; i < n; ++i) {
                        const float prob = candidate_probs[i];
                        if (prob > 0.0) entropy -= prob * log(prob);
                    }
                    threshold = min(p.typical_epsilon, p.typical_delta * exp(-entropy));
                }
                decided_node = -1;
                for (int j = current + 1; j < int(p.k); ++j) {
                    if (parent_of(j) != current) continue;
                    const int token = drafts.value[j];
                    if (token < 0 || uint(token) >= p.n_vocab) continue;
                    const float prob = probability_of(token, n);
                    if (p.typical != 0u) {
                        if (prob > threshold) {
                            decided_node = j;
                            break;
                        }
                        continue;
                    }
                    const float q_of = present(p.q)
                                           ? Floats(p.q).value[uint(j) * p.n_vocab + uint(token)]
                                           : 1.0;
                    if (uniform_at(seed, 2u * uint(j)) * q_of < prob) {
                        decided_node = j;
                        break;
                    }
                    subtract_rejected(j, token, n);
                }
                if (decided_node < 0) decided_token = draw(uniform_at(seed, 2u * depth + 1u), n);
            }
        }
        barrier();
        const int accepted = decided_node;
        const int next_token = decided_token;
        barrier();
        if (accepted < 0) {
            if (t == 0u) {
                dst.value[0] = int(depth);
                dst.value[1] = next_token;
                for (uint i = depth + 2u; i < p.k + 2u; ++i) dst.value[i] = -1;
            }
            return;
        }
        if (t == 0u) dst.value[depth + 2u] = accepted;
        ++depth;
        current = accepted;
    }
}

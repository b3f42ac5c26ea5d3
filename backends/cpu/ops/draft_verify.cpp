// DRAFT_VERIFY: the walk down the draft tree of backends/backend.h, one row at a time. Greedy
// rows need only their argmax; sampled rows are turned into a sparse distribution (the kept
// candidates, by token index, with their probabilities in double) by the sampler's stages, and
// rejections update that distribution in place. The work is sequential but small next to the
// forward pass that produced the logits: a partial sort of one row per depth at most.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/ops/ops.h"

namespace tessera::backend::cpu {

namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// The uniform of backends/backend.h: u(seed, index) in [0, 1).
double uniform_at(uint64_t seed, uint64_t index) {
    uint64_t z = seed + (index + 1) * kGolden;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

struct Candidate {
    int32_t id;
    float logit;
};

// Larger logit first, then lower id; NaN logits were made -infinity, so the order is strict.
bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

int32_t first_argmax(const float* row, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
        if (row[i] > row[best]) best = i;
    }
    return static_cast<int32_t>(best);
}

// A distribution over the kept candidates, by increasing token id.
struct Distribution {
    std::vector<int32_t> ids;
    std::vector<double> probs;

    double prob_of(int32_t id) const {
        const auto it = std::lower_bound(ids.begin(), ids.end(), id);
        if (it == ids.end() || *it != id) return 0.0;
        return probs[static_cast<size_t>(it - ids.begin())];
    }
    void normalize() {
        double total = 0.0;
        for (double p : probs) total += p;
        for (double& p : probs) p /= total;
    }
    // Walks the tokens in id order to u * total.
    int32_t draw(double u) const {
        double total = 0.0;
        for (double p : probs) total += p;
        const double target = u * total;
        double cumulative = 0.0;
        for (size_t i = 0; i < probs.size(); ++i) {
            cumulative += probs[i];
            if (target < cumulative) return ids[i];
        }
        for (size_t i = probs.size(); i-- > 0;) {
            if (probs[i] > 0.0) return ids[i];
        }
        return ids.empty() ? 0 : ids.back();
    }
    double entropy() const {
        double h = 0.0;
        for (double p : probs) {
            if (p > 0.0) h -= p * std::log(p);
        }
        return h;
    }
};

// softmax of the candidates' logits, in their order.
std::vector<double> softmax(const std::vector<Candidate>& candidates) {
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const Candidate& c : candidates) max_logit = std::max(max_logit, c.logit);
    std::vector<double> probs(candidates.size());
    double sum = 0.0;
    for (size_t i = 0; i < candidates.size(); ++i) {
        probs[i] =
            std::exp(static_cast<double>(candidates[i].logit) - static_cast<double>(max_logit));
        sum += probs[i];
    }
    for (double& p : probs) p /= sum;
    return probs;
}

// top-k -> top-p -> min-p -> temperature on one row, as runtime/sampler.h applies them.
Distribution transform(const float* row, int64_t n, const VerifyParams& params,
                       std::vector<Candidate>& candidates) {
    candidates.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const float logit = std::isnan(row[i]) ? -std::numeric_limits<float>::infinity() : row[i];
        candidates[static_cast<size_t>(i)] = {static_cast<int32_t>(i), logit};
    }
    if (params.top_k > 0 && params.top_k < n) {
        const auto keep = static_cast<std::ptrdiff_t>(params.top_k);
        std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                          ranks_before);
        candidates.resize(static_cast<size_t>(keep));
    }
    if (params.top_p < 1.0f && candidates.size() > 1) {
        std::sort(candidates.begin(), candidates.end(), ranks_before);
        const std::vector<double> probs = softmax(candidates);
        double cumulative = 0.0;
        for (size_t i = 0; i < probs.size(); ++i) {
            cumulative += probs[i];
            if (cumulative >= static_cast<double>(params.top_p)) {
                candidates.resize(i + 1);
                break;
            }
        }
    }
    if (params.min_p > 0.0f && candidates.size() > 1) {
        float max_logit = -std::numeric_limits<float>::infinity();
        for (const Candidate& c : candidates) max_logit = std::max(max_logit, c.logit);
        const double threshold =
            static_cast<double>(max_logit) + std::log(static_cast<double>(params.min_p));
        std::erase_if(candidates, [threshold](const Candidate& c) {
            return static_cast<double>(c.logit) < threshold;
        });
    }
    for (Candidate& c : candidates) c.logit /= params.temperature;
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    Distribution distribution;
    distribution.probs = softmax(candidates);
    distribution.ids.reserve(candidates.size());
    for (const Candidate& c : candidates) distribution.ids.push_back(c.id);
    return distribution;
}

// p <- norm(max(0, p - q)); q is a full column, or one-hot at `token` when null.
void subtract_rejected(Distribution& p, const float* q, int32_t token) {
    std::vector<double> residual(p.probs.size());
    double total = 0.0;
    for (size_t i = 0; i < p.probs.size(); ++i) {
        const double q_of =
            q != nullptr ? static_cast<double>(q[p.ids[i]]) : (p.ids[i] == token ? 1.0 : 0.0);
        residual[i] = std::max(0.0, p.probs[i] - q_of);
        total += residual[i];
    }
    if (!(total > 0.0)) return;
    p.probs = std::move(residual);
    p.normalize();
}

}  // namespace

void run_draft_verify(const CompiledNode& node, const OpContext& context) {
    const TensorRef& logits = node.src[0];
    const int64_t n_vocab = logits.shape[0];
    const auto k = static_cast<int32_t>(node.src[1].n_elements());
    const int32_t* tokens = node.src[1].i32();
    const float* q = node.src[2].data != nullptr ? node.src[2].f32() : nullptr;
    const int32_t* parents = node.src[3].data != nullptr ? node.src[3].i32() : nullptr;
    const VerifyParams& params = node.params.verify;
    const bool greedy = !(params.temperature > 0.0f);
    const uint64_t seed = context.step.seed;

    // children[parent + 1]: the nodes under `parent`, in index order.
    std::vector<std::vector<int32_t>> children(static_cast<size_t>(k) + 1);
    for (int32_t j = 0; j < k; ++j) {
        const int32_t parent = parents != nullptr ? parents[j] : j - 1;
        if (parent >= -1 && parent < j) children[static_cast<size_t>(parent + 1)].push_back(j);
    }
    const auto valid_token = [&](int32_t token) { return token >= 0 && token < n_vocab; };
    const auto row_of = [&](int32_t current) {
        return logits.f32() + static_cast<int64_t>(current + 1) * n_vocab;
    };

    std::vector<int32_t> path;
    int32_t current = -1;  // the root
    int32_t next_token = 0;
    std::vector<Candidate> scratch;
    while (true) {
        const std::vector<int32_t>& kids = children[static_cast<size_t>(current + 1)];
        int32_t accepted = -1;
        if (greedy) {
            const int32_t best = first_argmax(row_of(current), n_vocab);
            for (const int32_t kid : kids) {
                if (tokens[kid] == best) {
                    accepted = kid;
                    break;
                }
            }
            if (accepted < 0) next_token = best;
        } else {
            Distribution p = transform(row_of(current), n_vocab, params, scratch);
            const double typical_threshold =
                params.acceptance == Acceptance::Typical
                    ? std::min(static_cast<double>(params.typical_epsilon),
                               static_cast<double>(params.typical_delta) * std::exp(-p.entropy()))
                    : 0.0;
            for (const int32_t kid : kids) {
                const int32_t token = tokens[kid];
                if (!valid_token(token)) continue;
                const float* q_kid =
                    q != nullptr ? q + static_cast<int64_t>(kid) * n_vocab : nullptr;
                if (params.acceptance == Acceptance::Typical) {
                    if (p.prob_of(token) > typical_threshold) accepted = kid;
                } else {
                    const double q_of = q_kid != nullptr ? static_cast<double>(q_kid[token]) : 1.0;
                    const double u = uniform_at(seed, 2 * static_cast<uint64_t>(kid));
                    if (u * q_of < p.prob_of(token)) {
                        accepted = kid;
                    } else {
                        subtract_rejected(p, q_kid, token);
                    }
                }
                if (accepted >= 0) break;
            }
            if (accepted < 0) {
                next_token = p.draw(uniform_at(seed, 2 * static_cast<uint64_t>(path.size()) + 1));
            }
        }
        if (accepted < 0) break;
        path.push_back(accepted);
        current = accepted;
    }

    int32_t* out = node.dst.i32();
    std::fill(out, out + k + 2, -1);
    out[0] = static_cast<int32_t>(path.size());
    out[1] = next_token;
    std::copy(path.begin(), path.end(), out + 2);
}

}  // namespace tessera::backend::cpu

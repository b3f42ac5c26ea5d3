#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "formats/error.h"

namespace tessera {

namespace {

uint64_t rotate_left(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Larger logit first; equal logits by lower id, so that ties resolve the same everywhere.
bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// llama.cpp's penalties for a token seen `count` (> 0) times in the window.
float penalized(float logit, int32_t count, float repeat_penalty, float frequency_penalty,
                float presence_penalty) {
    logit = logit <= 0.0f ? logit * repeat_penalty : logit / repeat_penalty;
    return logit - (static_cast<float>(count) * frequency_penalty + presence_penalty);
}

// The index of the largest value, the first among equal ones.
int32_t first_argmax(std::span<const float> values) {
    size_t best = 0;
    for (size_t i = 1; i < values.size(); ++i) {
        if (values[i] > values[best]) best = i;
    }
    return static_cast<int32_t>(best);
}

void check(bool ok, const char* what) {
    if (!ok) throw Error(std::string("sampler: ") + what);
}

}  // namespace

Xoshiro256::Xoshiro256(uint64_t seed) {
    uint64_t s = seed;
    for (uint64_t& word : state_) word = splitmix64(s);
}

uint64_t Xoshiro256::next() {
    const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate_left(state_[3], 45);
    return result;
}

double Xoshiro256::uniform() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

namespace sampling {

void apply_penalties(std::vector<Candidate>& candidates,
                     const std::unordered_map<int32_t, int32_t>& counts, float repeat_penalty,
                     float frequency_penalty, float presence_penalty) {
    for (const auto& [token, count] : counts) {
        if (count <= 0) continue;
        // The chain starts with one candidate per token in id order, so the token is usually at
        // its own index; a list built otherwise is searched.
        Candidate* candidate = nullptr;
        if (token >= 0 && static_cast<size_t>(token) < candidates.size() &&
            candidates[static_cast<size_t>(token)].id == token) {
            candidate = &candidates[static_cast<size_t>(token)];
        } else {
            const auto it = std::find_if(candidates.begin(), candidates.end(),
                                         [token](const Candidate& c) { return c.id == token; });
            if (it == candidates.end()) continue;
            candidate = &*it;
        }
        candidate->logit =
            penalized(candidate->logit, count, repeat_penalty, frequency_penalty, presence_penalty);
    }
}

void top_k(std::vector<Candidate>& candidates, int32_t k) {
    if (k <= 0 || candidates.empty()) return;
    const size_t keep = std::min(static_cast<size_t>(k), candidates.size());
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep),
                      candidates.end(), ranks_before);
    candidates.resize(keep);
}

void top_p(std::vector<Candidate>& candidates, float p) {
    if (p >= 1.0f || candidates.size() <= 1) return;
    std::sort(candidates.begin(), candidates.end(), ranks_before);
    const std::vector<double> probs = probabilities(candidates);
    double cumulative = 0.0;
    for (size_t i = 0; i < probs.size(); ++i) {
        cumulative += probs[i];
        if (cumulative >= static_cast<double>(p)) {
            candidates.resize(i + 1);
            return;
        }
    }
}

void min_p(std::vector<Candidate>& candidates, float p) {
    if (p <= 0.0f || candidates.size() <= 1) return;
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const Candidate& c : candidates) max_logit = std::max(max_logit, c.logit);
    // prob >= p * max_prob  <=>  logit >= max_logit + log(p), the softmax's sum cancelling.
    const double threshold = static_cast<double>(max_logit) + std::log(static_cast<double>(p));
    std::erase_if(candidates, [threshold](const Candidate& c) {
        return static_cast<double>(c.logit) < threshold;
    });
}

void apply_temperature(std::vector<Candidate>& candidates, float temperature) {
    if (candidates.empty()) return;
    if (temperature <= 0.0f) {
        const int32_t best = argmax(candidates);
        std::erase_if(candidates, [best](const Candidate& c) { return c.id != best; });
        return;
    }
    for (Candidate& c : candidates) c.logit /= temperature;
}

std::vector<double> probabilities(const std::vector<Candidate>& candidates) {
    std::vector<double> probs(candidates.size());
    if (candidates.empty()) return probs;
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const Candidate& c : candidates) max_logit = std::max(max_logit, c.logit);
    double sum = 0.0;
    for (size_t i = 0; i < candidates.size(); ++i) {
        probs[i] =
            std::exp(static_cast<double>(candidates[i].logit) - static_cast<double>(max_logit));
        sum += probs[i];
    }
    for (double& prob : probs) prob /= sum;
    return probs;
}

int32_t argmax(const std::vector<Candidate>& candidates) {
    const Candidate* best = nullptr;
    for (const Candidate& c : candidates) {
        if (best == nullptr || ranks_before(c, *best)) best = &c;
    }
    return best == nullptr ? -1 : best->id;
}

int32_t draw(const std::vector<Candidate>& candidates, double u) {
    if (candidates.empty()) return -1;
    const std::vector<double> probs = probabilities(candidates);
    // probabilities() sums to 1 up to rounding; walking to u * total keeps every candidate's
    // share exact whatever the rounding was.
    double total = 0.0;
    for (double prob : probs) total += prob;
    const double target = u * total;
    double cumulative = 0.0;
    for (size_t i = 0; i < probs.size(); ++i) {
        cumulative += probs[i];
        if (target < cumulative) return candidates[i].id;
    }
    // u * total rounded up to the total: the last candidate with any probability.
    for (size_t i = probs.size(); i-- > 0;) {
        if (probs[i] > 0.0) return candidates[i].id;
    }
    return candidates.back().id;
}

}  // namespace sampling

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
    check(std::isfinite(params.temperature), "temperature must be a finite number");
    check(params.top_p >= 0.0f && params.top_p <= 1.0f, "top-p must be between 0 and 1");
    check(params.min_p >= 0.0f && params.min_p <= 1.0f, "min-p must be between 0 and 1");
    check(params.penalty_last_n >= -1, "the penalty window must be -1 (all), 0 (off) or more");
    check(params.repeat_penalty > 0.0f && std::isfinite(params.repeat_penalty),
          "the repetition penalty must be a positive number");
    check(std::isfinite(params.frequency_penalty), "the frequency penalty must be a finite number");
    check(std::isfinite(params.presence_penalty), "the presence penalty must be a finite number");
}

bool Sampler::penalties_active() const {
    return params_.penalty_last_n != 0 &&
           (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
            params_.presence_penalty != 0.0f);
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (logits.empty()) throw Error("sampler: no logits to sample from");
    // Greedy: the filters always keep the largest logit, so they cannot change the choice; only
    // the penalties can.
    if (params_.temperature <= 0.0f) {
        if (!penalties_active() || counts_.empty()) return first_argmax(logits);
        penalized_logits_.assign(logits.begin(), logits.end());
        for (const auto& [token, count] : counts_) {
            if (token < 0 || static_cast<size_t>(token) >= logits.size()) continue;
            float& logit = penalized_logits_[static_cast<size_t>(token)];
            logit = penalized(logit, count, params_.repeat_penalty, params_.frequency_penalty,
                              params_.presence_penalty);
        }
        return first_argmax(penalized_logits_);
    }
    candidates_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        candidates_[i] = {static_cast<int32_t>(i), logits[i]};
    }
    if (penalties_active()) {
        sampling::apply_penalties(candidates_, counts_, params_.repeat_penalty,
                                  params_.frequency_penalty, params_.presence_penalty);
    }
    sampling::top_k(candidates_, params_.top_k);
    sampling::top_p(candidates_, params_.top_p);
    sampling::min_p(candidates_, params_.min_p);
    sampling::apply_temperature(candidates_, params_.temperature);
    return sampling::draw(candidates_, rng_.uniform());
}

void Sampler::accept(int32_t token) {
    if (params_.penalty_last_n == 0) return;
    window_.push_back(token);
    ++counts_[token];
    if (params_.penalty_last_n > 0 &&
        window_.size() > static_cast<size_t>(params_.penalty_last_n)) {
        const int32_t oldest = window_.front();
        window_.pop_front();
        if (--counts_[oldest] == 0) counts_.erase(oldest);
    }
}

void Sampler::reset() {
    window_.clear();
    counts_.clear();
    rng_ = Xoshiro256(params_.seed);
}

}  // namespace tessera

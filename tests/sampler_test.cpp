// The sampler: its generator against reference outputs, greedy choice, reproducibility by seed,
// each filter on hand-made distributions, the penalties, and a chi-square test that temperature
// sampling draws from softmax(logits / T) (and that the same test rejects a wrong distribution).
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "formats/error.h"

namespace tessera {
namespace {

std::vector<Candidate> candidates_from(const std::vector<float>& logits) {
    std::vector<Candidate> out;
    for (size_t i = 0; i < logits.size(); ++i) out.push_back({static_cast<int32_t>(i), logits[i]});
    return out;
}

std::vector<float> log_of(const std::vector<double>& probs) {
    std::vector<float> out;
    for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
    return out;
}

std::set<int32_t> ids(const std::vector<Candidate>& candidates) {
    std::set<int32_t> out;
    for (const Candidate& c : candidates) out.insert(c.id);
    return out;
}

// Pure sampling from softmax(logits / T): every filter off.
SamplerParams plain(uint64_t seed, float temperature = 1.0f) {
    SamplerParams p;
    p.seed = seed;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

std::vector<float> random_logits(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<float> logits(n);
    // Built from the raw generator output, not a distribution, to be the same everywhere.
    for (float& l : logits) l = static_cast<float>(rng() % 20001) / 1000.0f - 10.0f;
    return logits;
}

TEST(SamplerRng, MatchesXoshiro256StarStarSeededBySplitmix64) {
    // splitmix64 from 0 gives 0xe220a8397b1dcdaf first (Vigna's reference); the outputs below
    // come from the reference algorithm run on that seeding.
    Xoshiro256 rng(0);
    const uint64_t expected[] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull,
                                 0x1a5f849d4933e6e0ull, 0x6aa594f1262d2d2cull,
                                 0xbba5ad4a1f842e59ull};
    for (uint64_t e : expected) EXPECT_EQ(rng.next(), e);
}

TEST(SamplerRng, UniformIsInUnitIntervalWithMeanOneHalf) {
    Xoshiro256 rng(42);
    double sum = 0.0;
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
        const double u = rng.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    // Standard error of the mean is 1/sqrt(12 n) ~ 0.0009.
    EXPECT_NEAR(sum / n, 0.5, 0.005);
}

TEST(Sampler, GreedyIsArgmax) {
    for (uint32_t seed = 0; seed < 20; ++seed) {
        const std::vector<float> logits = random_logits(1000, seed);
        SamplerParams p;  // default filters on, but temperature 0
        p.temperature = 0.0f;
        Sampler sampler(p);
        const auto expected = std::max_element(logits.begin(), logits.end()) - logits.begin();
        EXPECT_EQ(sampler.sample(logits), expected);
    }
    // Ties go to the lowest id.
    Sampler sampler(plain(1, 0.0f));
    EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 3.0f, 0.0f, 3.0f}), 1);
}

TEST(Sampler, GreedyWithPenaltiesIsArgmaxOfThePenalizedCandidates) {
    for (uint32_t seed = 0; seed < 20; ++seed) {
        const std::vector<float> logits = random_logits(500, seed);
        SamplerParams p = plain(0, 0.0f);
        p.repeat_penalty = 1.5f;
        p.frequency_penalty = 0.3f;
        p.presence_penalty = 0.4f;
        p.penalty_last_n = 32;
        Sampler sampler(p);
        // A window of the most likely tokens, some repeated, so that the penalties matter.
        auto ranked = candidates_from(logits);
        sampling::top_k(ranked, 10);
        std::unordered_map<int32_t, int32_t> counts;
        std::mt19937 rng(seed);
        for (int i = 0; i < 40; ++i) {
            const int32_t token = ranked[rng() % ranked.size()].id;
            sampler.accept(token);
            if (i >= 40 - 32) ++counts[token];
        }
        auto c = candidates_from(logits);
        sampling::apply_penalties(c, counts, 1.5f, 0.3f, 0.4f);
        EXPECT_EQ(sampler.sample(logits), sampling::argmax(c)) << "seed " << seed;
    }
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
    const std::vector<float> logits = random_logits(50, 3);
    const auto run = [&](uint64_t seed) {
        Sampler sampler(plain(seed, 2.0f));
        std::vector<int32_t> out;
        for (int i = 0; i < 200; ++i) out.push_back(sampler.sample(logits));
        return out;
    };
    EXPECT_EQ(run(7), run(7));
    EXPECT_NE(run(7), run(8));
    // reset() replays from the seed.
    Sampler sampler(plain(7, 2.0f));
    std::vector<int32_t> first, second;
    for (int i = 0; i < 50; ++i) first.push_back(sampler.sample(logits));
    sampler.reset();
    for (int i = 0; i < 50; ++i) second.push_back(sampler.sample(logits));
    EXPECT_EQ(first, second);
}

TEST(SamplerFilters, TopKKeepsExactlyTheKLargest) {
    const std::vector<float> logits = {0.3f, 2.0f, -1.0f, 5.0f, 1.5f, 4.0f, 0.0f};
    for (int32_t k = 1; k <= 7; ++k) {
        auto c = candidates_from(logits);
        sampling::top_k(c, k);
        ASSERT_EQ(c.size(), static_cast<size_t>(k));
        std::vector<float> sorted = logits;
        std::sort(sorted.rbegin(), sorted.rend());
        for (int32_t i = 0; i < k; ++i) EXPECT_EQ(c[i].logit, sorted[i]) << "k " << k;
    }
    auto c = candidates_from(logits);
    sampling::top_k(c, 3);
    EXPECT_EQ(ids(c), (std::set<int32_t>{3, 5, 1}));
    // Off for k <= 0; k past the size keeps everything.
    c = candidates_from(logits);
    sampling::top_k(c, 0);
    EXPECT_EQ(c.size(), logits.size());
    sampling::top_k(c, 100);
    EXPECT_EQ(c.size(), logits.size());
    // Ties at the boundary keep the lower ids.
    c = candidates_from({1.0f, 2.0f, 2.0f, 2.0f});
    sampling::top_k(c, 2);
    EXPECT_EQ(ids(c), (std::set<int32_t>{1, 2}));
}

TEST(SamplerFilters, TopPKeepsTheSmallestSetReachingP) {
    // Probabilities 0.5, 0.2, 0.15, 0.1, 0.05, given out of order.
    const std::vector<float> logits = log_of({0.1, 0.5, 0.05, 0.2, 0.15});
    const auto kept = [&](float p) {
        auto c = candidates_from(logits);
        sampling::top_p(c, p);
        return ids(c);
    };
    EXPECT_EQ(kept(0.3f), (std::set<int32_t>{1}));           // 0.5 >= 0.3
    EXPECT_EQ(kept(0.6f), (std::set<int32_t>{1, 3}));        // 0.5 < 0.6 <= 0.7
    EXPECT_EQ(kept(0.8f), (std::set<int32_t>{1, 3, 4}));     // 0.7 < 0.8 <= 0.85
    EXPECT_EQ(kept(0.9f), (std::set<int32_t>{1, 3, 4, 0}));  // 0.85 < 0.9 <= 0.95
    EXPECT_EQ(kept(0.97f), (std::set<int32_t>{1, 3, 4, 0, 2}));
    EXPECT_EQ(kept(1.0f).size(), 5u);
    EXPECT_EQ(kept(0.0f), (std::set<int32_t>{1}));  // always one left
}

TEST(SamplerFilters, MinPThresholdIsRelativeToTheMostProbable) {
    const std::vector<float> logits = log_of({0.1, 0.5, 0.05, 0.2, 0.15});
    const auto kept = [&](float p) {
        auto c = candidates_from(logits);
        sampling::min_p(c, p);
        return ids(c);
    };
    EXPECT_EQ(kept(0.25f), (std::set<int32_t>{1, 3, 4}));  // >= 0.125
    EXPECT_EQ(kept(0.35f), (std::set<int32_t>{1, 3}));     // >= 0.175
    EXPECT_EQ(kept(0.5f), (std::set<int32_t>{1}));         // >= 0.25
    EXPECT_EQ(kept(0.05f).size(), 5u);                     // >= 0.025
    EXPECT_EQ(kept(0.0f).size(), 5u);                      // off
    // Relative, not absolute: scaling every probability's share does not matter.
    auto c = candidates_from({10.0f, 10.0f + std::log(0.3f), 10.0f + std::log(0.2f)});
    sampling::min_p(c, 0.25f);
    EXPECT_EQ(ids(c), (std::set<int32_t>{0, 1}));
}

TEST(SamplerFilters, TemperatureScalesAndZeroKeepsTheMaximum) {
    auto c = candidates_from({1.0f, -2.0f, 4.0f});
    sampling::apply_temperature(c, 0.5f);
    EXPECT_FLOAT_EQ(c[0].logit, 2.0f);
    EXPECT_FLOAT_EQ(c[1].logit, -4.0f);
    EXPECT_FLOAT_EQ(c[2].logit, 8.0f);
    sampling::apply_temperature(c, 0.0f);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].id, 2);
}

TEST(SamplerPenalties, RepeatDividesPositiveMultipliesNegativePresenceSubtracts) {
    const std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f};
    const std::unordered_map<int32_t, int32_t> counts = {{0, 2}, {1, 1}};
    auto c = candidates_from(logits);
    sampling::apply_penalties(c, counts, 2.0f, 0.0f, 0.0f);
    EXPECT_FLOAT_EQ(c[0].logit, 1.0f);
    EXPECT_FLOAT_EQ(c[1].logit, -4.0f);
    EXPECT_FLOAT_EQ(c[2].logit, 1.0f);
    EXPECT_FLOAT_EQ(c[3].logit, 0.5f);

    c = candidates_from(logits);
    sampling::apply_penalties(c, counts, 1.0f, 0.0f, 0.75f);
    EXPECT_FLOAT_EQ(c[0].logit, 1.25f);  // once per token, whatever its count
    EXPECT_FLOAT_EQ(c[1].logit, -2.75f);
    EXPECT_FLOAT_EQ(c[2].logit, 1.0f);

    c = candidates_from(logits);
    sampling::apply_penalties(c, counts, 1.0f, 0.25f, 0.0f);
    EXPECT_FLOAT_EQ(c[0].logit, 1.5f);  // count 2
    EXPECT_FLOAT_EQ(c[1].logit, -2.25f);

    // A list not in id order is searched.
    c = {{3, 0.5f}, {0, 2.0f}};
    sampling::apply_penalties(c, counts, 2.0f, 0.0f, 0.0f);
    EXPECT_FLOAT_EQ(c[1].logit, 1.0f);
    EXPECT_FLOAT_EQ(c[0].logit, 0.5f);
}

TEST(SamplerPenalties, WindowCoversTheLastNAcceptedTokens) {
    // Token 0 leads, token 1 is close behind; penalizing 0 makes greedy choose 1.
    const std::vector<float> logits = {3.0f, 2.5f, 0.0f};
    SamplerParams p = plain(0, 0.0f);
    p.repeat_penalty = 1.5f;
    p.penalty_last_n = 2;
    Sampler sampler(p);
    EXPECT_EQ(sampler.sample(logits), 0);
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);  // 3 / 1.5 = 2 < 2.5
    sampler.accept(2);
    EXPECT_EQ(sampler.sample(logits), 1);  // 0 still in the last two
    sampler.accept(2);
    EXPECT_EQ(sampler.sample(logits), 0);  // 0 has left the window
    sampler.reset();
    EXPECT_EQ(sampler.sample(logits), 0);

    // Presence penalty through the sampler, window of all tokens.
    SamplerParams q = plain(0, 0.0f);
    q.presence_penalty = 0.6f;
    q.penalty_last_n = -1;
    Sampler with_presence(q);
    with_presence.accept(0);
    for (int i = 0; i < 100; ++i) with_presence.accept(2);
    EXPECT_EQ(with_presence.sample(logits), 1);  // 3 - 0.6 = 2.4 < 2.5

    // Off when the window is 0.
    SamplerParams off = p;
    off.penalty_last_n = 0;
    Sampler unpenalized(off);
    unpenalized.accept(0);
    EXPECT_EQ(unpenalized.sample(logits), 0);
}

TEST(Sampler, DrawsOnlyFromWhatTheFiltersKeep) {
    const std::vector<float> logits = random_logits(200, 11);
    SamplerParams p = plain(5, 3.0f);
    p.top_k = 7;
    Sampler sampler(p);
    auto top = candidates_from(logits);
    sampling::top_k(top, 7);
    const std::set<int32_t> allowed = ids(top);
    std::set<int32_t> seen;
    for (int i = 0; i < 5000; ++i) seen.insert(sampler.sample(logits));
    EXPECT_EQ(seen, allowed);  // all seven seen at T = 3, nothing else
}

TEST(Sampler, RefusesParametersOutOfRange) {
    const auto make = [](auto change) {
        SamplerParams p;
        change(p);
        Sampler s(p);
    };
    EXPECT_THROW(make([](SamplerParams& p) { p.top_p = 1.5f; }), Error);
    EXPECT_THROW(make([](SamplerParams& p) { p.min_p = -0.1f; }), Error);
    EXPECT_THROW(make([](SamplerParams& p) { p.repeat_penalty = 0.0f; }), Error);
    EXPECT_THROW(make([](SamplerParams& p) { p.penalty_last_n = -2; }), Error);
    EXPECT_THROW(make([](SamplerParams& p) { p.temperature = NAN; }), Error);
    EXPECT_NO_THROW(make([](SamplerParams&) {}));
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int>& observed, const std::vector<double>& expected) {
    const double n = std::accumulate(observed.begin(), observed.end(), 0.0);
    double chi2 = 0.0;
    for (size_t i = 0; i < observed.size(); ++i) {
        const double e = n * expected[i];
        chi2 += (observed[i] - e) * (observed[i] - e) / e;
    }
    return chi2;
}

// P(X >= x) for X chi-square with an even number of degrees of freedom 2m:
// exp(-x/2) * sum_{i<m} (x/2)^i / i!.
double chi_square_tail(double x, int degrees_of_freedom) {
    const double half = x / 2.0;
    double term = 1.0, sum = 0.0;
    for (int i = 0; i < degrees_of_freedom / 2; ++i) {
        sum += term;
        term *= half / (i + 1);
    }
    return std::exp(-half) * sum;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    std::vector<double> p(logits.size());
    double sum = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] / temperature);
    for (double& v : p) v /= sum;
    return p;
}

TEST(SamplerDistribution, TemperatureSamplingReproducesSoftmaxOverT) {
    // Nine tokens: 8 degrees of freedom. With a fixed seed the test is deterministic; a correct
    // sampler passes p >= 1e-6 with room to spare, a wrong distribution fails by far.
    const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.7f, -0.2f};
    const float temperature = 0.7f;
    const int draws = 200000;
    Sampler sampler(plain(2024, temperature));
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i) ++counts[sampler.sample(logits)];

    const int dof = static_cast<int>(logits.size()) - 1;
    const double right = chi_square(counts, softmax(logits, temperature));
    EXPECT_GT(chi_square_tail(right, dof), 1e-6) << "chi2 " << right;
    EXPECT_LT(right, 42.7);  // the p = 1e-6 critical value for 8 dof is about 42.7

    // The same draws against softmax at T = 1 and at T = 0.8: both rejected.
    const double at_one = chi_square(counts, softmax(logits, 1.0));
    EXPECT_LT(chi_square_tail(at_one, dof), 1e-6) << "chi2 " << at_one;
    const double at_point_eight = chi_square(counts, softmax(logits, 0.8));
    EXPECT_LT(chi_square_tail(at_point_eight, dof), 1e-6) << "chi2 " << at_point_eight;
}

TEST(SamplerDistribution, TopKThenTemperatureRenormalizesOverTheKept) {
    const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.7f, -0.2f};
    SamplerParams p = plain(99, 1.3f);
    p.top_k = 5;  // keeps ids 3, 5, 0, 7, 1
    Sampler sampler(p);
    std::vector<int> all(logits.size(), 0);
    const int draws = 100000;
    for (int i = 0; i < draws; ++i) ++all[sampler.sample(logits)];
    const std::vector<int32_t> kept = {3, 5, 0, 7, 1};
    std::vector<float> kept_logits;
    std::vector<int> observed;
    int outside = draws;
    for (int32_t id : kept) {
        kept_logits.push_back(logits[id]);
        observed.push_back(all[id]);
        outside -= all[id];
    }
    EXPECT_EQ(outside, 0);
    // 5 categories, 4 dof.
    const double chi2 = chi_square(observed, softmax(kept_logits, 1.3));
    EXPECT_GT(chi_square_tail(chi2, 4), 1e-6) << "chi2 " << chi2;
}

}  // namespace
}  // namespace tessera

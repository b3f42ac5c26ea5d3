// DRAFT_VERIFY keeps the target's distribution: over many seeds, with drafts drawn from a draft
// distribution q unlike the target's p, the first token a step emits (the accepted first draft,
// or the next token when it is rejected) must follow p_0, the first row after the sampler's
// transforms, and the second (given the first draft was accepted) p_1. A chi-square test decides,
// at a p-value of 1e-6 on either side: too far from p fails, and so does a fit too good to be
// chance. The same counts compared with a slightly wrong distribution must fail, so the test has
// the power to see an error of that size.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "tests/op_reference.h"

namespace tessera::backend {
namespace {

using quant::TensorType;

// The regularized upper incomplete gamma function Q(a, x): a series for P below a + 1, a
// continued fraction (evaluated by the modified Lentz method) above.
double upper_gamma_q(double a, double x) {
    if (x <= 0.0) return 1.0;
    const double log_prefix = a * std::log(x) - x - std::lgamma(a);
    if (x < a + 1.0) {
        double term = 1.0 / a;
        double sum = term;
        for (int n = 1; n < 1000; ++n) {
            term *= x / (a + n);
            sum += term;
            if (term < sum * 1e-16) break;
        }
        return 1.0 - sum * std::exp(log_prefix);
    }
    constexpr double kTiny = 1e-300;
    double b = x + 1.0 - a;
    double c = 1.0 / kTiny;
    double d = 1.0 / b;
    double h = d;
    for (int i = 1; i < 1000; ++i) {
        const double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (std::abs(d) < kTiny) d = kTiny;
        c = b + an / c;
        if (std::abs(c) < kTiny) c = kTiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::abs(delta - 1.0) < 1e-16) break;
    }
    return std::exp(log_prefix) * h;
}

// The chi-square statistic's p-value for counts against a distribution; a count where the
// distribution is zero gives 0 at once.
double chi_square_p_value(const std::vector<int64_t>& counts, const std::vector<double>& p) {
    int64_t n = 0;
    for (int64_t c : counts) n += c;
    double statistic = 0.0;
    int cells = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (p[i] <= 0.0) {
            if (counts[i] > 0) return 0.0;
            continue;
        }
        const double expected = p[i] * static_cast<double>(n);
        const double deviation = static_cast<double>(counts[i]) - expected;
        statistic += deviation * deviation / expected;
        ++cells;
    }
    return upper_gamma_q((cells - 1) / 2.0, statistic / 2.0);
}

constexpr double kSignificance = 1e-6;

struct Observed {
    std::vector<int64_t> first;   // the first emitted token
    std::vector<int64_t> second;  // the second, in steps that accepted the first draft
};

// Runs DRAFT_VERIFY `n_steps` times on the CPU: each step draws a chain of k drafts from q (or
// takes the fixed `drafts` when q is empty) and gets a fresh seed.
Observed run_steps(const std::vector<float>& logits, int64_t n_vocab, int32_t k,
                   const std::vector<float>& q, const std::vector<int32_t>& fixed_drafts,
                   const std::vector<int32_t>& parents, const VerifyParams& params, int n_steps) {
    const std::shared_ptr<Device> device = open_device("cpu");
    Graph graph;
    auto add = [&](const std::string& name, TensorType type, std::array<int64_t, kMaxDims> shape) {
        Tensor t;
        t.type = type;
        t.shape = shape;
        t.name = name;
        t.buffer = static_cast<uint32_t>(graph.tensors.size());
        graph.tensors.push_back(t);
        return static_cast<int32_t>(graph.tensors.size() - 1);
    };
    const int32_t logits_id = add("logits", TensorType::F32, {n_vocab, k + 1, 1, 1});
    const int32_t drafts_id = add("drafts", TensorType::I32, {k, 1, 1, 1});
    const int32_t q_id = q.empty() ? -1 : add("q", TensorType::F32, {n_vocab, k, 1, 1});
    const int32_t parents_id = parents.empty() ? -1 : add("parents", TensorType::I32, {k, 1, 1, 1});
    const int32_t out_id = add("verdict", TensorType::I32, {k + 2, 1, 1, 1});
    Node node{Op::DRAFT_VERIFY, {logits_id, drafts_id, q_id, parents_id}, out_id, {}};
    node.params.verify = params;
    graph.nodes.push_back(node);

    std::vector<std::unique_ptr<Buffer>> buffers;
    std::vector<Buffer*> pointers;
    for (const Tensor& t : graph.tensors) {
        buffers.push_back(device->allocate(t.n_bytes(), MemoryKind::HostVisible));
        pointers.push_back(buffers.back().get());
    }
    auto upload = [&](int32_t id, const void* data, size_t bytes) {
        device->upload(*buffers[static_cast<size_t>(id)], 0,
                       {static_cast<const uint8_t*>(data), bytes});
    };
    upload(logits_id, logits.data(), logits.size() * sizeof(float));
    if (q_id >= 0) upload(q_id, q.data(), q.size() * sizeof(float));
    if (parents_id >= 0) upload(parents_id, parents.data(), parents.size() * sizeof(int32_t));
    const auto executable = device->compile(graph, pointers);
    const auto queue = device->create_queue(QueueOptions{1});

    std::mt19937_64 draft_rng(12345);
    Observed observed{std::vector<int64_t>(static_cast<size_t>(n_vocab), 0),
                      std::vector<int64_t>(static_cast<size_t>(n_vocab), 0)};
    std::vector<int32_t> drafts = fixed_drafts;
    std::vector<int32_t> verdict(static_cast<size_t>(k + 2));
    for (int step_index = 0; step_index < n_steps; ++step_index) {
        if (!q.empty()) {
            drafts.clear();
            for (int32_t j = 0; j < k; ++j) {
                std::discrete_distribution<int32_t> pick(q.begin() + j * n_vocab,
                                                         q.begin() + (j + 1) * n_vocab);
                drafts.push_back(pick(draft_rng));
            }
        }
        upload(drafts_id, drafts.data(), drafts.size() * sizeof(int32_t));
        StepValues step;
        step.seed = 0x243f6a8885a308d3ull + static_cast<uint64_t>(step_index) * 7919;
        queue->submit(*executable, step);
        queue->wait();
        device->download(*buffers[static_cast<size_t>(out_id)], 0,
                         {reinterpret_cast<uint8_t*>(verdict.data()), verdict.size() * 4});
        const int32_t n_accepted = verdict[0];
        const int32_t first = n_accepted > 0 ? drafts[static_cast<size_t>(verdict[2])] : verdict[1];
        ++observed.first[static_cast<size_t>(first)];
        if (n_accepted > 0 && parents.empty()) {
            const int32_t second = n_accepted > 1 ? drafts[1] : verdict[1];
            ++observed.second[static_cast<size_t>(second)];
        }
    }
    return observed;
}

std::vector<float> row_of(const std::vector<float>& logits, int64_t n_vocab, int64_t row) {
    return {logits.begin() + row * n_vocab, logits.begin() + (row + 1) * n_vocab};
}

// p mixed with 10% of another distribution: wrong, by an amount the test must notice.
std::vector<double> slightly_wrong(const std::vector<double>& p, const std::vector<double>& other) {
    std::vector<double> wrong(p.size());
    for (size_t i = 0; i < p.size(); ++i) wrong[i] = 0.9 * p[i] + 0.1 * other[i];
    return wrong;
}

void expect_follows(const std::vector<int64_t>& counts, const std::vector<double>& p,
                    const std::vector<double>& wrong, const std::string& what) {
    const double p_value = chi_square_p_value(counts, p);
    EXPECT_GT(p_value, kSignificance) << what << ": the counts are not from the target";
    EXPECT_LT(p_value, 1.0 - kSignificance) << what << ": a fit too close to be chance";
    EXPECT_LT(chi_square_p_value(counts, wrong), kSignificance)
        << what << ": the test cannot tell a wrong distribution apart";
}

constexpr int64_t kVocab = 12;
constexpr int kSteps = 40000;

std::vector<float> test_logits(int32_t rows, uint32_t seed) {
    std::mt19937 engine(seed);
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    std::vector<float> logits(static_cast<size_t>(kVocab * rows));
    for (float& x : logits) x = value(engine);
    return logits;
}

std::vector<float> skewed_draft_distribution(int32_t k) {
    // Heavy on the high token ids, where the target need not be: many rejections.
    std::vector<float> q;
    for (int32_t j = 0; j < k; ++j) {
        double total = 0.0;
        for (int64_t t = 0; t < kVocab; ++t) total += static_cast<double>(t + 1 + j);
        for (int64_t t = 0; t < kVocab; ++t) {
            q.push_back(static_cast<float>(static_cast<double>(t + 1 + j) / total));
        }
    }
    return q;
}

TEST(DraftVerifyDistribution, SampledDraftsKeepTheTargetDistribution) {
    const int32_t k = 3;
    const std::vector<float> logits = test_logits(k + 1, 7);
    const std::vector<float> q = skewed_draft_distribution(k);
    VerifyParams params;
    params.temperature = 0.8f;
    params.top_k = 9;
    params.top_p = 0.97f;
    params.min_p = 0.02f;
    const Observed observed = run_steps(logits, kVocab, k, q, {}, {}, params, kSteps);
    const std::vector<double> p0 = test::verify_distribution(row_of(logits, kVocab, 0), params);
    const std::vector<double> p1 = test::verify_distribution(row_of(logits, kVocab, 1), params);
    const std::vector<double> q0(q.begin(), q.begin() + kVocab);
    expect_follows(observed.first, p0, slightly_wrong(p0, q0), "first token");
    expect_follows(observed.second, p1, slightly_wrong(p1, p0), "second token");
}

TEST(DraftVerifyDistribution, DeterministicDraftsKeepTheTargetDistribution) {
    const int32_t k = 2;
    const std::vector<float> logits = test_logits(k + 1, 8);
    VerifyParams params;
    params.temperature = 1.0f;
    const std::vector<double> p0 = test::verify_distribution(row_of(logits, kVocab, 0), params);
    const std::vector<double> p1 = test::verify_distribution(row_of(logits, kVocab, 1), params);
    // The first draft is the likeliest token (so that many steps reach the second), the second a
    // plausible other one: both outcomes are common at both depths.
    const auto first_draft =
        static_cast<int32_t>(std::max_element(p0.begin(), p0.end()) - p0.begin());
    const int32_t second_draft = 5;
    const Observed observed =
        run_steps(logits, kVocab, k, {}, {first_draft, second_draft}, {}, params, kSteps);
    // The wrong alternative a biased verifier would give: extra mass on the drafts.
    std::vector<double> on_first_draft(kVocab, 0.0), on_second_draft(kVocab, 0.0);
    on_first_draft[static_cast<size_t>(first_draft)] = 1.0;
    on_second_draft[second_draft] = 1.0;
    expect_follows(observed.first, p0, slightly_wrong(p0, on_first_draft), "first token");
    expect_follows(observed.second, p1, slightly_wrong(p1, on_second_draft), "second token");
}

TEST(DraftVerifyDistribution, TreeOfDeterministicDraftsKeepsTheTargetDistribution) {
    // Three root children with different tokens (SpecInfer's multi-draft verification), one of
    // them with a child of its own.
    const int32_t k = 4;
    const std::vector<float> logits = test_logits(k + 1, 9);
    VerifyParams params;
    params.temperature = 0.9f;
    params.top_k = 10;
    const std::vector<int32_t> parents = {-1, -1, -1, 1};
    const Observed observed =
        run_steps(logits, kVocab, k, {}, {2, 7, 4, 1}, parents, params, kSteps);
    const std::vector<double> p0 = test::verify_distribution(row_of(logits, kVocab, 0), params);
    const std::vector<double> uniform(kVocab, 1.0 / kVocab);
    expect_follows(observed.first, p0, slightly_wrong(p0, uniform), "first token of a tree");
}

TEST(DraftVerifyDistribution, ChiSquarePValuesAreRight) {
    // Known values: chi-square with 1 degree of freedom at 3.841 is p = 0.05, with 10 at 29.59
    // is p = 0.001.
    EXPECT_NEAR(upper_gamma_q(0.5, 3.841459 / 2), 0.05, 1e-6);
    EXPECT_NEAR(upper_gamma_q(5.0, 29.5883 / 2), 0.001, 1e-6);
    EXPECT_NEAR(upper_gamma_q(3.0, 0.1), 0.99984534, 1e-7);
}

}  // namespace
}  // namespace tessera::backend

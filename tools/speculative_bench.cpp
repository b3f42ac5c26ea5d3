#include "tools/speculative_bench.h"

#include <algorithm>
#include <chrono>

#include "formats/error.h"
#include "runtime/sampler.h"
#include "runtime/speculative/speculative_decoder.h"

namespace tessera::tools {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t nanoseconds_since(Clock::time_point start) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
    return static_cast<uint64_t>(std::max<int64_t>(ns.count(), 1));
}

SamplerParams greedy() {
    SamplerParams params;
    params.temperature = 0.0f;
    return params;
}

// Plain greedy decoding of n tokens after the prompt; the time of the generation goes to `ns`.
std::vector<int32_t> generate_plain(Context& context, std::span<const int32_t> prompt, uint32_t n,
                                    uint64_t& ns) {
    context.reset();
    Sampler sampler(greedy());
    std::span<const float> logits = context.decode(prompt, Logits::Last);
    const auto start = Clock::now();
    std::vector<int32_t> tokens;
    while (tokens.size() < n) {
        const int32_t token = sampler.sample(logits);
        tokens.push_back(token);
        if (tokens.size() < n) logits = context.decode({&token, 1}, Logits::Last);
    }
    ns = nanoseconds_since(start);
    return tokens;
}

// The same with speculation; the last step may give more than n tokens, which are cut.
std::vector<int32_t> generate_speculative(Context& context, Drafter& drafter,
                                          const SpeculativeBenchOptions& options,
                                          std::span<const int32_t> prompt, uint32_t n, uint64_t& ns,
                                          SpeculativeStats& stats) {
    context.reset();
    SpeculativeDecoder decoder(context, drafter, greedy(), options.draft_max, prompt, options.tree);
    const auto start = Clock::now();
    std::vector<int32_t> tokens;
    while (tokens.size() < n) {
        const std::vector<int32_t> step = decoder.step();
        tokens.insert(tokens.end(), step.begin(), step.end());
    }
    ns = nanoseconds_since(start);
    tokens.resize(n);
    stats = decoder.stats();
    return tokens;
}

}  // namespace

SpeculativeBenchResult measure_speculation(
    const std::shared_ptr<const Model>& target, std::span<const int32_t> prompt,
    const std::function<std::unique_ptr<Drafter>()>& make_drafter,
    SpeculativeBenchOptions options) {
    if (prompt.empty()) throw Error("bench: the prompt is empty");
    if (options.n_gen == 0) throw Error("bench: no tokens to generate");
    // Room for the prompt, the tokens and one pass of drafts past them, the same for both.
    const size_t pass_drafts =
        std::max<size_t>(options.draft_max, options.tree ? options.tree->n_nodes() : 0);
    const auto n_ctx = static_cast<uint32_t>(prompt.size() + options.n_gen + pass_drafts + 1);
    options.plain_context.n_ctx = n_ctx;
    options.speculative_context.n_ctx = n_ctx;
    Context plain(target, options.plain_context);
    Context speculative(target, options.speculative_context);

    SpeculativeBenchResult result;
    uint64_t ns = 0;
    if (options.warmup) {
        generate_plain(plain, prompt, 2, ns);
        const std::unique_ptr<Drafter> drafter = make_drafter();
        generate_speculative(speculative, *drafter, options, prompt, 2, ns, result.stats);
    }
    for (int r = 0; r < options.repetitions; ++r) {
        result.plain_tokens = generate_plain(plain, prompt, options.n_gen, ns);
        result.plain_ns.push_back(ns);
        const std::unique_ptr<Drafter> drafter = make_drafter();
        result.speculative_tokens = generate_speculative(speculative, *drafter, options, prompt,
                                                         options.n_gen, ns, result.stats);
        result.speculative_ns.push_back(ns);
    }
    return result;
}

}  // namespace tessera::tools

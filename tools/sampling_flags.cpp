#include "tools/sampling_flags.h"

#include <cstdint>
#include <random>

#include "formats/error.h"
#include "tools/runtime_flags.h"

namespace tessera::tools {

void SamplingFlags::add_to(ArgParser& parser) {
    parser.option("--temp", &temperature, "T", "temperature; 0: greedy (default: 0.8)");
    parser.option("--top-k", &top_k, "K", "keep the K most likely tokens; 0: off (default: 40)");
    parser.option("--top-p", &top_p, "P",
                  "keep the most likely tokens adding up to P; 1: off (default: 0.95)");
    parser.option("--min-p", &min_p, "P",
                  "keep tokens at least P times as likely as the best; 0: off (default: 0.05)");
    parser.option("--repeat-last-n", &repeat_last_n, "N",
                  "tokens the penalties look back over; 0: off, -1: all (default: 64)");
    parser.option("--repeat-penalty", &repeat_penalty, "X",
                  "divide repeated tokens' positive logits by X, multiply negative ones; 1: off "
                  "(default: 1.0)");
    parser.option("--presence-penalty", &presence_penalty, "X",
                  "subtract X from repeated tokens' logits; 0: off (default: 0.0)");
    parser.option("--frequency-penalty", &frequency_penalty, "X",
                  "subtract X times the repeat count; 0: off (default: 0.0)");
    parser.option("--seed", &seed, "S", "random seed; -1: a random one, printed (default: -1)");
}

SamplerParams SamplingFlags::params() const {
    SamplerParams p;
    if (seed < -1) throw UsageError("--seed must be -1 (random) or a number from 0");
    p.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
    p.temperature = parse_float("--temp", temperature);
    p.top_k = static_cast<int32_t>(checked("--top-k", top_k, 0, INT32_MAX));
    p.top_p = parse_float("--top-p", top_p);
    p.min_p = parse_float("--min-p", min_p);
    p.penalty_last_n =
        static_cast<int32_t>(checked("--repeat-last-n", repeat_last_n, -1, INT32_MAX));
    p.repeat_penalty = parse_float("--repeat-penalty", repeat_penalty);
    p.presence_penalty = parse_float("--presence-penalty", presence_penalty);
    p.frequency_penalty = parse_float("--frequency-penalty", frequency_penalty);
    // The sampler checks the ranges; on the command line a value out of range is a usage mistake.
    try {
        Sampler check(p);
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    return p;
}

}  // namespace tessera::tools

// The sampling flags shared by the commands that generate text (run, chat): --temp, --top-k,
// --top-p, --min-p, the penalties and --seed, with llama.cpp's defaults.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/sampler.h"
#include "tools/arg_parser.h"

namespace tessera::tools {

// The flags as given; turned into SamplerParams once parsed.
struct SamplingFlags {
    std::string temperature = "0.8";
    int64_t top_k = 40;
    std::string top_p = "0.95";
    std::string min_p = "0.05";
    int64_t repeat_last_n = 64;
    std::string repeat_penalty = "1.0";
    std::string presence_penalty = "0.0";
    std::string frequency_penalty = "0.0";
    int64_t seed = -1;

    void add_to(ArgParser& parser);
    // Throws UsageError naming the flag for a value out of range. A seed of -1 becomes a random
    // one.
    SamplerParams params() const;
};

}  // namespace tessera::tools

// The command-line flags that load a model and size a context, shared by the commands that run
// a model (run, perplexity, bench): -m, --backend, --device, -c, -b, -t, --kv-type.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/context.h"
#include "runtime/model.h"
#include "tools/arg_parser.h"

namespace tessera::tools {

struct RuntimeFlags {
    std::string model;  // empty: the default model
    std::string backend = "cpu";
    int64_t device = 0;
    int64_t n_ctx = 4096;
    int64_t n_batch = 512;
    int64_t n_threads = 0;
    std::string kv_type = "f16";

    // Registers the flags; `with_context_size` adds -c (bench sizes its contexts itself).
    void add_to(ArgParser& parser, bool with_context_size = true);
    // The model's path (the default model when -m is absent) and options. Throw UsageError for
    // values out of range.
    std::string model_path() const;
    ModelOptions model_options() const;
    ContextOptions context_options() const;
    // Threads the CPU backend runs: -t, or one per hardware thread for 0.
    int threads_used() const;
};

// A float flag's value; UsageError naming the flag when `text` is not a number.
float parse_float(const std::string& flag, const std::string& text);
// An int64 flag's value checked against [low, high]; UsageError naming the flag otherwise.
int64_t checked(const std::string& flag, int64_t value, int64_t low, int64_t high);

}  // namespace tessera::tools

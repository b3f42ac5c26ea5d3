// The subcommands of `tessera`. Each takes its arguments (after the command name) and returns
// the process exit status; errors propagate as tessera::Error or tools::UsageError, which main
// turns into one line on stderr.
#pragma once

#include <string>
#include <vector>

namespace tessera::tools {

using Args = std::vector<std::string>;

int run_inspect(const Args& args);
int run_verify(const Args& args);
int run_digest(const Args& args);
int run_quantize(const Args& args);
int run_run(const Args& args);
int run_perplexity(const Args& args);
int run_bench(const Args& args);
int run_tokenize(const Args& args);
int run_template(const Args& args);
int run_chat(const Args& args);
int run_devices(const Args& args);

// The model path from -m, or the default model, or a clear error.
std::string model_or_default(const std::string& given);

}  // namespace tessera::tools

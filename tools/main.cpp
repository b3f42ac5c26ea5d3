// `tessera COMMAND ...`: dispatches to the subcommands and turns every error into one line on
// stderr and a non-zero exit status.
#include <cstdio>
#include <exception>
#include <new>
#include <string_view>

#include "formats/error.h"
#include "runtime/default_model.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"

namespace tessera::tools {

namespace {
struct Command {
    std::string_view name;
    std::string_view summary;
    int (*run)(const Args&);
};

constexpr Command kCommands[] = {
    {"chat", "chat with a model in the terminal", run_chat},
    {"inspect", "show a GGUF file's architecture, tokenizer, tensors and quantization mix",
     run_inspect},
    {"verify", "check a GGUF file's structure, data and stored digests", run_verify},
    {"digest", "write a copy of a GGUF file that carries xxHash64 digests", run_digest},
    {"quantize", "requantize a GGUF file to another type", run_quantize},
    {"run", "continue a prompt with a model", run_run},
    {"perplexity", "compute a model's perplexity over a text, as llama-perplexity does",
     run_perplexity},
    {"bench", "measure prompt and generation speed, as llama-bench does", run_bench},
    {"tokenize", "print the tokens of a text, as llama-tokenize does", run_tokenize},
    {"template", "render a model's chat template for a conversation", run_template},
    {"devices", "list the devices of every backend, with the names --backend and --device take",
     run_devices},
};

void print_usage(std::FILE* out) {
    std::fprintf(out,
                 "tessera: run quantized language models from one GGUF file\n\n"
                 "usage: tessera COMMAND [options]\n\ncommands:\n");
    for (const Command& c : kCommands) {
        std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                     static_cast<int>(c.summary.size()), c.summary.data());
    }
    std::fprintf(out, "\n'tessera COMMAND --help' describes a command.\n");
}
}  // namespace

std::string model_or_default(const std::string& given) {
    if (!given.empty()) return given;
    if (auto path = find_default_model()) return *path;
    throw Error(kDefaultModelHint);
}

}  // namespace tessera::tools

int main(int argc, char** argv) {
    using namespace tessera::tools;
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const std::string_view name = argv[1];
    if (name == "-h" || name == "--help" || name == "help") {
        print_usage(stdout);
        return 0;
    }
    if (name == "--version") {
        std::printf("tessera %s\n", TESSERA_VERSION);
        return 0;
    }
    for (const Command& command : kCommands) {
        if (command.name != name) continue;
        const Args args(argv + 2, argv + argc);
        try {
            return command.run(args);
        } catch (const UsageError& e) {
            std::fprintf(stderr, "tessera %s: %s (see 'tessera %s --help')\n", argv[1], e.what(),
                         argv[1]);
            return 2;
        } catch (const tessera::Error& e) {
            std::fprintf(stderr, "tessera %s: error: %s\n", argv[1], e.what());
            return 1;
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "tessera %s: error: out of memory\n", argv[1]);
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "tessera %s: internal error: %s\n", argv[1], e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "tessera: unknown command '%s' (see 'tessera --help')\n", argv[1]);
    return 2;
}

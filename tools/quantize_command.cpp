// `tessera quantize IN OUT TYPE [--pure] [-t THREADS] [--dry-run]`: requantizes a GGUF file to
// one of llama-quantize's types, following its mixes (see runtime/quant_mix.h).
#include <chrono>
#include <cstdio>
#include <string>

#include "formats/gguf/file.h"
#include "runtime/quantize_model.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/progress.h"

namespace tessera::tools {

namespace {

std::string shape_text(const std::vector<uint64_t>& shape) {
    std::string text;
    for (uint64_t d : shape) {
        if (!text.empty()) text += " x ";
        text += std::to_string(d);
    }
    return text;
}

void print_plan(const QuantizeSummary& summary) {
    for (const QuantizedTensor& t : summary.tensors) {
        const std::string from(quant::type_info(t.from).name);
        const std::string to(quant::type_info(t.to).name);
        std::printf("%-40s %-20s %7s -> %-7s %10s -> %s\n", t.name.c_str(),
                    shape_text(t.shape).c_str(), from.c_str(), to.c_str(),
                    human_bytes(t.bytes_in).c_str(), human_bytes(t.bytes_out).c_str());
    }
}

}  // namespace

int run_quantize(const Args& args) {
    std::string in, out, type_name;
    bool pure = false;
    bool dry_run = false;
    int64_t threads = 0;
    ArgParser parser(
        "tessera quantize",
        "Requantize a GGUF file from any type with a codec to TYPE, as llama.cpp's llama-quantize "
        "does without an importance matrix: the _S/_M/_L mixes keep sensitive tensors (output, "
        "attn_v, ffn_down, ...) in more bits. Norms and other 1-D tensors keep their type. TYPE "
        "is one of " +
            quant_target_names() + " (Q3_K, Q4_K and Q5_K mean their _M mix).");
    parser.positional("IN", &in, "the GGUF file to convert");
    parser.positional("OUT", &out, "where to write the result (written only when complete)");
    parser.positional("TYPE", &type_name, "the target type, e.g. Q4_K_M", false);
    parser.flag("--pure", &pure, "put every quantizable tensor in TYPE's base type, no mix");
    parser.option("-t, --threads", &threads, "N",
                  "threads to quantize with (default 0: all hardware threads)");
    parser.flag("--dry-run", &dry_run,
                "print each tensor's new type and size without writing; OUT may be left out");
    if (!parser.parse(args)) return 0;

    if (type_name.empty()) {
        if (!dry_run) throw UsageError("missing TYPE");
        type_name = out;  // `--dry-run IN TYPE`
        out.clear();
    }
    const QuantTarget* target = find_quant_target(type_name);
    if (target == nullptr) {
        throw UsageError("unknown TYPE '" + type_name + "' (known: " + quant_target_names() + ")");
    }
    if (threads < 0 || threads > 4096) {
        throw UsageError("--threads must be between 0 and 4096, got " + std::to_string(threads));
    }

    if (dry_run) {
        const gguf::File file = gguf::File::open(in);
        const QuantizeSummary plan = plan_quantize(file, *target, pure);
        print_plan(plan);
        std::printf("%s as %s%s: %zu tensors, %s -> %s, %.2f bits per weight\n", in.c_str(),
                    std::string(target->name).c_str(), pure ? " (pure)" : "", plan.tensors.size(),
                    human_bytes(plan.bytes_in).c_str(), human_bytes(plan.bytes_out).c_str(),
                    plan.bits_per_weight());
        return 0;
    }

    const auto start = std::chrono::steady_clock::now();
    QuantizeOptions options;
    options.pure = pure;
    options.n_threads = static_cast<unsigned>(threads);
    QuantizeSummary summary;
    {
        Progress progress("quantizing");
        options.on_progress = [&](const QuantizeProgress& p) {
            progress.update(p.bytes_done, p.bytes_total);
        };
        summary = quantize_model(in, out, *target, options);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s: %zu tensors, %s -> %s, %.2f bits per weight, %.1f s\n", out.c_str(),
                summary.tensors.size(), human_bytes(summary.bytes_in).c_str(),
                human_bytes(summary.bytes_out).c_str(), summary.bits_per_weight(), seconds);
    return 0;
}

}  // namespace tessera::tools

// `tessera run`: continues a prompt with a model, streaming the generated tokens to stdout and
// the timings to stderr. Until tessera has a tokenizer, prompts are token ids and the output is
// the generated ids, space-separated on one line.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/runtime_flags.h"
#include "tools/token_ids.h"

namespace tessera::tools {

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

void print_rate(const char* what, size_t tokens, double ms) {
    const double rate = ms > 0.0 ? 1000.0 * static_cast<double>(tokens) / ms : 0.0;
    std::fprintf(stderr, "tessera run: %-11s %5zu tokens in %9.2f ms (%8.2f tokens/s)\n", what,
                 tokens, ms, rate);
}

// The sampling flags as given; turned into SamplerParams once parsed.
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

    void add_to(ArgParser& parser) {
        parser.option("--temp", &temperature, "T", "temperature; 0: greedy (default: 0.8)");
        parser.option("--top-k", &top_k, "K",
                      "keep the K most likely tokens; 0: off (default: 40)");
        parser.option("--top-p", &top_p, "P",
                      "keep the most likely tokens adding up to P; 1: off (default: 0.95)");
        parser.option("--min-p", &min_p, "P",
                      "keep tokens at least P times as likely as the best; 0: off (default: 0.05)");
        parser.option("--repeat-last-n", &repeat_last_n, "N",
                      "tokens the penalties look back over; 0: off, -1: all (default: 64)");
        parser.option(
            "--repeat-penalty", &repeat_penalty, "X",
            "divide repeated tokens' positive logits by X, multiply negative ones; 1: off "
            "(default: 1.0)");
        parser.option("--presence-penalty", &presence_penalty, "X",
                      "subtract X from repeated tokens' logits; 0: off (default: 0.0)");
        parser.option("--frequency-penalty", &frequency_penalty, "X",
                      "subtract X times the repeat count; 0: off (default: 0.0)");
        parser.option("--seed", &seed, "S", "random seed; -1: a random one, printed (default: -1)");
    }

    SamplerParams params() const {
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
        // The sampler checks the ranges; on the command line a value out of range is a usage
        // mistake.
        try {
            Sampler check(p);
        } catch (const Error& e) {
            throw UsageError(e.what());
        }
        return p;
    }
};

}  // namespace

int run_run(const Args& args) {
    RuntimeFlags runtime;
    SamplingFlags sampling;
    std::string prompt_text, prompt_ids;
    int64_t n_predict = -1;
    bool print_ids = false, ignore_eos = false;
    ArgParser parser("tessera run",
                     "Continue a prompt with a model: the generated tokens go to stdout as they "
                     "come,\nthe timings to stderr. Until tessera has a tokenizer the prompt is "
                     "given as token ids\n(as llama-tokenize prints them, the BOS id included) "
                     "and the output is the generated\nids, space-separated on one line.");
    parser.option("-p, --prompt", &prompt_text, "TEXT",
                  "a text prompt (needs the tokenizer; use --prompt-ids for now)");
    parser.option("--prompt-ids", &prompt_ids, "IDS", "the prompt as token ids: \"2 818 5279\"");
    parser.option("-n, --n-predict", &n_predict, "N",
                  "tokens to generate; -1: until end of sequence or a full context (default: -1)");
    parser.flag("--print-ids", &print_ids,
                "print the generated ids instead of text (always, until the tokenizer)");
    parser.flag("--ignore-eos", &ignore_eos, "go on past the end-of-sequence token");
    runtime.add_to(parser);
    sampling.add_to(parser);
    if (!parser.parse(args)) return 0;

    if (!prompt_text.empty() && !prompt_ids.empty()) {
        throw UsageError("give the prompt once, as -p or --prompt-ids");
    }
    if (!prompt_text.empty()) {
        throw Error(
            "text prompts come with the tokenizer, which tessera does not have yet; give the "
            "prompt as token ids with --prompt-ids \"ID ID ...\"");
    }
    if (prompt_ids.empty()) throw UsageError("no prompt: give one with --prompt-ids \"ID ID ...\"");
    if (n_predict < -1) throw UsageError("-n must be -1 (no limit) or a count from 0");
    // Without a tokenizer the output is ids whether or not --print-ids was given.
    (void)print_ids;
    const std::vector<int32_t> prompt = parse_token_ids(prompt_ids, "--prompt-ids");
    if (prompt.empty()) throw UsageError("--prompt-ids holds no token ids");
    const SamplerParams sampler_params = sampling.params();
    const ModelOptions model_options = runtime.model_options();
    const ContextOptions context_options = runtime.context_options();

    const auto load_start = Clock::now();
    const std::shared_ptr<const Model> model = Model::load(runtime.model_path(), model_options);
    Context context(model, context_options);
    const double load_ms = milliseconds(Clock::now() - load_start);
    check_token_ids(prompt, context.n_vocab(), "--prompt-ids");
    if (prompt.size() > context.n_ctx()) {
        std::string message = "the prompt's ";
        message.append(std::to_string(prompt.size()))
            .append(" tokens do not fit in the context of ")
            .append(std::to_string(context.n_ctx()))
            .append(" positions; raise -c");
        throw Error(message);
    }
    const SpecialTokens special = read_special_tokens(model->file());
    std::fprintf(stderr,
                 "tessera run: %s (%s), %s backend, %d threads, context %u, loaded in %.0f ms, "
                 "seed %llu\n",
                 model->file().path().c_str(), model->hparams().architecture.c_str(),
                 runtime.backend.c_str(), runtime.threads_used(), context.n_ctx(), load_ms,
                 static_cast<unsigned long long>(sampler_params.seed));

    Sampler sampler(sampler_params);
    for (int32_t token : prompt) sampler.accept(token);

    const auto prompt_start = Clock::now();
    std::span<const float> logits = context.decode(prompt, Logits::Last);
    const double prompt_ms = milliseconds(Clock::now() - prompt_start);

    Clock::duration sampling_time{}, decode_time{};
    size_t generated = 0, decoded = 0, sampled = 0;
    std::string stop_reason = "-n reached";
    const auto limit = static_cast<uint64_t>(n_predict);
    while (n_predict < 0 || generated < limit) {
        const auto sample_start = Clock::now();
        const int32_t token = sampler.sample(logits);
        sampling_time += Clock::now() - sample_start;
        ++sampled;
        if (!ignore_eos && special.ends_generation(token)) {
            stop_reason = "end of sequence (token ";
            stop_reason.append(std::to_string(token)).append(")");
            break;
        }
        sampler.accept(token);
        std::printf(generated == 0 ? "%d" : " %d", token);
        std::fflush(stdout);
        ++generated;
        if (n_predict >= 0 && generated == limit) break;
        if (context.position() >= context.n_ctx()) {
            stop_reason = "the context is full";
            break;
        }
        const auto decode_start = Clock::now();
        logits = context.decode(std::span<const int32_t>(&token, 1), Logits::Last);
        decode_time += Clock::now() - decode_start;
        ++decoded;
    }
    std::printf("\n");
    std::fflush(stdout);

    print_rate("prompt:", prompt.size(), prompt_ms);
    print_rate("generation:", decoded, milliseconds(decode_time));
    std::fprintf(stderr, "tessera run: %-11s %5zu tokens in %9.2f ms\n", "sampling:", sampled,
                 milliseconds(sampling_time));
    std::fprintf(stderr, "tessera run: generated %zu tokens; stopped: %s\n", generated,
                 stop_reason.c_str());
    return 0;
}

}  // namespace tessera::tools

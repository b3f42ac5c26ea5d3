// `tessera run`: continues a prompt with a model, streaming the generated tokens to stdout and
// the timings to stderr. Until tessera has a tokenizer, prompts are token ids and the output is
// the generated ids, space-separated on one line.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/speculative/speculative_decoder.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/runtime_flags.h"
#include "tools/sampling_flags.h"
#include "tools/speculative_flags.h"
#include "tools/text_file.h"
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

}  // namespace

int run_run(const Args& args) {
    RuntimeFlags runtime;
    SamplingFlags sampling;
    SpeculativeFlags speculative;
    std::string prompt_text, prompt_file, prompt_ids;
    int64_t n_predict = -1;
    bool print_ids = false, ignore_eos = false, special = false, echo_prompt = false;
    bool verbose = false;
    ArgParser parser("tessera run",
                     "Continue a prompt with a model: the generated text goes to stdout as it "
                     "comes,\nthe timings to stderr. The prompt is text (-p, -f), tokenized with "
                     "the model's\nvocabulary and BOS added where the vocabulary asks for it, or "
                     "token ids (--prompt-ids,\nas `tessera tokenize --ids` prints them, BOS "
                     "included).");
    parser.option("-p, --prompt", &prompt_text, "TEXT", "the prompt");
    parser.option("-f, --file", &prompt_file, "FILE", "read the prompt from FILE");
    parser.option("--prompt-ids", &prompt_ids, "IDS", "the prompt as token ids: \"2 818 5279\"");
    parser.option("-n, --n-predict", &n_predict, "N",
                  "tokens to generate; -1: until end of sequence or a full context (default: -1)");
    parser.flag("--special", &special,
                "read special-token text in the prompt (\"<start_of_turn>\") as those tokens, "
                "and print control tokens");
    parser.flag("--echo", &echo_prompt, "print the prompt before the continuation");
    parser.flag("--print-ids", &print_ids, "print the generated ids instead of text");
    parser.flag("--ignore-eos", &ignore_eos, "go on past the end-of-sequence token");
    parser.flag("-v, --verbose", &verbose, "print speculative decoding's statistics");
    runtime.add_to(parser);
    sampling.add_to(parser);
    speculative.add_to(parser);
    if (!parser.parse(args)) return 0;
    speculative.mode();  // a bad --spec combination fails before anything loads

    if (!prompt_text.empty() && !prompt_ids.empty()) {
        throw UsageError("give the prompt once, as -p, -f or --prompt-ids");
    }
    if (!prompt_file.empty()) {
        if (!prompt_text.empty() || !prompt_ids.empty()) {
            throw UsageError("give the prompt once, as -p, -f or --prompt-ids");
        }
        prompt_text = read_text_file(prompt_file);
        if (prompt_text.empty()) throw Error(prompt_file + ": the prompt file is empty");
    }
    if (prompt_text.empty() && prompt_ids.empty()) {
        throw UsageError("no prompt: give one with -p TEXT, -f FILE or --prompt-ids \"ID ID ...\"");
    }
    if (n_predict < -1) throw UsageError("-n must be -1 (no limit) or a count from 0");
    std::vector<int32_t> prompt;
    if (!prompt_ids.empty()) {
        prompt = parse_token_ids(prompt_ids, "--prompt-ids");
        if (prompt.empty()) throw UsageError("--prompt-ids holds no token ids");
    }
    const SamplerParams sampler_params = sampling.params();
    const ModelOptions model_options = runtime.model_options();
    const auto load_start = Clock::now();
    const std::shared_ptr<const Model> model = Model::load(runtime.model_path(), model_options);
    const ContextOptions context_options =
        speculative.target_context_options(*model, runtime.context_options());
    Context context(model, context_options);
    const std::unique_ptr<Drafter> drafter =
        speculative.make_drafter(model, model_options, context_options);
    const double load_ms = milliseconds(Clock::now() - load_start);
    const Tokenizer* tokenizer = model->tokenizer();
    if (!prompt_text.empty()) {
        if (tokenizer == nullptr) {
            throw Error(model->file().path() +
                        ": the file has no vocabulary (tokenizer.ggml.*), so a text prompt cannot "
                        "be tokenized; give token ids with --prompt-ids");
        }
        prompt = tokenizer->encode(prompt_text, {.add_special = true, .parse_special = special});
        if (prompt.empty()) throw Error("the prompt tokenizes to no tokens");
    }
    check_token_ids(prompt, context.n_vocab(), "--prompt-ids");
    // Text output needs the vocabulary; a model without one prints ids.
    print_ids = print_ids || tokenizer == nullptr;
    if (prompt.size() > context.n_ctx()) {
        std::string message = "the prompt's ";
        message.append(std::to_string(prompt.size()))
            .append(" tokens do not fit in the context of ")
            .append(std::to_string(context.n_ctx()))
            .append(" positions; raise -c");
        throw Error(message);
    }
    std::fprintf(stderr,
                 "tessera run: %s (%s), %s backend, %d threads, context %u, loaded in %.0f ms, "
                 "seed %llu\n",
                 model->file().path().c_str(), model->hparams().architecture.c_str(),
                 runtime.backend.c_str(), runtime.threads_used(), context.n_ctx(), load_ms,
                 static_cast<unsigned long long>(sampler_params.seed));

    // Without a vocabulary, EOS and EOT as the metadata names them end generation.
    const SpecialTokens special_ids = read_special_tokens(model->file());
    const auto ends_generation = [&](int32_t token) {
        return tokenizer != nullptr ? tokenizer->is_end_of_generation(token)
                                    : special_ids.ends_generation(token);
    };
    std::optional<TokenStreamer> streamer;
    if (!print_ids) streamer.emplace(*tokenizer, special);
    if (!print_ids && echo_prompt) {
        std::string text = tokenizer->decode(prompt, special);
        std::fwrite(text.data(), 1, text.size(), stdout);
    }

    Clock::duration sampling_time{}, decode_time{};
    size_t generated = 0, decoded = 0, sampled = 0;
    std::string stop_reason = "-n reached";
    const auto limit = static_cast<uint64_t>(n_predict);
    // Prints a generated token; false when generation stops before it.
    const auto emit = [&](int32_t token) {
        if (!ignore_eos && ends_generation(token)) {
            stop_reason = "end of sequence (token ";
            stop_reason.append(std::to_string(token)).append(")");
            return false;
        }
        if (print_ids) {
            std::printf(generated == 0 ? "%d" : " %d", token);
        } else {
            const std::string text = streamer->push(token);
            std::fwrite(text.data(), 1, text.size(), stdout);
        }
        std::fflush(stdout);
        ++generated;
        return true;
    };

    double prompt_ms = 0.0;
    std::optional<SpeculativeDecoder> decoder;
    if (drafter) {
        const auto prompt_start = Clock::now();
        decoder.emplace(context, *drafter, sampler_params, speculative.draft_length(*model), prompt,
                        speculative.tree_shape(), speculative.acceptance());
        prompt_ms = milliseconds(Clock::now() - prompt_start);
        bool going = n_predict != 0;
        for (bool first = true; going; first = false) {
            if (!first && !decoder->room()) {
                stop_reason = "the context is full";
                break;
            }
            const auto step_start = Clock::now();
            const std::vector<int32_t> tokens = decoder->step();
            if (!first) {
                decode_time += Clock::now() - step_start;
                decoded += tokens.size();
            }
            for (const int32_t token : tokens) {
                going = emit(token) && (n_predict < 0 || generated < limit);
                if (!going) break;
            }
        }
        sampled = decoder->stats().generated + 1;
    } else {
        Sampler sampler(sampler_params);
        for (int32_t token : prompt) sampler.accept(token);
        const auto prompt_start = Clock::now();
        std::span<const float> logits = context.decode(prompt, Logits::Last);
        prompt_ms = milliseconds(Clock::now() - prompt_start);
        while (n_predict < 0 || generated < limit) {
            const auto sample_start = Clock::now();
            const int32_t token = sampler.sample(logits);
            sampling_time += Clock::now() - sample_start;
            ++sampled;
            if (!emit(token)) break;
            sampler.accept(token);
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
    }
    if (streamer) {
        const std::string text = streamer->flush();
        std::fwrite(text.data(), 1, text.size(), stdout);
    }
    std::printf("\n");
    std::fflush(stdout);

    print_rate("prompt:", prompt.size(), prompt_ms);
    print_rate("generation:", decoded, milliseconds(decode_time));
    std::fprintf(stderr, "tessera run: %-11s %5zu tokens in %9.2f ms\n", "sampling:", sampled,
                 milliseconds(sampling_time));
    std::fprintf(stderr, "tessera run: generated %zu tokens; stopped: %s\n", generated,
                 stop_reason.c_str());
    if (decoder && verbose) print_speculative_stats("tessera run", decoder->stats());
    return 0;
}

}  // namespace tessera::tools

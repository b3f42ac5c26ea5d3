// `tessera bench`: prompt-processing and generation speed, measured as llama.cpp's llama-bench
// measures them (tools/llama-bench/llama-bench.cpp):
//   - two tests, each in a fresh context sized for it: ppN runs a prompt of N tokens from an
//     empty context (in passes of at most -b tokens), tgN generates N tokens one at a time from
//     an empty context;
//   - the tokens are BOS first (when the tokenizer adds one) then pseudo-random ids, drawn from
//     a fixed seed so that every run sees the same ones;
//   - before the timed runs, one warm-up run (the whole prompt for pp, one token for tg), unless
//     --no-warmup; then -r repetitions, each from a cleared context;
//   - each repetition gives tokens / seconds; the report is their mean and sample standard
//     deviation ("avg ± stddev" t/s), in llama-bench's markdown table or, with --json, one
//     object.
// With --spec, it measures speculative decoding instead (tools/speculative_bench.h): greedy
// generation on an input-grounded prompt with speculation and without, in the same run, the
// two outputs compared, and the speed-up and the drafts' acceptance reported.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/quant_mix.h"
#include "runtime/sampler.h"
#include "runtime/speculative/draft_model_drafter.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/runtime_flags.h"
#include "tools/speculative_bench.h"
#include "tools/speculative_flags.h"
#include "tools/text_file.h"
#include "tools/token_ids.h"

namespace tessera::tools {

namespace {

using Clock = std::chrono::steady_clock;

// The seed of the benchmark's token ids; any fixed value does.
constexpr uint64_t kTokenSeed = 1;

// The prompt of `bench --spec` without -f: input-grounded, as speculation is meant for (the
// continuation repeats a code block the prompt holds), and short enough for any context.
constexpr const char* kSpeculativePrompt =
    "Repeat the following Python code exactly, without any change.\n"
    "\n"
    "def parse_config(path):\n"
    "    settings = {}\n"
    "    with open(path) as handle:\n"
    "        for number, line in enumerate(handle, start=1):\n"
    "            line = line.strip()\n"
    "            if not line or line.startswith(\"#\"):\n"
    "                continue\n"
    "            key, value = line.split(\"=\", 1)\n"
    "            settings[key.strip()] = value.strip()\n"
    "    return settings\n"
    "\n"
    "\n"
    "def merge_configs(base, override):\n"
    "    merged = dict(base)\n"
    "    for key, value in override.items():\n"
    "        merged[key] = value\n"
    "    return merged\n"
    "\n"
    "Here is the same code, repeated exactly:\n"
    "\n";

struct TestResult {
    std::string name;  // "pp512", "tg128"
    uint32_t n_prompt = 0;
    uint32_t n_gen = 0;
    std::vector<uint64_t> samples_ns;

    std::vector<double> tokens_per_second() const {
        std::vector<double> ts;
        for (uint64_t ns : samples_ns) {
            ts.push_back(1e9 * static_cast<double>(n_prompt + n_gen) / static_cast<double>(ns));
        }
        return ts;
    }
};

double mean(const std::vector<double>& v) {
    return v.empty() ? 0.0
                     : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// The sample standard deviation (n - 1), 0 for fewer than two values, as llama-bench's stdev.
double stddev(const std::vector<double>& v) {
    if (v.size() < 2) return 0.0;
    const double m = mean(v);
    double sum = 0.0;
    for (double x : v) sum += (x - m) * (x - m);
    return std::sqrt(sum / static_cast<double>(v.size() - 1));
}

// Runs a prompt of n tokens from the context's current position.
void run_prompt(Context& context, uint32_t n, const SpecialTokens& special, Xoshiro256& rng) {
    std::vector<int32_t> tokens(n);
    for (uint32_t i = 0; i < n; ++i) {
        tokens[i] = static_cast<int32_t>(rng.next() % context.n_vocab());
    }
    if (special.add_bos && context.position() == 0) tokens[0] = *special.bos;
    context.decode(tokens, Logits::Last);
}

// Generates n tokens one at a time; the ids are drawn, not sampled, as llama-bench does.
void run_generation(Context& context, uint32_t n, const SpecialTokens& special, Xoshiro256& rng) {
    int32_t token =
        special.add_bos ? *special.bos : static_cast<int32_t>(rng.next() % context.n_vocab());
    for (uint32_t i = 0; i < n; ++i) {
        context.decode(std::span<const int32_t>(&token, 1), Logits::Last);
        token = static_cast<int32_t>(rng.next() % context.n_vocab());
    }
}

TestResult run_test(const std::shared_ptr<const Model>& model, ContextOptions options,
                    uint32_t n_prompt, uint32_t n_gen, int repetitions, bool warmup,
                    const SpecialTokens& special) {
    TestResult result;
    result.n_prompt = n_prompt;
    result.n_gen = n_gen;
    result.name = n_prompt > 0 ? "pp" : "tg";
    result.name.append(std::to_string(n_prompt > 0 ? n_prompt : n_gen));
    options.n_ctx = n_prompt + n_gen;
    Context context(model, options);
    Xoshiro256 rng(kTokenSeed);
    if (warmup) {
        if (n_prompt > 0) run_prompt(context, n_prompt, special, rng);
        if (n_gen > 0) run_generation(context, 1, special, rng);
    }
    for (int r = 0; r < repetitions; ++r) {
        context.reset();
        const auto start = Clock::now();
        if (n_prompt > 0) run_prompt(context, n_prompt, special, rng);
        if (n_gen > 0) run_generation(context, n_gen, special, rng);
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
        result.samples_ns.push_back(static_cast<uint64_t>(std::max<int64_t>(ns.count(), 1)));
    }
    return result;
}

struct ModelSummary {
    std::string description;  // "gemma3 Q4_K_M"
    uint64_t bytes = 0;       // of tensor data, as llama_model_size
    uint64_t params = 0;
};

ModelSummary summarize(const Model& model) {
    ModelSummary s;
    for (const gguf::TensorInfo& t : model.file().tensors()) {
        s.bytes += t.n_bytes;
        s.params += t.n_elements;
    }
    s.description = model.hparams().architecture;
    if (const gguf::Value* v = model.file().find("general.file_type");
        v != nullptr && v->is_integer()) {
        const int64_t file_type = v->as_int("general.file_type");
        std::string type_name = "file type ";
        type_name.append(std::to_string(file_type));
        for (const QuantTarget& target : quant_targets()) {
            if (static_cast<int64_t>(target.file_type) == file_type) {
                type_name = std::string(target.name);
                break;
            }
        }
        s.description.append(" ").append(type_name);
    }
    return s;
}

std::string backend_label(const std::string& backend) {
    if (backend == "cpu") return "CPU";
    if (backend == "cuda") return "CUDA";
    if (backend == "vulkan") return "Vulkan";
    return backend;
}

std::string format(const char* pattern, double a, double b = 0.0) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, pattern, a, b);
    return buffer;
}

void print_table_header() {
    std::printf("| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s |\n", "model", "size", "params",
                "backend", "threads", "test", "t/s");
    std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: |\n", std::string(30, '-').c_str(),
                std::string(9, '-').c_str(), std::string(9, '-').c_str(),
                std::string(10, '-').c_str(), std::string(6, '-').c_str(),
                std::string(14, '-').c_str(), std::string(19, '-').c_str());
}

void print_table_row(const ModelSummary& model, const std::string& backend, int threads,
                     const TestResult& test) {
    const std::vector<double> ts = test.tokens_per_second();
    const std::string size =
        format("%.2f MiB", static_cast<double>(model.bytes) / (1024.0 * 1024.0));
    const std::string params = format("%.2f M", static_cast<double>(model.params) / 1e6);
    // "±" is two bytes in UTF-8 and one column wide: one more byte of width keeps the column.
    std::printf("| %-30s | %10s | %10s | %-10s | %7d | %15s | %21s |\n", model.description.c_str(),
                size.c_str(), params.c_str(), backend.c_str(), threads, test.name.c_str(),
                format("%.2f ± %.2f", mean(ts), stddev(ts)).c_str());
    std::fflush(stdout);
}

nlohmann::ordered_json test_json(const TestResult& test) {
    const std::vector<double> ts = test.tokens_per_second();
    std::vector<double> ns(test.samples_ns.begin(), test.samples_ns.end());
    return {{"test", test.name},       {"n_prompt", test.n_prompt},     {"n_gen", test.n_gen},
            {"avg_ns", mean(ns)},      {"stddev_ns", stddev(ns)},       {"avg_ts", mean(ts)},
            {"stddev_ts", stddev(ts)}, {"samples_ns", test.samples_ns}, {"samples_ts", ts}};
}

double tokens_per_second(uint32_t tokens, uint64_t ns) {
    return 1e9 * static_cast<double>(tokens) / static_cast<double>(ns);
}

std::vector<double> rates(uint32_t tokens, const std::vector<uint64_t>& samples_ns) {
    std::vector<double> ts;
    for (uint64_t ns : samples_ns) ts.push_back(tokens_per_second(tokens, ns));
    return ts;
}

const char* mode_name(SpecMode mode) {
    switch (mode) {
        case SpecMode::Draft:
            return "draft";
        case SpecMode::NextN:
            return "mtp";
        case SpecMode::Medusa:
            return "medusa";
        default:
            return "ngram";
    }
}

// The prompt of `bench --spec`: the file's text, or the built-in one, tokenized.
std::vector<int32_t> speculative_prompt(const Model& model, const std::string& prompt_file) {
    const Tokenizer* tokenizer = model.tokenizer();
    if (tokenizer == nullptr) {
        throw Error(model.file().path() +
                    ": the file has no vocabulary (tokenizer.ggml.*), so the prompt of bench "
                    "--spec cannot be tokenized");
    }
    std::string text = kSpeculativePrompt;
    if (!prompt_file.empty()) {
        text = read_text_file(prompt_file);
        if (text.empty()) throw Error(prompt_file + ": the prompt file is empty");
    }
    std::vector<int32_t> prompt = tokenizer->encode(text, {.add_special = true});
    if (prompt.empty()) throw Error("the prompt tokenizes to no tokens");
    return prompt;
}

int run_speculative_bench(const RuntimeFlags& runtime, const SpeculativeFlags& speculative,
                          const std::string& prompt_file, uint32_t n_gen, int repetitions,
                          bool warmup, bool json) {
    const ModelOptions model_options = runtime.model_options();
    const std::string path = runtime.model_path();
    const std::shared_ptr<const Model> model = Model::load(path, model_options);
    const std::vector<int32_t> prompt = speculative_prompt(*model, prompt_file);
    const SpecMode mode = speculative.mode_for(*model);
    std::string mode_label = mode_name(mode);
    if (!speculative.draft_tree.empty()) mode_label += " tree " + speculative.draft_tree;

    SpeculativeBenchOptions options;
    options.plain_context = runtime.context_options();
    options.speculative_context =
        speculative.target_context_options(*model, runtime.context_options());
    options.draft_max = speculative.draft_length(*model);
    options.tree = speculative.tree_shape();
    options.n_gen = n_gen;
    options.repetitions = repetitions;
    options.warmup = warmup;
    // Each run gets a fresh drafter; a draft model loads once and each drafter has a context of
    // its own over it.
    ContextOptions drafter_context = options.speculative_context;
    drafter_context.n_ctx = static_cast<uint32_t>(prompt.size() + n_gen + options.draft_max + 1);
    const std::shared_ptr<const Model> draft_model =
        mode == SpecMode::Draft ? Model::load(speculative.draft_model, model_options) : nullptr;
    const auto make_drafter = [&]() -> std::unique_ptr<Drafter> {
        if (draft_model) {
            return std::make_unique<DraftModelDrafter>(*model, draft_model, drafter_context);
        }
        return speculative.make_drafter(model, model_options, drafter_context);
    };
    const SpeculativeBenchResult result = measure_speculation(model, prompt, make_drafter, options);

    const SpeculativeStats& stats = result.stats;
    const std::vector<double> plain_ts = rates(n_gen, result.plain_ns);
    const std::vector<double> speculative_ts = rates(n_gen, result.speculative_ns);
    const double speedup = mean(speculative_ts) / mean(plain_ts);
    std::vector<double> by_position;
    for (size_t i = 0; i < stats.drafted_at.size(); ++i) {
        by_position.push_back(stats.acceptance_at(i));
    }
    const ModelSummary summary = summarize(*model);
    const std::string backend = backend_label(runtime.backend);
    const int threads = runtime.threads_used();

    if (json) {
        nlohmann::ordered_json out;
        out["model"] = summary.description;
        out["model_filename"] = path;
        out["backend"] = backend;
        out["device"] = runtime.device;
        out["threads"] = threads;
        out["spec"] = mode_name(mode);
        out["draft_model"] = speculative.draft_model;
        out["draft_max"] = options.draft_max;
        out["draft_tree"] = speculative.draft_tree;
        out["tree_nodes"] = stats.tree_nodes;
        out["prompt_file"] = prompt_file;
        out["n_prompt"] = prompt.size();
        out["n_gen"] = n_gen;
        out["repetitions"] = repetitions;
        out["warmup"] = warmup;
        out["plain_tokens_per_second"] = mean(plain_ts);
        out["plain_tokens_per_second_stddev"] = stddev(plain_ts);
        out["speculative_tokens_per_second"] = mean(speculative_ts);
        out["speculative_tokens_per_second_stddev"] = stddev(speculative_ts);
        out["speedup"] = speedup;
        out["identical"] = result.identical();
        out["drafted"] = stats.drafted;
        out["accepted"] = stats.accepted;
        out["acceptance_rate"] = stats.acceptance_rate();
        out["acceptance_by_position"] = by_position;
        out["target_passes"] = stats.target_passes;
        out["tokens_per_target_pass"] = stats.tokens_per_pass();
        out["plain_samples_ns"] = result.plain_ns;
        out["speculative_samples_ns"] = result.speculative_ns;
        std::printf("%s\n", out.dump(2).c_str());
    } else {
        print_table_header();
        TestResult plain;
        plain.name = "tg" + std::to_string(n_gen);
        plain.n_gen = n_gen;
        plain.samples_ns = result.plain_ns;
        print_table_row(summary, backend, threads, plain);
        TestResult with_spec = plain;
        with_spec.name.append(" ").append(mode_label);
        with_spec.samples_ns = result.speculative_ns;
        print_table_row(summary, backend, threads, with_spec);
        std::printf(
            "\nspeculation (%s, draft-max %zu, prompt %zu tokens): speed-up %.2fx; %llu drafted, "
            "%llu accepted (%.1f%%); %.2f tokens per target pass\n",
            mode_label.c_str(), options.draft_max, prompt.size(), speedup,
            static_cast<unsigned long long>(stats.drafted),
            static_cast<unsigned long long>(stats.accepted), 100.0 * stats.acceptance_rate(),
            stats.tokens_per_pass());
        if (stats.tree_nodes > 0) {
            std::printf("draft trees: %llu nodes verified\n",
                        static_cast<unsigned long long>(stats.tree_nodes));
        }
        std::printf("acceptance by draft %s:", stats.tree_nodes > 0 ? "tree depth" : "position");
        for (double rate : by_position) std::printf(" %.0f%%", 100.0 * rate);
        std::printf("\noutput: %s\n", result.identical() ? "identical to plain greedy decoding"
                                                         : "DIFFERENT from plain greedy decoding");
    }
    if (!result.identical()) {
        std::fprintf(stderr,
                     "tessera bench: error: the speculative output differs from plain greedy "
                     "decoding\n");
        return 1;
    }
    return 0;
}

}  // namespace

int run_bench(const Args& args) {
    RuntimeFlags runtime;
    SpeculativeFlags speculative;
    std::string prompt_file;
    int64_t n_prompt = 512, n_gen = 128, repetitions = 5;
    bool json = false, no_warmup = false;
    ArgParser parser(
        "tessera bench",
        "Measure prompt processing (ppN: N tokens in one prompt) and generation (tgN: "
        "N tokens one at a\ntime) in tokens per second, as llama-bench does: a warm-up "
        "run, then -r runs from an empty\ncontext, reported as mean ± standard "
        "deviation.\n\nWith --spec MODE: greedy generation of -n tokens on an input-grounded "
        "prompt (built in,\nor -f FILE), with speculative decoding and without, in the same run; "
        "reports both\nspeeds, the speed-up, acceptance by draft position and tokens per target "
        "pass, and\nexits 1 if the two outputs differ.");
    runtime.add_to(parser, false);
    parser.option("-p, --n-prompt", &n_prompt, "N", "prompt tokens; 0: no pp test (default: 512)");
    parser.option("-n, --n-gen", &n_gen, "N", "generated tokens; 0: no tg test (default: 128)");
    parser.option("-r, --repetitions", &repetitions, "N", "timed runs of each test (default: 5)");
    parser.flag("--no-warmup", &no_warmup, "skip the warm-up run");
    parser.flag("--json", &json, "print one JSON object instead of the table");
    parser.option("-f, --file", &prompt_file, "FILE",
                  "with --spec: the prompt (default: a built-in one that asks to repeat a code "
                  "block)");
    speculative.add_to(parser);
    if (!parser.parse(args)) return 0;
    checked("-p", n_prompt, 0, 1 << 20);
    checked("-n", n_gen, 0, 1 << 20);
    checked("-r", repetitions, 1, 1000);
    if (speculative.mode() != SpecMode::None) {
        if (n_gen == 0) throw UsageError("nothing to measure: --spec needs -n of at least 1");
        if (speculative.typical_acceptance) {
            throw UsageError(
                "--typical-acceptance changes sampled verification, and bench --spec decodes "
                "greedily");
        }
        return run_speculative_bench(runtime, speculative, prompt_file,
                                     static_cast<uint32_t>(n_gen), static_cast<int>(repetitions),
                                     !no_warmup, json);
    }
    if (!prompt_file.empty()) throw UsageError("-f is for --spec");
    if (n_prompt == 0 && n_gen == 0) throw UsageError("nothing to measure: -p and -n are both 0");
    const ContextOptions context_options = runtime.context_options();
    const ModelOptions model_options = runtime.model_options();

    const std::string path = runtime.model_path();
    const std::shared_ptr<const Model> model = Model::load(path, model_options);
    const SpecialTokens special = read_special_tokens(model->file());
    const ModelSummary summary = summarize(*model);
    const std::string backend = backend_label(runtime.backend);
    const int threads = runtime.threads_used();

    if (!json) print_table_header();
    std::optional<TestResult> pp, tg;
    if (n_prompt > 0) {
        pp = run_test(model, context_options, static_cast<uint32_t>(n_prompt), 0,
                      static_cast<int>(repetitions), !no_warmup, special);
        if (!json) print_table_row(summary, backend, threads, *pp);
    }
    if (n_gen > 0) {
        tg = run_test(model, context_options, 0, static_cast<uint32_t>(n_gen),
                      static_cast<int>(repetitions), !no_warmup, special);
        if (!json) print_table_row(summary, backend, threads, *tg);
    }
    if (!json) return 0;

    nlohmann::ordered_json out;
    out["model"] = summary.description;
    out["model_filename"] = path;
    out["model_size"] = summary.bytes;
    out["model_n_params"] = summary.params;
    out["backend"] = backend;
    out["device"] = runtime.device;
    out["threads"] = threads;
    out["n_batch"] = context_options.n_batch;
    out["kv_type"] = std::string(quant::type_info(context_options.kv_type).name);
    out["repetitions"] = repetitions;
    out["warmup"] = !no_warmup;
    nlohmann::ordered_json tests = nlohmann::ordered_json::array();
    if (pp) tests.push_back(test_json(*pp));
    if (tg) tests.push_back(test_json(*tg));
    out["tests"] = std::move(tests);
    const auto rate = [](const std::optional<TestResult>& t, bool deviation) {
        if (!t) return nlohmann::ordered_json();
        const std::vector<double> ts = t->tokens_per_second();
        return nlohmann::ordered_json(deviation ? stddev(ts) : mean(ts));
    };
    out["pp_tokens_per_second"] = rate(pp, false);
    out["pp_tokens_per_second_stddev"] = rate(pp, true);
    out["tg_tokens_per_second"] = rate(tg, false);
    out["tg_tokens_per_second_stddev"] = rate(tg, true);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}

}  // namespace tessera::tools

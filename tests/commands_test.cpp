// `tessera run`, `tessera perplexity` and `tessera bench` end to end on the tiny llama fixture:
//   - run: greedy ids equal a greedy loop over Context written here, the same for every run
//     and thread count; seeded sampling equals the Sampler driven here and repeats by seed;
//     generation stops at EOS exactly where a run with --ignore-eos meets it;
//   - perplexity: the running and final PPL, and the error, equal llama-perplexity's formula
//     recomputed here from Context logits;
//   - bench: --json parses and has the keys, the table has its rows;
//   - bad flags exit 2 with one line; a text prompt or text file gives one clear line and 1;
//   - the real default model (skipped, saying why, when absent) generates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string tiny_model() {
    return test::source_dir() + "/tests/fixtures/tiny/llama.gguf";
}

constexpr int32_t kTinyBos = 1;
constexpr int32_t kTinyEos = 2;

std::vector<int32_t> parse_ids(const std::string& line) {
    std::vector<int32_t> ids;
    std::istringstream in(line);
    int32_t id;
    while (in >> id) ids.push_back(id);
    return ids;
}

size_t count_lines(const std::string& text) {
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string joined(const std::vector<int32_t>& ids) {
    std::string out;
    for (int32_t id : ids) out.append(out.empty() ? "" : " ").append(std::to_string(id));
    return out;
}

// The generation loop of `tessera run`, written again over the library: prompt, then sample,
// accept, decode, until n tokens.
std::vector<int32_t> generate(const std::vector<int32_t>& prompt, int n, const SamplerParams& p,
                              uint32_t n_ctx) {
    ContextOptions options;
    options.n_ctx = n_ctx;
    options.n_threads = 1;
    Context context(Model::load(tiny_model()), options);
    Sampler sampler(p);
    for (int32_t t : prompt) sampler.accept(t);
    std::span<const float> logits = context.decode(prompt);
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        const int32_t token = sampler.sample(logits);
        sampler.accept(token);
        out.push_back(token);
        if (i + 1 < n) logits = context.decode(std::span<const int32_t>(&token, 1));
    }
    return out;
}

const std::vector<int32_t> kPrompt = {kTinyBos, 17, 42, 99, 150};

TEST(ToolRun, GreedyPrintsNIdsLikeAContextLoopAtAnyThreadCount) {
    const std::string base = "run -m '" + tiny_model() + "' --prompt-ids '" + joined(kPrompt) +
                             "' -n 8 --temp 0 --print-ids --ignore-eos -c 64";
    const test::ToolResult one = test::run_tool(base + " -t 1");
    ASSERT_EQ(one.status, 0) << one.err;
    EXPECT_EQ(count_lines(one.out), 1u) << one.out;
    const std::vector<int32_t> ids = parse_ids(one.out);
    ASSERT_EQ(ids.size(), 8u) << one.out;
    SamplerParams greedy;
    greedy.temperature = 0.0f;
    EXPECT_EQ(ids, generate(kPrompt, 8, greedy, 64));

    EXPECT_EQ(test::run_tool(base + " -t 1").out, one.out);
    const test::ToolResult two = test::run_tool(base + " -t 2");
    ASSERT_EQ(two.status, 0) << two.err;
    EXPECT_EQ(two.out, one.out);
    // Timings go to stderr.
    EXPECT_NE(one.err.find("prompt:"), std::string::npos) << one.err;
    EXPECT_NE(one.err.find("tokens/s"), std::string::npos) << one.err;
}

TEST(ToolRun, SeededSamplingEqualsTheSamplerAndRepeats) {
    const std::string base =
        "run -m '" + tiny_model() + "' --prompt-ids '" + joined(kPrompt) +
        "' -n 16 --ignore-eos --print-ids -c 64 -t 1 --temp 1.2 --top-k 50 --top-p 0.9 "
        "--min-p 0.01 --repeat-penalty 1.3 --presence-penalty 0.2";
    const test::ToolResult a = test::run_tool(base + " --seed 42");
    ASSERT_EQ(a.status, 0) << a.err;
    SamplerParams p;
    p.seed = 42;
    p.temperature = 1.2f;
    p.top_k = 50;
    p.top_p = 0.9f;
    p.min_p = 0.01f;
    p.repeat_penalty = 1.3f;
    p.presence_penalty = 0.2f;
    EXPECT_EQ(parse_ids(a.out), generate(kPrompt, 16, p, 64));
    EXPECT_EQ(test::run_tool(base + " --seed 42").out, a.out);
    const test::ToolResult b = test::run_tool(base + " --seed 43");
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.out, a.out);
}

TEST(ToolRun, StopsAtEndOfSequenceUnlessIgnored) {
    // Hot sampling over the tiny vocabulary meets EOS within a couple hundred tokens for most
    // seeds; the run without --ignore-eos must stop right before the first one.
    const std::string base =
        "run -m '" + tiny_model() + "' --prompt-ids '" + joined(kPrompt) +
        "' -n 200 -c 256 -t 1 --temp 1.5 --top-k 0 --top-p 1 --min-p 0 --print-ids";
    bool met_eos = false;
    for (int seed = 1; seed <= 10 && !met_eos; ++seed) {
        const std::string seeded = base + " --seed " + std::to_string(seed);
        const test::ToolResult ignoring = test::run_tool(seeded + " --ignore-eos");
        ASSERT_EQ(ignoring.status, 0) << ignoring.err;
        const std::vector<int32_t> all = parse_ids(ignoring.out);
        ASSERT_EQ(all.size(), 200u);
        const auto eos = std::find(all.begin(), all.end(), kTinyEos);
        if (eos == all.end()) continue;
        met_eos = true;
        const test::ToolResult stopping = test::run_tool(seeded);
        ASSERT_EQ(stopping.status, 0) << stopping.err;
        EXPECT_EQ(parse_ids(stopping.out), std::vector<int32_t>(all.begin(), eos));
        EXPECT_NE(stopping.err.find("end of sequence"), std::string::npos) << stopping.err;
    }
    EXPECT_TRUE(met_eos) << "no seed from 1 to 10 produced EOS in 200 tokens";
}

TEST(ToolRun, TextPromptIsTokenizedAsTokenizeDoesAndBadFlagsGiveOneLine) {
    const std::string model = " -m '" + tiny_model() + "'";
    // A text prompt runs exactly as the ids `tessera tokenize` gives for it.
    const test::ToolResult ids = test::run_tool("tokenize" + model + " -p 'Hello there' --ids");
    ASSERT_EQ(ids.status, 0) << ids.err;
    const std::string flags = " -n 6 --temp 0 --ignore-eos --print-ids -c 64 -t 1";
    const test::ToolResult from_text = test::run_tool("run" + model + " -p 'Hello there'" + flags);
    ASSERT_EQ(from_text.status, 0) << from_text.err;
    const test::ToolResult from_ids =
        test::run_tool("run" + model + " --prompt-ids '" + ids.out + "'" + flags);
    ASSERT_EQ(from_ids.status, 0) << from_ids.err;
    EXPECT_EQ(from_text.out, from_ids.out);
    EXPECT_EQ(parse_ids(from_text.out).size(), 6u) << from_text.out;
    // Without --print-ids the continuation is text; -f reads the prompt from a file.
    const std::string prompt_file = test::temp_dir() + "/prompt.txt";
    std::ofstream(prompt_file) << "Hello there";
    const test::ToolResult text = test::run_tool("run" + model + " -f '" + prompt_file +
                                                 "' -n 6 --temp 0 --ignore-eos -c 64 -t 1");
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_FALSE(text.out.empty());
    const test::ToolResult both = test::run_tool("run" + model + " -p hi -f '" + prompt_file + "'");
    EXPECT_EQ(both.status, 2) << both.err;

    for (const std::string bad :
         {"run --bogus", "run --prompt-ids 1 --temp warm", "run --prompt-ids 1 --top-p 1.5",
          "run --prompt-ids 1 --kv-type q4_0", "run --prompt-ids 1 -n", "run -n 3",
          "perplexity --ids-file x --chunks 0", "perplexity", "bench -r 0", "bench -p 0 -n 0",
          "bench --json=yes"}) {
        const test::ToolResult r = test::run_tool(bad + model);
        EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
        EXPECT_EQ(count_lines(r.err), 1u) << bad << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << bad << ": " << r.out;
    }
    // Ids outside the vocabulary are named.
    const test::ToolResult outside = test::run_tool("run" + model + " --prompt-ids '1 5000' -n 2");
    EXPECT_EQ(outside.status, 1);
    EXPECT_EQ(count_lines(outside.err), 1u) << outside.err;
    EXPECT_NE(outside.err.find("5000"), std::string::npos) << outside.err;
}

// -log softmax(row)[token] in double.
double nll(std::span<const float> row, int32_t token) {
    double max = row[0];
    for (float v : row) max = std::max(max, static_cast<double>(v));
    double sum = 0.0;
    for (float v : row) sum += std::exp(v - max);
    return max + std::log(sum) - row[static_cast<size_t>(token)];
}

TEST(ToolPerplexity, EqualsExpMeanNllFromContextLogits) {
    const uint32_t n_ctx = 16;
    std::mt19937 rng(5);
    std::vector<int32_t> ids(41);  // two whole chunks and a partial one, which is left out
    for (int32_t& id : ids) id = 3 + static_cast<int32_t>(rng() % 285);
    ids[0] = kTinyBos;
    const std::string path = test::temp_dir() + "/ids.txt";
    std::ofstream(path) << joined(ids) << "\n";

    const test::ToolResult r =
        test::run_tool("perplexity -m '" + tiny_model() + "' --ids-file '" + path + "' -c 16 -t 2");
    ASSERT_EQ(r.status, 0) << r.err;

    // llama-perplexity's method, over whole-chunk Context logits.
    const std::shared_ptr<const Model> model = Model::load(tiny_model());
    ContextOptions options;
    options.n_ctx = n_ctx;
    options.n_threads = 1;
    Context context(model, options);
    const uint32_t n_vocab = context.n_vocab();
    const uint32_t first = n_ctx / 2;
    double sum = 0.0, sum2 = 0.0;
    int count = 0;
    std::vector<double> running;
    for (size_t c = 0; c < 2; ++c) {
        std::vector<int32_t> chunk(ids.begin() + static_cast<std::ptrdiff_t>(c * n_ctx),
                                   ids.begin() + static_cast<std::ptrdiff_t>((c + 1) * n_ctx));
        chunk[0] = kTinyBos;
        context.reset();
        const std::span<const float> logits = context.decode(chunk, Logits::All);
        for (uint32_t j = first; j + 1 < n_ctx; ++j) {
            const double v = nll(logits.subspan(size_t{j} * n_vocab, n_vocab), chunk[j + 1]);
            sum += v;
            sum2 += v * v;
            ++count;
        }
        running.push_back(std::exp(sum / count));
    }
    ASSERT_EQ(count, 14);
    const double mean = sum / count;
    const double ppl = std::exp(mean);
    const double error = std::sqrt((sum2 / count - mean * mean) / (count - 1)) * ppl;

    double tool_first = 0, tool_second = 0, tool_ppl = 0, tool_error = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str(), "[1]%lf,[2]%lf,", &tool_first, &tool_second), 2) << r.out;
    const size_t final_at = r.out.find("Final estimate: PPL = ");
    ASSERT_NE(final_at, std::string::npos) << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + final_at, "Final estimate: PPL = %lf +/- %lf", &tool_ppl,
                          &tool_error),
              2)
        << r.out;
    EXPECT_TRUE(std::isfinite(tool_ppl));
    // Printed to 4 and 5 decimals; the tool runs the halves as two passes, the test as one.
    EXPECT_NEAR(tool_first, running[0], 1e-3 * running[0]) << r.out;
    EXPECT_NEAR(tool_second, running[1], 1e-3 * running[1]) << r.out;
    EXPECT_NEAR(tool_ppl, ppl, 1e-3 * ppl) << r.out;
    EXPECT_NEAR(tool_error, error, 1e-3 * error + 1e-5) << r.out;
    EXPECT_EQ(r.out.find("[3]"), std::string::npos) << "the partial chunk is not scored";
}

TEST(ToolPerplexity, RefusesShortInputs) {
    const std::string path = test::temp_dir() + "/short.txt";
    std::ofstream(path) << "1 5 6 7 8 9 10\n";
    const std::string model = " -m '" + tiny_model() + "'";
    const test::ToolResult shorter =
        test::run_tool("perplexity" + model + " --ids-file '" + path + "' -c 8");
    EXPECT_EQ(shorter.status, 1);
    EXPECT_EQ(count_lines(shorter.err), 1u) << shorter.err;
    EXPECT_NE(shorter.err.find("at least 16 tokens"), std::string::npos) << shorter.err;

    // A text is tokenized; this one is too short for a context of 512.
    const test::ToolResult text = test::run_tool("perplexity" + model + " -f '" + path + "'");
    EXPECT_EQ(text.status, 1);
    EXPECT_EQ(count_lines(text.err), 1u) << text.err;
    EXPECT_NE(text.err.find("at least 1024 tokens"), std::string::npos) << text.err;

    std::ofstream(path) << "1 2 three\n";
    const test::ToolResult junk =
        test::run_tool("perplexity" + model + " --ids-file '" + path + "'");
    EXPECT_EQ(junk.status, 1);
    EXPECT_NE(junk.err.find("'three' is not a token id"), std::string::npos) << junk.err;
}

TEST(ToolBench, JsonHasTheKeysAndTheTableHasTheRows) {
    const std::string base = "bench -m '" + tiny_model() + "' -p 16 -n 4 -r 2 -t 1";
    const test::ToolResult r = test::run_tool(base + " --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto json = nlohmann::json::parse(r.out);
    for (const char* key :
         {"model", "backend", "threads", "pp_tokens_per_second", "tg_tokens_per_second"}) {
        EXPECT_TRUE(json.contains(key)) << key << " missing in " << r.out;
    }
    EXPECT_EQ(json["backend"], "CPU");
    EXPECT_EQ(json["threads"], 1);
    EXPECT_EQ(json["model"], "llama F32");
    EXPECT_GT(json["pp_tokens_per_second"].get<double>(), 0.0);
    EXPECT_GT(json["tg_tokens_per_second"].get<double>(), 0.0);
    ASSERT_EQ(json["tests"].size(), 2u);
    EXPECT_EQ(json["tests"][0]["test"], "pp16");
    EXPECT_EQ(json["tests"][0]["samples_ns"].size(), 2u);
    EXPECT_EQ(json["tests"][1]["test"], "tg4");

    const test::ToolResult table = test::run_tool(base);
    ASSERT_EQ(table.status, 0) << table.err;
    EXPECT_EQ(count_lines(table.out), 4u) << table.out;
    EXPECT_NE(table.out.find("| model"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("pp16"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("tg4"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find(" ± "), std::string::npos) << table.out;

    // Only the tests asked for; a missing one is null.
    const auto only_tg = nlohmann::json::parse(test::run_tool(base + " -p 0 --json").out);
    EXPECT_TRUE(only_tg["pp_tokens_per_second"].is_null());
    EXPECT_EQ(only_tg["tests"].size(), 1u);
}

TEST(ToolRun, DefaultModelGenerates) {
    const auto path = find_default_model();
    if (!path) GTEST_SKIP() << "the default model is not downloaded (scripts/setup.sh fetches it)";
    const test::ToolResult r =
        test::run_tool("run --prompt-ids '2 818 5279 529' -n 4 --temp 0 -c 64 --print-ids");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_LE(parse_ids(r.out).size(), 4u) << r.out;
    EXPECT_GE(parse_ids(r.out).size(), 1u) << r.out;
}

}  // namespace
}  // namespace tessera

// The commands' speculative decoding end to end:
//   - `tessera chat --spec ngram`, piped, writes the transcript the same chat writes without
//     --spec (greedy, on the real default model: skipped, saying why, when it is absent), and
//     with --verbose a statistics line after each reply;
//   - `tessera bench --spec` on the tiny fixture: the JSON has its fields, the two outputs are
//     identical, the speed-up is a positive number, and the table has both rows;
//   - `tessera run --spec medusa --draft-tree 3,2 --temp 0` prints the ids plain greedy `tessera
//     run` prints, on a synthetic model with Medusa heads, and --draft-tree with a drafter of
//     chains or with bad widths is refused before anything loads.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/default_model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string tiny_model() {
    return test::source_dir() + "/tests/fixtures/tiny/llama.gguf";
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(ToolChatSpeculative, NgramTranscriptEqualsPlainAndVerbosePrintsStats) {
    const auto path = find_default_model();
    if (!path) GTEST_SKIP() << "the default model is not downloaded (scripts/setup.sh fetches it)";
    const std::string input = test::temp_dir() + "/messages.txt";
    std::ofstream(input) << "Repeat exactly: def add(a, b): return a + b\n"
                            "Say it again, word for word.\n"
                            "Count from 1 to 20.\n";
    const std::string base = "chat --temp 0 -t 2 -n 32 -c 512 --no-history";
    const test::ToolResult plain = test::run_tool(base + " < '" + input + "'");
    ASSERT_EQ(plain.status, 0) << plain.err;
    const test::ToolResult speculative =
        test::run_tool(base + " --spec ngram --verbose < '" + input + "'");
    ASSERT_EQ(speculative.status, 0) << speculative.err;
    EXPECT_EQ(count_of(plain.out, "\n"), 3u) << plain.out;
    EXPECT_EQ(speculative.out, plain.out);
    EXPECT_EQ(count_of(speculative.err, "tessera chat: speculation: "), 3u) << speculative.err;
    EXPECT_EQ(count_of(speculative.err, "tessera chat: acceptance by draft position:"), 3u)
        << speculative.err;
    EXPECT_EQ(count_of(plain.err, "speculation"), 0u) << plain.err;
}

TEST(ToolRunSpeculative, MedusaTreeGreedyPrintsThePlainGreedyIds) {
    const std::string base = "run -m '" + test::source_dir() +
                             "/tests/fixtures/speculative/qwen2.gguf' --prompt-ids '5 42 79 116 "
                             "153 190 227 8 45 82' -n 24 --temp 0 --ignore-eos -c 128 -t 2";
    const test::ToolResult plain = test::run_tool(base);
    ASSERT_EQ(plain.status, 0) << plain.err;
    const test::ToolResult tree = test::run_tool(base + " --spec medusa --draft-tree 3,2 -v");
    ASSERT_EQ(tree.status, 0) << tree.err;
    EXPECT_EQ(tree.out, plain.out);
    EXPECT_EQ(std::count(plain.out.begin(), plain.out.end(), ' '), 23) << plain.out;
    EXPECT_NE(tree.err.find("draft trees:"), std::string::npos) << tree.err;
    EXPECT_NE(tree.err.find("acceptance by draft tree depth:"), std::string::npos) << tree.err;
}

TEST(ToolRunSpeculative, DraftTreeWithoutMedusaOrWithBadWidthsIsRefused) {
    for (const std::string spec : {"ngram", "draft --draft-model x.gguf", "mtp"}) {
        const test::ToolResult r =
            test::run_tool("run -m /nonexistent.gguf -p hi --spec " + spec + " --draft-tree 3,2");
        EXPECT_EQ(r.status, 2) << spec;
        EXPECT_NE(r.err.find("--draft-tree needs --spec medusa"), std::string::npos)
            << spec << ": " << r.err;
    }
    const test::ToolResult zero =
        test::run_tool("chat -m /nonexistent.gguf --spec medusa --draft-tree 3,0");
    EXPECT_EQ(zero.status, 2);
    EXPECT_NE(zero.err.find("--draft-tree"), std::string::npos) << zero.err;
}

TEST(ToolRunSpeculative, TypicalAcceptanceIsForSampledSpeculationOnly) {
    const std::string model = test::source_dir() + "/tests/fixtures/speculative/qwen2.gguf";
    const test::ToolResult runs = test::run_tool("run -m '" + model +
                                                 "' --prompt-ids '5 42 79 116' -n 12 --temp 0.8 "
                                                 "--spec medusa --typical-acceptance --print-ids");
    EXPECT_EQ(runs.status, 0) << runs.err;
    const test::ToolResult plain =
        test::run_tool("run -m '" + model + "' --prompt-ids '5 42' -n 4 --typical-acceptance");
    EXPECT_EQ(plain.status, 2);
    EXPECT_NE(plain.err.find("--typical-acceptance is for speculative decoding"), std::string::npos)
        << plain.err;
    const test::ToolResult bench =
        test::run_tool("bench -m '" + model + "' -n 4 --spec ngram --typical-acceptance");
    EXPECT_EQ(bench.status, 2);
    EXPECT_NE(bench.err.find("decodes greedily"), std::string::npos) << bench.err;
}

TEST(ToolChatSpeculative, BadSpecFlagsFailBeforeLoading) {
    const test::ToolResult r = test::run_tool("chat -m /nonexistent.gguf --spec draft");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--spec draft needs --draft-model"), std::string::npos) << r.err;
}

TEST(ToolBenchSpeculative, JsonReportsBothSpeedsTheSpeedupAndIdenticalOutput) {
    const std::string base = "bench -m '" + tiny_model() + "' -n 24 -r 2 -t 1 --json";
    for (const std::string& flags :
         {std::string("--spec ngram"),
          "--spec draft --draft-model '" + tiny_model() + "' --draft-max 4"}) {
        SCOPED_TRACE(flags);
        const test::ToolResult r = test::run_tool(base + " " + flags);
        ASSERT_EQ(r.status, 0) << r.err;
        const auto json = nlohmann::json::parse(r.out);
        for (const char* key :
             {"spec", "draft_max", "n_prompt", "n_gen", "plain_tokens_per_second",
              "speculative_tokens_per_second", "speedup", "identical", "drafted", "accepted",
              "acceptance_rate", "acceptance_by_position", "tokens_per_target_pass"}) {
            EXPECT_TRUE(json.contains(key)) << key << " missing in " << r.out;
        }
        EXPECT_TRUE(json["identical"].get<bool>());
        EXPECT_EQ(json["n_gen"], 24);
        EXPECT_GT(json["speedup"].get<double>(), 0.0);
        EXPECT_GT(json["plain_tokens_per_second"].get<double>(), 0.0);
        EXPECT_GT(json["speculative_tokens_per_second"].get<double>(), 0.0);
        EXPECT_GE(json["tokens_per_target_pass"].get<double>(), 1.0);
        EXPECT_EQ(json["plain_samples_ns"].size(), 2u);
        EXPECT_EQ(json["speculative_samples_ns"].size(), 2u);
    }
    // The model as its own draft: every draft is accepted, at every position.
    const auto self = nlohmann::json::parse(
        test::run_tool(base + " --spec draft --draft-model '" + tiny_model() + "' --draft-max 4")
            .out);
    EXPECT_EQ(self["spec"], "draft");
    EXPECT_EQ(self["draft_max"], 4);
    EXPECT_GT(self["drafted"].get<int>(), 0);
    EXPECT_EQ(self["accepted"], self["drafted"]);
    ASSERT_EQ(self["acceptance_by_position"].size(), 4u);
    for (const auto& rate : self["acceptance_by_position"]) EXPECT_EQ(rate.get<double>(), 1.0);
}

TEST(ToolBenchSpeculative, TableHasPlainAndSpeculativeRowsAndTheSummary) {
    const std::string prompt = test::temp_dir() + "/prompt.txt";
    std::ofstream(prompt) << "one two three four one two three four one two three";
    const test::ToolResult r = test::run_tool("bench -m '" + tiny_model() +
                                              "' -n 16 -r 1 -t 1 --spec ngram -f '" + prompt + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("| model"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("|            tg16 |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tg16 ngram"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("speed-up "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("acceptance by draft position:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("output: identical to plain greedy decoding"), std::string::npos) << r.out;

    const test::ToolResult stray =
        test::run_tool("bench -m '" + tiny_model() + "' -f '" + prompt + "'");
    EXPECT_EQ(stray.status, 2);
    EXPECT_NE(stray.err.find("-f is for --spec"), std::string::npos) << stray.err;
}

}  // namespace
}  // namespace tessera

// `tessera tokenize` end to end on the shared vocabulary-only files: --ids reproduces llama.cpp's
// conformance line, the default listing prints each id and piece as llama-tokenize does, and a
// missing file or text gives one line and a non-zero status.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/test_paths.h"

namespace tessera {
namespace {

std::string vocab(const std::string& name) {
    const std::string path = test::testdata_dir() + "/vocab/ggml-vocab-" + name + ".gguf";
    return "'" + path + "'";
}

std::string write_text(const std::string& text) {
    const std::string path = test::temp_dir() + "/text.txt";
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

// Conformance lines 12 ("Hello world", llama-spm) and 13 (" Hello world", gpt-2), without the
// leading space of the .out files.
TEST(TokenizerTool, IdsReproduceTheConformanceLine) {
    test::ToolResult r =
        test::run_tool("tokenize -m " + vocab("llama-spm") + " -p 'Hello world' --ids --no-bos");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "15043 3186\n");
    r = test::run_tool("tokenize -m " + vocab("gpt-2") + " -f '" + write_text(" Hello world") +
                       "' --ids --no-bos");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "18435 995\n");
}

TEST(TokenizerTool, ListingShowsIdsAndPieces) {
    const test::ToolResult r =
        test::run_tool("tokenize -m " + vocab("llama-spm") + " -p 'Hello world'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n");
}

TEST(TokenizerTool, SpecialParsesControlTokenText) {
    test::ToolResult r =
        test::run_tool("tokenize -m " + vocab("llama-spm") + " -p 'a</s>' --ids --no-bos");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "263 829 29879 29958\n");
    r = test::run_tool("tokenize -m " + vocab("llama-spm") +
                       " -p 'a</s>' --ids --no-bos --special");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "263 2\n");
}

TEST(TokenizerTool, ErrorsGiveOneLineAndAStatus) {
    test::ToolResult r = test::run_tool("tokenize -m /no/such/file.gguf -p hi");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/no/such/file.gguf"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    r = test::run_tool("tokenize -m " + vocab("llama-spm") + " -f /no/such/text.txt");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/no/such/text.txt"), std::string::npos) << r.err;
    r = test::run_tool("tokenize -m " + vocab("llama-spm"));
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no text"), std::string::npos) << r.err;
    r = test::run_tool("tokenize -m " + vocab("llama-spm") + " -p a --bogus");
    EXPECT_EQ(r.status, 2);
}

}  // namespace
}  // namespace tessera

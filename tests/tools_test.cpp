// The `tessera` command end to end: inspect, verify and digest on every shared test file and on
// the real default model, and one-line errors with the right exit status on bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "formats/gguf/file.h"
#include "runtime/default_model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> shared_gguf_files() {
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(test::testdata_dir())) {
        if (entry.path().extension() == ".gguf") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::string quoted(const std::string& path) {
    return "'" + path + "'";
}

TEST(ToolInspect, JsonMatchesTheReaderOnEverySharedFile) {
    const auto files = shared_gguf_files();
    ASSERT_GE(files.size(), 16u) << "expected the shared vocab and quant files";
    for (const std::string& path : files) {
        const test::ToolResult r = test::run_tool("inspect --json " + quoted(path));
        ASSERT_EQ(r.status, 0) << path << ": " << r.err;
        const auto json = nlohmann::json::parse(r.out);
        const gguf::File file = gguf::File::open(path);
        EXPECT_EQ(json["tensors"].size(), file.tensors().size()) << path;
        EXPECT_EQ(json["metadata"].size(), file.metadata().size()) << path;
        uint64_t params = 0;
        for (const auto& t : file.tensors()) params += t.n_elements;
        EXPECT_EQ(json["total_parameters"].get<uint64_t>(), params) << path;
    }
}

TEST(ToolInspect, ReportNamesArchitectureTokenizerAndMix) {
    const std::string path = test::testdata_dir() + "/quant/q4_k.gguf";
    const test::ToolResult r = test::run_tool("inspect " + quoted(path));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("architecture:  llama"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("quantization mix:"), std::string::npos);
    EXPECT_NE(r.out.find("q4_K"), std::string::npos);
    const test::ToolResult vocab =
        test::run_tool("inspect " + quoted(test::testdata_dir() + "/vocab/ggml-vocab-gpt-2.gguf"));
    ASSERT_EQ(vocab.status, 0) << vocab.err;
    EXPECT_NE(vocab.out.find("pre-tokenizer"), std::string::npos) << vocab.out;
    EXPECT_NE(vocab.out.find("merges"), std::string::npos);
}

TEST(ToolVerify, EverySharedFileIsSound) {
    for (const std::string& path : shared_gguf_files()) {
        const test::ToolResult r = test::run_tool("verify " + quoted(path));
        EXPECT_EQ(r.status, 0) << path << ": " << r.out << r.err;
        EXPECT_NE(r.out.find("structure ok"), std::string::npos) << r.out;
    }
}

TEST(ToolDigest, CopyCarriesDigestsAndVerifyNamesACorruptTensor) {
    const std::string source = test::testdata_dir() + "/quant/q8_0.gguf";
    const std::string copy = test::temp_dir() + "/with-digests.gguf";
    test::ToolResult r = test::run_tool("digest " + quoted(source) + " -o " + quoted(copy));
    ASSERT_EQ(r.status, 0) << r.err;
    r = test::run_tool("verify " + quoted(copy));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("digests ok"), std::string::npos) << r.out;

    // Flip one byte inside the last tensor's data.
    const gguf::File file = gguf::File::open(copy);
    const gguf::TensorInfo& victim = file.tensors().back();
    const uint64_t at = file.data_offset() + victim.offset + victim.n_bytes / 2;
    {
        std::fstream stream(copy, std::ios::in | std::ios::out | std::ios::binary);
        stream.seekg(static_cast<std::streamoff>(at));
        char byte = 0;
        stream.read(&byte, 1);
        byte = static_cast<char>(byte ^ 0x01);
        stream.seekp(static_cast<std::streamoff>(at));
        stream.write(&byte, 1);
    }
    r = test::run_tool("verify " + quoted(copy));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("tensor '" + victim.name + "' does not match"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("all tensor data does not match"), std::string::npos) << r.out;
    // Only that tensor is named.
    size_t named = 0;
    for (size_t p = r.out.find("does not match its digest"); p != std::string::npos;
         p = r.out.find("does not match its digest", p + 1)) {
        ++named;
    }
    EXPECT_EQ(named, 1u) << r.out;
}

TEST(ToolErrors, BadInputGivesOneLineAndNonZeroStatus) {
    const std::string dir = test::temp_dir();
    { std::ofstream(dir + "/not.gguf") << "this is not a gguf file"; }
    const std::string truncated = dir + "/truncated.gguf";
    fs::copy_file(test::testdata_dir() + "/quant/q4_0.gguf", truncated);
    fs::resize_file(truncated, 100);

    struct Case {
        std::string arguments;
        int status;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"inspect " + dir + "/missing.gguf", 1, "cannot open"},
        {"inspect " + dir + "/not.gguf", 1, "not a GGUF file"},
        {"verify " + truncated, 1, "truncated"},
        {"inspect --no-such-flag x", 2, "unknown option"},
        {"no-such-command", 2, "unknown command"},
        {"digest", 2, "missing FILE"},
    };
    for (const Case& c : cases) {
        const test::ToolResult r = test::run_tool(c.arguments);
        EXPECT_EQ(r.status, c.status) << c.arguments << ": " << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.arguments << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.arguments << ": " << r.err;
    }
}

TEST(ToolHelp, EveryCommandHasHelp) {
    for (const char* command : {"inspect", "verify", "digest", "quantize"}) {
        const test::ToolResult r = test::run_tool(std::string(command) + " --help");
        EXPECT_EQ(r.status, 0) << command;
        EXPECT_NE(r.out.find("usage: tessera " + std::string(command)), std::string::npos) << r.out;
    }
}

// The real default model, Gemma 3 270M Q4_K_M, fetched by scripts/setup.sh.
TEST(ToolDefaultModel, InspectAndVerifyTheRealGemmaFile) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    test::ToolResult r = test::run_tool("inspect --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto json = nlohmann::json::parse(r.out);
    EXPECT_EQ(json["architecture"], "gemma3");
    EXPECT_EQ(json["tensors"].size(), 236u);
    EXPECT_EQ(json["total_parameters"].get<uint64_t>(), 268098176u);
    EXPECT_EQ(json["metadata"]["tokenizer.ggml.tokens"]["length"].get<uint64_t>(), 262144u);

    r = test::run_tool("verify");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("values ok in 236 tensors"), std::string::npos) << r.out;
}

// `tessera devices`: every device of list_devices(), with its index within its backend (the
// one --device takes), in the same order; the table names them too.
TEST(ToolDevices, ListsEveryDeviceWithItsBackendIndex) {
    test::ToolResult r = test::run_tool("devices --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto json = nlohmann::json::parse(r.out);
    const auto devices = backend::list_devices();
    ASSERT_EQ(json.size(), devices.size());
    std::map<std::string, int> next_index;
    for (size_t i = 0; i < devices.size(); ++i) {
        EXPECT_EQ(json[i]["backend"], devices[i].backend);
        EXPECT_EQ(json[i]["name"], devices[i].name);
        EXPECT_EQ(json[i]["index"].get<int>(), next_index[devices[i].backend]++);
        EXPECT_EQ(json[i]["memory_bytes"].get<uint64_t>(), devices[i].memory_bytes);
    }
    EXPECT_EQ(next_index["cpu"], 1) << "the CPU is always a device";

    r = test::run_tool("devices");
    ASSERT_EQ(r.status, 0) << r.err;
    for (const auto& device : devices) {
        EXPECT_NE(r.out.find(device.name), std::string::npos) << r.out;
    }
}

}  // namespace
}  // namespace tessera

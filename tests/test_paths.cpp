#include "tests/test_paths.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

namespace tessera::test {

namespace {
std::string from_env(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

struct TempRoot {
    std::string path;
    TempRoot() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "tessera-test-XXXXXX").string();
        if (mkdtemp(pattern.data()) != nullptr) path = pattern;
    }
    ~TempRoot() {
        std::error_code ignored;
        if (!path.empty()) std::filesystem::remove_all(path, ignored);
    }
};
}  // namespace

std::string source_dir() {
    return TESSERA_SOURCE_DIR;
}
std::string testdata_dir() {
    return from_env("TESSERA_TESTDATA", TESSERA_TESTDATA_DIR);
}
std::string python() {
    return from_env("TESSERA_PYTHON", TESSERA_PYTHON);
}
std::string tool() {
    return from_env("TESSERA_TOOL", TESSERA_TOOL);
}

std::string temp_dir() {
    static TempRoot root;
    static std::mutex mutex;
    static int counter = 0;
    std::lock_guard lock(mutex);
    auto dir = std::filesystem::path(root.path) / std::to_string(counter++);
    std::filesystem::create_directories(dir);
    return dir.string();
}

int run(const std::string& command, std::string* output) {
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
        if (output != nullptr) output->append(buffer, got);
    }
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ToolResult run_tool(const std::string& arguments) {
    const std::string err_path = temp_dir() + "/stderr";
    ToolResult result;
    result.status = run(tool() + " " + arguments + " 2>" + err_path, &result.out);
    std::ifstream err(err_path);
    result.err.assign(std::istreambuf_iterator<char>(err), {});
    return result;
}

}  // namespace tessera::test

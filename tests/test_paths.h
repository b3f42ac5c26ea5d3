// Where tests find the shared test data, the Python reference environment and the tool.
#pragma once

#include <string>

namespace tessera::test {

std::string source_dir();
std::string testdata_dir();  // ../shared/testdata
std::string python();        // the setup script's virtual environment
std::string tool();          // the built `tessera` command
// A fresh, empty folder for this test's files, removed at exit.
std::string temp_dir();
// Runs a shell command and returns its exit status; its stdout goes to `output` if given.
int run(const std::string& command, std::string* output = nullptr);

// What a run of the `tessera` command gave: its exit status, stdout and stderr.
struct ToolResult {
    int status = -1;
    std::string out;
    std::string err;
};
// Runs `tessera ARGUMENTS` (a shell-quoted argument string) with stdout and stderr kept apart.
ToolResult run_tool(const std::string& arguments);

}  // namespace tessera::test

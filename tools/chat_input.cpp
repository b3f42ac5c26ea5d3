#include "tools/chat_input.h"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace tessera::tools {

namespace {
constexpr int kHistoryEntries = 1000;
constexpr const char* kBlockMarker = "\"\"\"";
}  // namespace

std::string default_chat_history_path() {
    std::filesystem::path dir;
    if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state != '\0') {
        dir = state;
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        dir = std::filesystem::path(home) / ".local" / "state";
    } else {
        return {};
    }
    return (dir / "tessera" / "chat_history").string();
}

ChatInput::ChatInput(bool terminal, std::string history_path, std::function<bool()> take_interrupt)
    : terminal_(terminal),
      history_path_(terminal ? std::move(history_path) : std::string()),
      take_interrupt_(std::move(take_interrupt)) {
    if (!terminal_) return;
    using_history();
    stifle_history(kHistoryEntries);
    if (!history_path_.empty()) {
        std::error_code ignored;
        std::filesystem::create_directories(std::filesystem::path(history_path_).parent_path(),
                                            ignored);
        read_history(history_path_.c_str());
    }
}

ChatInput::~ChatInput() {
    if (terminal_ && !history_path_.empty()) write_history(history_path_.c_str());
}

std::optional<std::string> ChatInput::read_line(const char* prompt) {
    if (!terminal_) {
        std::string line;
        if (!std::getline(std::cin, line)) return std::nullopt;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    char* raw = nullptr;
    for (;;) {
        raw = readline(prompt);
        if (raw != nullptr || !take_interrupt_ || !take_interrupt_()) break;
        // Ctrl-C: the line typed so far is dropped, as in a shell.
        std::fputs("\n", stdout);
        std::fflush(stdout);
    }
    if (raw == nullptr) return std::nullopt;
    std::string line(raw);
    std::free(raw);
    return line;
}

std::optional<std::string> ChatInput::next() {
    for (;;) {
        std::optional<std::string> line = read_line("> ");
        if (!line) return std::nullopt;
        std::string message;
        if (*line == kBlockMarker) {
            // A block: every line up to the closing marker, newlines kept.
            bool first = true;
            for (;;) {
                std::optional<std::string> more = read_line("");
                if (!more || *more == kBlockMarker) break;
                if (!first) message += '\n';
                message += *more;
                first = false;
            }
        } else {
            message = *line;
            // A trailing backslash continues the message on the next line.
            while (!message.empty() && message.back() == '\\') {
                message.back() = '\n';
                std::optional<std::string> more = read_line("... ");
                if (!more) break;
                message += *more;
            }
        }
        if (message.find_first_not_of(" \t\n") == std::string::npos) continue;
        if (terminal_) add_history(message.c_str());
        return message;
    }
}

}  // namespace tessera::tools

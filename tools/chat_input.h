// Where `tessera chat` reads the user's messages from. On a terminal: a line editor (libedit)
// with a history file, where a line ending in a backslash continues on the next one and a line
// of three double quotes opens (and closes) a block of several lines. Otherwise (a pipe, a file):
// each line is one message.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace tessera::tools {

class ChatInput {
  public:
    // `history_path` empty: no history file. Reads the history when the file exists.
    // `take_interrupt` says (and forgets) whether Ctrl-C was pressed: the line editor then gives
    // up the line being typed, and a fresh prompt follows.
    ChatInput(bool terminal, std::string history_path, std::function<bool()> take_interrupt);
    ~ChatInput();
    ChatInput(const ChatInput&) = delete;
    ChatInput& operator=(const ChatInput&) = delete;

    // The next message, or nothing at the end of input (Ctrl-D). Blank lines are skipped.
    std::optional<std::string> next();
    bool terminal() const { return terminal_; }

  private:
    std::optional<std::string> read_line(const char* prompt);

    bool terminal_;
    std::string history_path_;
    std::function<bool()> take_interrupt_;
};

// $XDG_STATE_HOME/tessera/chat_history, else ~/.local/state/tessera/chat_history; empty when
// neither variable is set.
std::string default_chat_history_path();

}  // namespace tessera::tools

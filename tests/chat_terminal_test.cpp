// `tessera chat` end to end on the real default model: through a pseudo-terminal as a person
// types (a question, a streamed reply, Ctrl-C during a long reply, /quit), and through a pipe as
// a script feeds it.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/default_model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

// A child process on the slave side of a pseudo-terminal, driven from the master side.
class Terminal {
  public:
    explicit Terminal(const std::vector<std::string>& argv) {
        struct winsize size = {};
        size.ws_row = 40;
        size.ws_col = 120;
        pid_ = forkpty(&master_, nullptr, nullptr, &size);
        if (pid_ == 0) {
            std::vector<char*> args;
            for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
    }
    ~Terminal() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (master_ >= 0) close(master_);
    }
    bool started() const { return pid_ > 0 && master_ >= 0; }

    void type(const std::string& text) {
        size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = write(master_, text.data() + done, text.size() - done);
            if (n <= 0) return;
            done += static_cast<size_t>(n);
        }
    }

    // Reads until `pattern` appears after `from` in everything read so far; false on timeout or
    // when the child closes the terminal.
    bool wait_for(const std::string& pattern, size_t from, std::chrono::seconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (output_.find(pattern, from) == std::string::npos) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return false;
            if (!read_some(static_cast<int>(left.count()))) return false;
        }
        return true;
    }
    // Reads whatever comes within `ms`. After a prompt appears, the line editor switches the
    // terminal's mode, which discards input typed before it; a person never types that fast.
    void drain(int ms) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
        while (Clock::now() < deadline) {
            if (!read_some(50)) break;
        }
    }
    // The exit status, waiting up to `timeout`; nothing when it is still running.
    std::optional<int> wait_exit(std::chrono::seconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            read_some(50);
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
        }
        return std::nullopt;
    }
    const std::string& output() const { return output_; }

  private:
    bool read_some(int timeout_ms) {
        struct pollfd fd = {master_, POLLIN, 0};
        if (poll(&fd, 1, timeout_ms) <= 0) return true;  // nothing yet
        char buffer[4096];
        const ssize_t n = read(master_, buffer, sizeof buffer);
        if (n <= 0) return false;  // the child closed the terminal
        output_.append(buffer, static_cast<size_t>(n));
        return true;
    }

    int master_ = -1;
    pid_t pid_ = -1;
    bool exited_ = false;
    std::string output_;
};

std::vector<std::string> chat_argv(const std::string& model, std::vector<std::string> extra) {
    std::vector<std::string> argv = {test::tool(), "chat", "-m", model, "--temp",      "0",
                                     "-c",         "2048", "-t", "2",   "--no-history"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

TEST(ChatTerminal, QuestionStreamedReplyCtrlCAndQuit) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    Terminal terminal(chat_argv(*model, {}));
    ASSERT_TRUE(terminal.started());
    ASSERT_TRUE(terminal.wait_for("> ", 0, std::chrono::seconds(60))) << terminal.output();
    terminal.drain(300);

    // A question, and a reply that streams back before the next prompt.
    size_t mark = terminal.output().size();
    terminal.type("What is the capital of France?\r");
    ASSERT_TRUE(terminal.wait_for("\n> ", mark, std::chrono::seconds(120))) << terminal.output();
    terminal.drain(300);
    const std::string first = terminal.output().substr(mark);
    EXPECT_NE(first.find("France"), std::string::npos) << first;

    // A reply that would go on for a long time (greedy, this model counts on for thousands of
    // tokens); once it streams, Ctrl-C stops it and the prompt comes back.
    mark = terminal.output().size();
    terminal.type("Continue this sequence forever: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,\r");
    ASSERT_TRUE(terminal.wait_for(" 14,", mark, std::chrono::seconds(60)))
        << terminal.output().substr(mark);
    terminal.drain(300);
    terminal.type("\x03");
    ASSERT_TRUE(terminal.wait_for("[interrupted]", mark, std::chrono::seconds(30)))
        << terminal.output().substr(mark);
    ASSERT_TRUE(terminal.wait_for("> ", mark, std::chrono::seconds(30)));
    terminal.drain(300);

    // Ctrl-C at the prompt drops the line being typed, as in a shell.
    terminal.type("half a thought");
    terminal.drain(200);
    terminal.type("\x03");
    terminal.drain(300);

    // The conversation was kept: /stats knows of two replies.
    mark = terminal.output().size();
    terminal.type("/stats\r");
    ASSERT_TRUE(terminal.wait_for("2 replies", mark, std::chrono::seconds(30)))
        << terminal.output().substr(mark);
    terminal.drain(300);

    terminal.type("/quit\r");
    const std::optional<int> status = terminal.wait_exit(std::chrono::seconds(30));
    ASSERT_TRUE(status.has_value()) << "chat did not leave after /quit";
    EXPECT_EQ(*status, 0) << terminal.output();
}

TEST(ChatTerminal, CtrlDLeaves) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    Terminal terminal(chat_argv(*model, {}));
    ASSERT_TRUE(terminal.started());
    ASSERT_TRUE(terminal.wait_for("> ", 0, std::chrono::seconds(60))) << terminal.output();
    terminal.drain(300);
    terminal.type("\x04");
    const std::optional<int> status = terminal.wait_exit(std::chrono::seconds(30));
    ASSERT_TRUE(status.has_value()) << "chat did not leave on Ctrl-D";
    EXPECT_EQ(*status, 0);
}

TEST(ChatPipe, TwoTurnsInTwoRepliesOut) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    const std::string dir = test::temp_dir();
    const std::string log = dir + "/stderr.txt";
    std::string output;
    const int status = test::run(
        "printf 'What is the capital of France?\\nAnd of Germany?\\n' | '" + test::tool() +
            "' chat -m '" + *model + "' --temp 0 -n 32 -c 1024 -t 2 --verbose 2>'" + log + "'",
        &output);
    std::ifstream in(log);
    const std::string errors((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(status, 0) << errors;
    // One summary line per reply, and no error.
    size_t summaries = 0;
    for (size_t at = errors.find(" tok/s | prompt"); at != std::string::npos;
         at = errors.find(" tok/s | prompt", at + 1)) {
        ++summaries;
    }
    EXPECT_EQ(summaries, 2u) << errors;
    EXPECT_EQ(errors.find("error"), std::string::npos) << errors;
    EXPECT_FALSE(output.empty());
    // Nothing meant for a person on a terminal goes to a pipe.
    EXPECT_EQ(output.find("> "), std::string::npos) << output;
}

TEST(ChatPipe, ContinuedLinesBlocksAndSavedConversations) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    const std::string dir = test::temp_dir();
    const std::string saved = dir + "/conversation.json";
    // One message over two lines (a trailing backslash), one as a block, then /save.
    const std::string input =
        "What is the capital \\\\\nof France?\n\"\"\"\nWhat is\nthe "
        "capital of Italy?\n\"\"\"\n/save " +
        saved + "\n";
    std::string output;
    const int status =
        test::run("printf '" + input + "' | '" + test::tool() + "' chat -m '" + *model +
                      "' --temp 0 -n 16 -c 1024 -t 2 -s 'Be brief.' " + "2>/dev/null",
                  &output);
    ASSERT_EQ(status, 0) << output;
    std::ifstream in(saved);
    ASSERT_TRUE(in.good()) << "no " << saved;
    const nlohmann::json conversation = nlohmann::json::parse(in);
    ASSERT_EQ(conversation.size(), 5u) << conversation.dump(1);
    EXPECT_EQ(conversation[0]["role"], "system");
    EXPECT_EQ(conversation[0]["content"], "Be brief.");
    EXPECT_EQ(conversation[1]["content"], "What is the capital \nof France?");
    EXPECT_EQ(conversation[2]["role"], "assistant");
    EXPECT_EQ(conversation[3]["content"], "What is\nthe capital of Italy?");

    // /load continues it: the next reply sees four earlier messages.
    std::string again;
    const int loaded = test::run("printf '/load " + saved + "\n/stats\n' | '" + test::tool() +
                                     "' chat -m '" + *model + "' -t 2 2>&1",
                                 &again);
    EXPECT_EQ(loaded, 0) << again;
    EXPECT_NE(again.find("loaded 4 messages"), std::string::npos) << again;
}

TEST(ChatPipe, BadCommandIsAnErrorAndTheStatusSaysSo) {
    const auto model = find_default_model();
    if (!model) GTEST_SKIP() << "the default model is not downloaded (scripts/fetch_model.py)";
    std::string output;
    const int status = test::run(
        "printf '/nonsense\\n' | '" + test::tool() + "' chat -m '" + *model + "' -t 2 2>&1",
        &output);
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find("unknown command '/nonsense'"), std::string::npos) << output;
}

TEST(ChatPipe, NoModelSaysHowToGetOne) {
    const std::string dir = test::temp_dir();
    std::string output;
    const int status = test::run(
        "printf 'hi\\n' | TESSERA_MODEL_DIR='" + dir + "' '" + test::tool() + "' chat 2>&1",
        &output);
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find("scripts/setup.sh"), std::string::npos) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

}  // namespace
}  // namespace tessera
